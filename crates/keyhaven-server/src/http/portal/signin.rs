//! Sign in with a principal's client id and secret (checked exactly as the token endpoint checks them), and Sign
//! out. Before there is a session, the sign-in form's CSRF token lives in a cookie of its own (double submit).

use super::context::{check_csrf, Fields, PortalError, PortalState, Posted};
use super::html::{self, esc};
use super::session::{self, SIGNIN_COOKIE};
use crate::http::audit::Slot;
use crate::http::auth::verify_client;
use crate::token_limits::{Lockout, Refused};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::time::Instant;

fn form(csrf: &str, client_id: &str, error: Option<&str>) -> String {
    let notice = error.map(|e| html::notice(true, e)).unwrap_or_default();
    let body = format!(
        r#"{notice}<p>Sign in with the client ID and client secret of a principal of this deployment (the admin's
are in <code>admin-credential.json</code> in the server's data directory).</p>
<form method="post" action="/portal/signin" class="card stack">
{csrf}
<label for="client-id">Client ID</label>
<input id="client-id" name="client_id" autocomplete="username" required spellcheck="false" value="{client_id}">
<label for="client-secret">Client secret</label>
<input id="client-secret" name="client_secret" type="password" autocomplete="current-password" required>
<button type="submit" class="primary">Sign in</button>
</form>"#,
        csrf = html::csrf_field(csrf),
        client_id = esc(client_id),
    );
    html::page("Sign in", &[], None, &body)
}

fn with_cookie(mut resp: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /portal/signin`.
pub(crate) async fn show(State(st): State<PortalState>, headers: HeaderMap) -> Response {
    if session::cookie(&headers, session::COOKIE)
        .and_then(|t| st.sessions.touch(t, Instant::now()))
        .is_some()
    {
        return Redirect::to("/portal/").into_response();
    }
    let token = match session::random_token() {
        Ok(t) => t,
        Err(e) => return PortalError::from(e).into_response(),
    };
    with_cookie(
        Html(form(&token, "", None)).into_response(),
        &session::set_cookie(SIGNIN_COOKIE, &token, Some(3600)),
    )
}

/// `POST /portal/signin`.
pub(crate) async fn submit(
    State(st): State<PortalState>,
    slot: Option<axum::Extension<Slot>>,
    peer: Option<axum::Extension<crate::http::Peer>>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let mut form_fields = Fields::parse(&body);
    let pre = session::cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if pre.is_empty() || check_csrf(pre, form_fields.get("csrf")).is_err() {
        return PortalError::forbidden(
            "The sign-in form is out of date. Open the sign-in page again.",
        )
        .into_response();
    }
    let client_id = form_fields
        .text("client_id")
        .unwrap_or_default()
        .chars()
        .take(128)
        .collect::<String>();
    let secret = form_fields.take("client_secret").unwrap_or_default();
    if let Some(s) = &slot {
        let c: String = client_id.chars().take(64).collect();
        s.update(|f| {
            f.operation = Some("portal-signin");
            f.client_id = Some(c);
        });
    }
    let failed = |status: StatusCode, message: &str| {
        (status, Html(form(pre, &client_id, Some(message)))).into_response()
    };
    if client_id.is_empty() || secret.is_empty() {
        return failed(
            StatusCode::BAD_REQUEST,
            "Enter the client ID and the client secret.",
        );
    }
    let who = match verify_client(&st.app, &client_id, secret, peer.as_ref().map(|p| &p.0)).await {
        Ok(w) => w,
        Err(Refused::Invalid) => {
            return failed(
                StatusCode::UNAUTHORIZED,
                "Sign-in failed: the client ID or the client secret is wrong, or the secret has expired.",
            )
        }
        Err(Refused::Locked(Lockout::Client { retry_after_secs }))
        | Err(Refused::Locked(Lockout::Source { retry_after_secs })) => {
            return failed(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many failed sign-ins from this address. Try again in {retry_after_secs} seconds."
                ),
            )
        }
        Err(Refused::Busy { retry_after_secs }) => {
            return failed(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("The server is busy checking sign-ins. Try again in {retry_after_secs} seconds."),
            )
        }
        Err(Refused::Failed(e)) => {
            tracing::error!(error = %e, "a portal sign-in could not be checked");
            return failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in could not be checked. Try again.",
            );
        }
    };
    if let Some(s) = &slot {
        s.update(|f| f.object_id = Some(who.object_id.clone()));
    }
    let (token, _) = match st.sessions.create(&who, Instant::now()) {
        Ok(t) => t,
        Err(e) => return PortalError::from(e).into_response(),
    };
    tracing::info!(client_id = %who.client_id, "portal sign-in");
    let resp = Redirect::to("/portal/").into_response();
    let resp = with_cookie(resp, &session::set_cookie(session::COOKIE, &token, None));
    with_cookie(resp, &session::set_cookie(SIGNIN_COOKIE, "", Some(0)))
}

/// `POST /portal/signout`.
pub(crate) async fn sign_out(
    State(st): State<PortalState>,
    headers: HeaderMap,
    _posted: Posted,
) -> Response {
    if let Some(t) = session::cookie(&headers, session::COOKIE) {
        st.sessions.end(t);
    }
    with_cookie(
        Redirect::to("/portal/signin").into_response(),
        &session::set_cookie(session::COOKIE, "", Some(0)),
    )
}
