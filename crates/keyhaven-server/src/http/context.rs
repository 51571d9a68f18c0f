//! What a data-plane handler gets: the caller, the vault, the address it was reached at, the query and the body.

use super::error::ApiError;
use super::request::{self, Query};
use crate::state::AppState;
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
