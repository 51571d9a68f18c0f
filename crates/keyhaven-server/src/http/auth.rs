//! Authentication: the bearer check every protected request passes first, and the OAuth2/OpenID endpoints
//! (`/{tenant}/oauth2/v2.0/token`, `/{tenant}/v2.0/.well-known/openid-configuration`, the JWKS).

use super::error::ApiError;
use crate::state::{AppState, Shared};
use crate::token_limits::{Lockout, Refused, Source};
use crate::tokens::TokenError;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use keyhaven_azure_api::identity::{TokenError as TokenErrorBody, TokenResponse};
use keyhaven_core::{Authenticated, Principal};
use serde_json::json;
use zeroize::Zeroizing;

/// The `WWW-Authenticate` challenge that tells clients where to get a token and for which resource.
pub(crate) fn challenge(st: &Shared) -> String {
    format!(
        "Bearer authorization=\"{}/{}\", resource=\"{}\"",
        st.authority,
        st.tokens.tenant(),
        st.resource()
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks the bearer token of a data-plane request (the audience must be the vault resource).
pub(crate) fn authenticate_vault(st: &Shared, headers: &HeaderMap) -> Result<Principal, ApiError> {
    authenticate(st, headers, |aud| st.is_vault_audience(aud))
}

/// Checks the bearer token of a management request (the audience must be this server's management resource).
pub(crate) fn authenticate_management(
    st: &Shared,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    authenticate(st, headers, |aud| st.is_management_audience(aud))
}

fn authenticate(
    st: &Shared,
    headers: &HeaderMap,
    audience_ok: impl Fn(&str) -> bool,
) -> Result<Principal, ApiError> {
    let Some(token) = bearer(headers) else {
        return Err(ApiError::unauthorized(
            "AKV10000: Request is missing a Bearer or PoP token.",
            challenge(st),
        ));
    };
    let id = st.tokens.validate(token, audience_ok).map_err(|e| {
        let msg = match e {
            TokenError::Invalid => "AKV10000: The access token is invalid: its signature, issuer or format is not valid.",
            TokenError::Expired => "AKV10022: The access token has expired.",
            TokenError::NotYetValid => "AKV10000: The access token is not valid yet.",
            TokenError::WrongAudience => "AKV10022: The access token was issued for another audience (resource).",
        };
        ApiError::unauthorized(msg, challenge(st))
    })?;
    // The principal as it is now: deleted principals and removed secrets revoke their tokens.
    st.kh
        .caller(&id.object_id, &id.secret_id)
        .map_err(|e| match e {
            keyhaven_core::Error::Unauthorized(m) => {
                ApiError::unauthorized(format!("AKV10000: {m}"), challenge(st))
            }
            other => ApiError::from(other),
        })
}

/// Checks a client's id and secret from `peer`, under the token endpoint's protections (lockouts, the cache of
/// verified credentials, bounded secret checks): the one place both the token endpoint and the portal's sign-in
/// pass, so that the same limits apply to both.
pub(crate) async fn verify_client(
    st: &AppState,
    client_id: &str,
    secret: Zeroizing<String>,
    peer: Option<&super::Peer>,
) -> Result<Authenticated, Refused> {
    let source = Source::of(peer.map(|p| p.0.ip()));
    st.tokens
        .limits()
        .authenticate(&st.kh, client_id.to_string(), secret, source)
        .await
}

fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    let description = description.into();
    let code = description
        .strip_prefix("AADSTS")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok());
    (
        status,
        Json(TokenErrorBody {
            error: error.into(),
            error_description: description,
            error_codes: code.into_iter().collect(),
        }),
    )
        .into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant.
pub(crate) async fn token(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    slot: Option<axum::Extension<super::audit::Slot>>,
    peer: Option<axum::Extension<super::Peer>>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let slot = slot.map(|s| s.0);
    if let Some(s) = &slot {
        s.update(|f| f.operation = Some("token"));
    }
    if tenant != st.tokens.tenant() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "AADSTS90002: Tenant '{}' not found.",
                tenant.chars().take(64).collect::<String>()
            ),
        );
    }
    let mut grant = None;
    let mut client_id = None;
    let mut secret = None;
    let mut scope = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match &*k {
            "grant_type" => grant = Some(v.into_owned()),
            "client_id" => client_id = Some(v.into_owned()),
            "client_secret" => secret = Some(Zeroizing::new(v.into_owned())),
            "scope" => scope = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some((id, s)) = basic_credentials(&headers) {
        client_id.get_or_insert(id);
        secret.get_or_insert(s);
    }
    if grant.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: Only the client_credentials grant is supported.",
        );
    }
    if let (Some(s), Some(c)) = (&slot, &client_id) {
        let c: String = c.chars().take(64).collect();
        s.update(|f| f.client_id = Some(c));
    }
    let (Some(client_id), Some(secret)) = (client_id, secret) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request must contain client_id and client_secret.",
        );
    };
    let Some(audience) = scope
        .as_deref()
        .and_then(|s| s.split_whitespace().find(|s| s.ends_with("/.default")))
        .map(|s| s.trim_end_matches("/.default").to_string())
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The scope must name a resource ending in '/.default'.",
        );
    };
    // Tokens only for this deployment: its vaults, or its management.
    if !st.is_vault_audience(&audience) && !st.is_management_audience(&audience) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "AADSTS500011: The resource '{}' is not served by this Keyhaven: ask for its vaults \
                 (https://{}) or its management resource ({}).",
                audience.chars().take(100).collect::<String>(),
                st.vault_host_suffix(),
                st.authority
            ),
        );
    }
    let who = match verify_client(&st, &client_id, secret, peer.as_ref().map(|p| &p.0)).await {
        Ok(p) => p,
        Err(refused) => return refusal(refused, &client_id),
    };
    if let Some(s) = &slot {
        s.update(|f| f.object_id = Some(who.object_id.clone()));
    }
    let issuer = format!("{}/{}/v2.0", origin(&headers, &st), st.tokens.tenant());
    match st.tokens.issue(&who, &audience, &issuer) {
        Ok(access_token) => {
            tracing::info!(client_id = %client_id, audience = %audience, "token issued");
            let lifetime = st.tokens.lifetime();
            let mut resp = Json(TokenResponse {
                token_type: "Bearer".into(),
                expires_in: lifetime,
                ext_expires_in: lifetime,
                access_token,
            })
            .into_response();
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "token signing failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The token could not be issued.",
            )
        }
    }
}

