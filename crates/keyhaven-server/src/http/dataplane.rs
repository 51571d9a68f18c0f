//! The Azure Key Vault data plane: every request is authenticated first (401 before any other check), then
//! its api-version and vault are resolved, its body read, and it is dispatched by method and path segments.
//! Empty segments are ignored, so `//` collapses and a trailing `/` (an empty version) means "latest".

use super::error::ApiError;
use super::request::{self, Query};
use super::secrets;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use keyhaven_core::Principal;
use keyhaven_model::VaultName;

/// What a data-plane handler gets.
pub(crate) struct Ctx {
    pub st: AppState,
    pub who: Principal,
    pub vault: VaultName,
    /// `https://{host the client addressed}`: the base of every id returned.
    pub base: String,
    pub query: Query,
    pub body: bytes::Bytes,
}

impl Ctx {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        request::json(&self.body)
    }

    /// A `nextLink` continuing a listing at `path` after `next`.
    pub fn next_link(
        &self,
        path: &str,
        next: Option<String>,
        max: Option<usize>,
    ) -> Option<String> {
        let next = next?;
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair(
            "api-version",
            self.query
                .get("api-version")
                .unwrap_or(keyhaven_azure_api::API_VERSION),
        );
        q.append_pair(
            "$skiptoken",
            &keyhaven_azure_api::b64url::encode(next.as_bytes()),
        );
        if let Some(m) = max {
            q.append_pair("maxresults", &m.to_string());
        }
        Some(format!("{}/{path}?{}", self.base, q.finish()))
    }
}

pub(crate) async fn handle(State(st): State<AppState>, req: Request) -> Response {
    match dispatch(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(st: AppState, req: Request<Body>) -> Result<Response, ApiError> {
    let who = super::auth::authenticate_vault(&st, req.headers())?;
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    query.api_version()?;
    let host = request::host(&parts);
    let vault = request::vault_for_host(&host, &st.dns_suffix)?;
    let path = parts.uri.path().to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let limit = if segs.last() == Some(&"restore") {
        request::MAX_RESTORE_BODY
    } else {
        request::MAX_BODY
    };
    let body = request::read_body(&parts, body, limit).await?;
    let cx = Ctx {
        st,
        who,
        vault,
        base: format!("https://{host}"),
        query,
        body,
    };
    let m = &parts.method;
    match (m, segs.as_slice()) {
        (&Method::GET, ["secrets"]) => secrets::list(&cx),
        (&Method::PUT, ["secrets", n]) => secrets::set(&cx, n).await,
        (&Method::GET, ["secrets", n]) => secrets::get(&cx, n, None),
        (&Method::GET, ["secrets", n, "versions"]) => secrets::versions(&cx, n),
        (&Method::GET, ["secrets", n, v]) => secrets::get(&cx, n, Some(v)),
        (&Method::PATCH, ["secrets", n]) => secrets::update(&cx, n, None).await,
        (&Method::PATCH, ["secrets", n, v]) => secrets::update(&cx, n, Some(v)).await,
        (&Method::DELETE, ["secrets", n]) => secrets::delete(&cx, n).await,
        (&Method::POST, ["secrets", n, "backup"]) => secrets::backup(&cx, n).await,
        (&Method::POST, ["secrets", "restore"]) => secrets::restore(&cx).await,
        (&Method::GET, ["deletedsecrets"]) => secrets::list_deleted(&cx),
        (&Method::GET, ["deletedsecrets", n]) => secrets::get_deleted(&cx, n),
        (&Method::DELETE, ["deletedsecrets", n]) => secrets::purge(&cx, n).await,
        (&Method::POST, ["deletedsecrets", n, "recover"]) => secrets::recover(&cx, n).await,
        _ => Err(ApiError::no_route(m.as_str(), &path)),
    }
}
