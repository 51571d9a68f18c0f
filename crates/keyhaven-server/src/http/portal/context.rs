//! What a portal handler gets: [`Signed`] (a live session's principal, resolved afresh on every request so that a
//! removed secret or role takes effect at once, and noted for the request's audit record), [`Posted`] (that, plus
//! a form whose CSRF token was checked) or [`Upload`] (that, for a multipart form with a file). A handler that
//! takes one of them cannot run without a session, nor change anything without the session's CSRF token.

use super::html::{self, Chrome};
use super::session::{self, SessionInfo, Sessions};
use crate::http::audit::{self, Slot};
use crate::http::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyhaven_core::Principal;
use keyhaven_model::VaultName;
use std::sync::Arc;
use std::time::Instant;
use zeroize::Zeroizing;

/// The portal's own state beside the server's.
#[derive(Clone)]
pub(crate) struct PortalState {
    pub app: AppState,
    pub sessions: Arc<Sessions>,
}

/// The most a plain form may send.
const MAX_FORM: usize = 256 * 1024;

/// A page answering with an error: its status and a message for people.
#[derive(Debug)]
pub(crate) struct PortalError {
    pub status: StatusCode,
    pub message: String,
}

impl PortalError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PortalError {
            status,
            message: message.into(),
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        PortalError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        PortalError::new(StatusCode::FORBIDDEN, message)
    }
}

impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        PortalError::new(e.status, e.message)
    }
}

impl From<keyhaven_core::Error> for PortalError {
    fn from(e: keyhaven_core::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl From<keyhaven_model::Invalid> for PortalError {
    fn from(e: keyhaven_model::Invalid) -> Self {
        PortalError::bad(e.0)
    }
}

impl From<keyhaven_crypto::CryptoError> for PortalError {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        keyhaven_core::Error::from(e).into()
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let body = format!(
            r#"{}<p><a href="/portal/">Back to the vaults</a></p>"#,
            html::notice(true, &self.message)
        );
        (
            self.status,
            axum::response::Html(html::page(title, &[], None, &body)),
        )
            .into_response()
    }
}

pub(crate) type PageResult = Result<Response, PortalError>;

/// A signed-in request.
pub(crate) struct Signed {
    pub st: AppState,
    pub who: Principal,
    pub session: SessionInfo,
    /// The request's audit slot, for a vault named later.
    slot: Option<Slot>,
}

impl Signed {
    /// The header's view of the caller (with the Sign out form).
    pub fn chrome(&self) -> Chrome<'_> {
        Chrome {
            client_id: &self.session.client_id,
            csrf: &self.session.csrf,
        }
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// Notes the vault the request acts on, for its audit record.
    pub fn in_vault(&self, vault: &VaultName) {
        audit::note_caller(self.slot.as_ref(), &self.who, Some(vault.as_str()));
    }

    /// A whole page for this caller.
    pub fn page(&self, title: &str, crumbs: &[html::Crumb], body: &str) -> Response {
        axum::response::Html(html::page(title, crumbs, Some(&self.chrome()), body)).into_response()
    }
}

fn signin_redirect() -> Response {
    Redirect::to("/portal/signin").into_response()
}

impl FromRequestParts<PortalState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PortalState,
    ) -> Result<Self, Self::Rejection> {
        let ended = |parts: &Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                signin_redirect()
            } else {
                PortalError::forbidden("Your session has ended. Sign in again.").into_response()
            }
        };
        let Some(info) = session::cookie(&parts.headers, session::COOKIE)
            .and_then(|t| state.sessions.touch(t, Instant::now()))
        else {
            return Err(ended(parts));
        };
        let who = match state.app.kh.caller(&info.object_id, &info.secret_id) {
            Ok(p) => p.fresh(),
            Err(_) => {
                // The principal or the secret it signed in with is gone: so is the session.
                if let Some(t) = session::cookie(&parts.headers, session::COOKIE) {
                    state.sessions.end(t);
                }
                return Err(ended(parts));
            }
        };
        let slot = parts.extensions.get::<Slot>().cloned();
        audit::note_caller(slot.as_ref(), &who, None);
        Ok(Signed {
            st: state.app.clone(),
            who,
            session: info,
            slot,
        })
    }
}