/// The OAuth2 answer to a token request that gets no token. A lockout and a busy server say when to retry.
fn refusal(refused: Refused, client_id: &str) -> Response {
    let (status, error, description, retry_after) = match refused {
        Refused::Invalid => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided, or the client does not exist.".to_string(),
            None,
        ),
        Refused::Locked(Lockout::Client { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            format!(
                "AADSTS50053: Too many failed attempts to authenticate client '{}' from this address. Retry \
                 after {retry_after_secs} seconds.",
                client_id.chars().take(64).collect::<String>()
            ),
            Some(retry_after_secs),
        ),
        Refused::Locked(Lockout::Source { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            format!(
                "AADSTS50053: Too many failed token requests from this address. Retry after \
                 {retry_after_secs} seconds."
            ),
            Some(retry_after_secs),
        ),
        Refused::Busy { retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            format!(
                "AADSTS90033: Too many token requests are being checked at once. Retry after \
                 {retry_after_secs} seconds."
            ),
            Some(retry_after_secs),
        ),
        Refused::Failed(e) => {
            tracing::error!(error = %e, "a client secret could not be checked");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The token could not be issued.".to_string(),
                None,
            )
        }
    };
    let mut resp = oauth_error(status, error, description);
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    resp
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, Zeroizing<String>)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, Zeroizing::new(dec(secret)?)))
}

/// `https://{host the client used}`.
fn origin(headers: &HeaderMap, st: &Shared) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(h) => format!("https://{h}"),
        None => st.authority.clone(),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration(
    State(st): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if tenant != st.tokens.tenant() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            format!(
                "AADSTS90002: Tenant '{}' not found.",
                tenant.chars().take(64).collect::<String>()
            ),
        );
    }
    let base = format!("{}/{}", origin(&headers, &st), tenant);
    Json(json!({
        "issuer": format!("{base}/v2.0"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "roles", "appid"],
        "tenant_region_scope": null,
        "cloud_instance_name": "keyhaven",
        "cloud_graph_host_name": "localhost",
        "msgraph_host": "localhost",
    }))
    .into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub(crate) async fn jwks(State(st): State<AppState>) -> Response {
    match st.tokens.jwks() {
        Ok(k) => Json(k).into_response(),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "keys unavailable",
        )
        .into_response(),
    }
}
