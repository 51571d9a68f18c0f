//! Reading a data-plane request: query (api-version, paging), host → vault, body with a size limit, JSON.

use super::error::ApiError;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use http_body_util::{BodyExt, Limited};
use keyhaven_core::PageRequest;
use keyhaven_model::VaultName;
use serde::de::DeserializeOwned;

/// The largest request body, except restores.
pub(crate) const MAX_BODY: usize = 1 << 20;
/// The largest restore body (a backup of an object with many versions).
pub(crate) const MAX_RESTORE_BODY: usize = 64 << 20;

/// The body length a request declares (`Content-Length`), if it declares one that parses.
pub(crate) fn content_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The query string, percent-decoded (parameter names too: `api%2Dversion` is `api-version`).
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The api-version, which every data-plane request must carry (any value is accepted).
    pub fn api_version(&self) -> Result<&str, ApiError> {
        match self.get("api-version") {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::bad(
                "The 'api-version' query parameter is required (for example api-version=7.5).",
            )),
        }
    }

    /// `maxresults` and `$skiptoken` as a page request.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let max = match self.get("maxresults") {
            None | Some("") => None,
            Some(m) => match m.parse::<usize>() {
                Ok(n) if (1..=keyhaven_core::MAX_PAGE_SIZE).contains(&n) => Some(n),
                _ => {
                    return Err(ApiError::bad(format!(
                        "maxresults must be an integer from 1 to {}.",
                        keyhaven_core::MAX_PAGE_SIZE
                    )))
                }
            },
        };
        let after = match self.get("$skiptoken") {
            None | Some("") => None,
            Some(t) => Some(
                keyhaven_azure_api::b64url::decode(t)
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ApiError::bad("The $skiptoken is not one this server issued.")
                    })?,
            ),
        };
        Ok(PageRequest { max, after })
    }
}

/// The host the client addressed (Host header, or the HTTP/2 authority).
pub(crate) fn host(parts: &Parts) -> String {
    parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into())
}

/// The vault a host name addresses: `{vault}.{suffix}`, or `default` for any host outside the suffix.
pub(crate) fn vault_for_host(host: &str, suffix: &str) -> Result<VaultName, ApiError> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .map(|(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            })
            .unwrap_or(host)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    match name.strip_suffix(suffix).and_then(|l| l.strip_suffix('.')) {
        Some(label) if !label.is_empty() => VaultName::parse(label).map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "VaultNotFound",
                format!("No vault is addressed by host '{name}'."),
            )
        }),
        _ => VaultName::parse("default").map_err(ApiError::from),
    }
}

/// Reads the body, refusing more than `limit` bytes with 413.
pub(crate) async fn read_body(
    parts: &Parts,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("The request body is larger than the {limit} bytes this operation accepts."),
        )
    };
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(ApiError::bad("The request body could not be read.")),
    }
}

/// Parses a JSON body. Messages name the position and missing fields, never the values sent (which may be
/// secret).
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        let text = e.to_string();
        match e.classify() {
            Category::Eof if body.iter().all(u8::is_ascii_whitespace) => {
                ApiError::bad("The request body is empty; a JSON object is required.")
            }
            Category::Eof => ApiError::bad("The request body is truncated JSON."),
            Category::Syntax => ApiError::bad(format!(
                "The request body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            )),
            Category::Data if text.starts_with("missing field") => ApiError::bad(format!(
                "The request body is missing a required property: {}.",
                text.split(" at line").next().unwrap_or(&text)
            )),
            _ => ApiError::bad(format!(
                "The request body has a property of the wrong type or value (line {}, column {}).",
                e.line(),
                e.column()
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_vaults() {
        let v = |h: &str| {
            vault_for_host(h, "vault.localhost")
                .map(|v| v.to_string())
                .map_err(|e| e.code)
        };
        assert_eq!(v("myvault.vault.localhost:8443"), Ok("myvault".into()));
        assert_eq!(v("MyVault.Vault.Localhost"), Ok("myvault".into()));
        assert_eq!(v("localhost:8443"), Ok("default".into()));
        assert_eq!(v("127.0.0.1:8443"), Ok("default".into()));
        assert_eq!(v("[::1]:8443"), Ok("default".into()));
        assert_eq!(v("vault.localhost:8443"), Ok("default".into()));
        assert_eq!(v("a_b.vault.localhost"), Err("VaultNotFound"));
    }

    #[test]
    fn query_names_may_be_percent_encoded() {
        let q = Query::parse(Some("api%2Dversion=7.5&maxresults=3"));
        assert_eq!(q.api_version().ok(), Some("7.5"));
        assert_eq!(q.page().ok().and_then(|p| p.max), Some(3));
        assert!(Query::parse(Some("maxresults=26&api-version=1"))
            .page()
            .is_err());
        assert!(Query::parse(None).api_version().is_err());
    }

    #[test]
    fn json_errors_do_not_echo_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            value: String,
        }
        let e = json::<P>(br#"{"value": 123456789}"#).unwrap_err();
        assert!(!e.message.contains("123456789"), "{}", e.message);
        assert!(json::<P>(b"{}").unwrap_err().message.contains("value"));
        assert!(json::<P>(b"").unwrap_err().message.contains("empty"));
    }
}