/// Refuses a form posted from another origin (browsers send `Origin` with every form post).
fn same_origin(parts: &Parts) -> Result<(), PortalError> {
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    match (origin.to_str().ok(), host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(&format!("https://{h}")) => Ok(()),
        _ => Err(PortalError::forbidden(
            "The form was sent from another site and was refused.",
        )),
    }
}

/// Checks a posted CSRF token against the session's, in constant time.
pub(crate) fn check_csrf(expected: &str, posted: Option<&str>) -> Result<(), PortalError> {
    match posted {
        Some(p) if keyhaven_crypto::constant_time_eq(p.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(PortalError::forbidden(
            "The form's security token is missing or out of date. Reload the page and try again.",
        )),
    }
}

/// A posted form's fields (values zeroized when dropped: a secret's value passes through here).
pub(crate) struct Fields(Vec<(String, Zeroizing<String>)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or None when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whether a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Moves the value of `name` out (for a secret value).
    pub fn take(&mut self, name: &str) -> Option<Zeroizing<String>> {
        let at = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(at).1)
    }
}

/// A signed-in form post with a valid CSRF token.
pub(crate) struct Posted {
    pub cx: Signed,
    pub form: Fields,
}

impl FromRequest<PortalState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &PortalState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let cx = Signed::from_request_parts(&mut parts, state).await?;
        same_origin(&parts).map_err(IntoResponse::into_response)?;
        let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
            PortalError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
                .into_response()
        })?;
        let form = Fields::parse(&bytes);
        check_csrf(cx.csrf(), form.get("csrf")).map_err(IntoResponse::into_response)?;
        Ok(Posted { cx, form })
    }
}

/// A signed-in multipart form post (a file upload) whose first field, the CSRF token, was checked; the handler
/// reads the rest.
pub(crate) struct Upload {
    pub cx: Signed,
    pub multipart: Multipart,
}

impl FromRequest<PortalState> for Upload {
    type Rejection = Response;

    async fn from_request(req: Request, state: &PortalState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let cx = Signed::from_request_parts(&mut parts, state).await?;
        same_origin(&parts).map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let mut multipart = Multipart::from_request(req, state).await.map_err(|_| {
            PortalError::bad("The form must be sent as multipart/form-data.").into_response()
        })?;
        // A form whose first part cannot be read (a broken or stalled upload) is told apart from one without the
        // token, so the answer says which.
        let unreadable = |e: axum::extract::multipart::MultipartError| {
            unreadable_upload("The upload", &e).into_response()
        };
        let first = match multipart.next_field().await.map_err(unreadable)? {
            Some(f) if f.name() == Some("csrf") => Some(f.text().await.map_err(unreadable)?),
            _ => None,
        };
        check_csrf(cx.csrf(), first.as_deref()).map_err(IntoResponse::into_response)?;
        Ok(Upload { cx, multipart })
    }
}

/// The answer to a multipart form whose `what` ("The upload", "The file"…) could not be read, saying why (the
/// reader's error chain: a stalled or cut-off body, a malformed form — never any of the form's content).
pub(crate) fn unreadable_upload(
    what: &str,
    e: &axum::extract::multipart::MultipartError,
) -> PortalError {
    let mut why = Vec::new();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        why.push(c.to_string());
        cause = c.source();
    }
    let why = if why.is_empty() {
        e.to_string()
    } else {
        why.join(": ")
    };
    tracing::info!(reason = %why, "a portal upload could not be read");
    PortalError::bad(format!("{what} could not be read ({why}). Try again."))
}

/// The security headers of every portal answer: a strict Content-Security-Policy (only this server's own
/// stylesheet and script; no inline code, frames, plugins or outside requests), no sniffing, no referrer to other
/// sites (`same-origin`: under `no-referrer` Chromium sends `Origin: null` with the portal's own forms), no caching
/// of pages.
pub(crate) async fn security_headers(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
