//! One authenticated request: retried while the server throttles (`429`) or is unavailable (`503`), its answer
//! decoded or its error envelope turned into [`ClientError::Api`].

use crate::ClientError;
use keyhaven_azure_api::ErrorBody;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Tries per request, on `429` and `503` (about three and a half minutes of waiting in all before giving up).
const MAX_ATTEMPTS: u32 = 12;

/// How long to wait before retry `attempt` (1-based): exponential backoff from 1 s, capped at 30 s, and never less
/// than the server's `Retry-After`; plus up to 50% jitter so that concurrent requests spread out instead of
/// meeting the same throttling window again.
fn backoff(attempt: u32, retry_after: Option<u64>) -> Duration {
    let exponential = Duration::from_millis(500u64.saturating_mul(1 << attempt.min(6)))
        .min(Duration::from_secs(30));
    let base = exponential.max(Duration::from_secs(retry_after.unwrap_or(0)));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 500) / 1000.0);
    base + jitter
}

/// `url` without its query (which may carry paging tokens), for messages.
pub(crate) fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// Sends one request with a bearer token and a JSON body (already serialized), retrying throttled and unavailable
/// answers; returns the body of a successful answer.
pub(crate) async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &Url,
    token: &str,
    body: Option<&[u8]>,
) -> Result<bytes::Bytes, ClientError> {
    let mut attempt = 0u32;
    loop {
        let mut req = http.request(method.clone(), url.clone()).bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_vec());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::connect(&shown(url), e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::connect(&shown(url), e))?;
        let retryable =
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        if !retryable || attempt + 1 >= MAX_ATTEMPTS {
            return match status.is_success() {
                true => Ok(bytes),
                false => Err(api_error(status, &bytes)),
            };
        }
        attempt += 1;
        let wait = backoff(attempt, retry_after);
        eprintln!(
            "retry: {} from {}; {} (attempt {}/{MAX_ATTEMPTS})",
            status.as_u16(),
            shown(url),
            match retry_after {
                Some(s) => format!(
                    "honouring Retry-After: {s} s, waiting {:.1} s",
                    wait.as_secs_f64()
                ),
                None => format!("backing off {:.1} s", wait.as_secs_f64()),
            },
            attempt + 1
        );
        tokio::time::sleep(wait).await;
    }
}

/// A JSON request body, serialized once (and wiped after the call: it may hold a secret value or a passphrase).
pub(crate) fn json_body<B: serde::Serialize>(
    body: &B,
) -> Result<zeroize::Zeroizing<Vec<u8>>, ClientError> {
    serde_json::to_vec(body)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| ClientError::Protocol(format!("encoding the request: {e}")))
}

/// The error an answer with a failure status stands for (Azure's envelope, or the status and the start of the body).
pub(crate) fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) => (
            status.as_str().to_string(),
            String::from_utf8_lossy(body).chars().take(500).collect(),
        ),
    };
    ClientError::Api {
        status: status.as_u16(),
        code,
        message,
    }
}

/// Decodes a JSON answer. The message names where the answer stopped matching, never its content (an answer may
/// carry a secret value).
pub(crate) fn decode<T: DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "an unexpected shape",
            serde_json::error::Category::Eof => "a truncated answer",
            serde_json::error::Category::Syntax | serde_json::error::Category::Io => "not JSON",
        };
        ClientError::Protocol(format!(
            "unexpected answer from {}: {what} at line {} column {}",
            shown(url),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_never_undercut_retry_after_and_stay_bounded() {
        let secs = |a, r| backoff(a, r).as_secs_f64();
        assert!((1.0..=1.5).contains(&secs(1, Some(1))));
        assert!(
            secs(4, Some(1)) >= 8.0,
            "repeated throttling backs off further"
        );
        assert!(secs(2, Some(60)) >= 60.0, "a longer Retry-After wins");
        assert!(backoff(11, None) <= Duration::from_secs(45));
    }

    #[test]
    fn a_decoding_error_does_not_repeat_the_answer() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Shape {
            count: u32,
        }
        let url = Url::parse("https://v.vault.localhost/secrets/s?api-version=7.5").unwrap();
        let e = decode::<Shape>(&url, br#"{"count": "hunter2-secret"}"#).unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("api-version"), "{text}");
        assert!(
            text.contains("https://v.vault.localhost/secrets/s"),
            "{text}"
        );
    }
}
