//! A typed client for Keyhaven's HTTP API (management and the Azure data plane), used by the `keyhaven` CLI.
//! It obtains tokens from the server's OAuth2 endpoint with a client secret, like any Azure SDK would.

mod credential;
mod error;
mod management;
mod vault;

pub use credential::{Connection, Credential};
pub use error::ClientError;
pub use vault::{VaultClient, VaultRestoreOptions};

use keyhaven_azure_api::ErrorBody;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A connection to one Keyhaven server.
pub struct Client {
    http: reqwest::Client,
    server: String,
    credential: Credential,
    ca_pem: Option<Vec<u8>>,
    tokens: Mutex<HashMap<String, (Zeroizing<String>, Instant)>>,
}

impl Client {
    pub fn new(conn: Connection) -> Result<Client, ClientError> {
        let ca_pem = match &conn.ca_file {
            Some(ca) => Some(std::fs::read(ca).map_err(|e| {
                ClientError::Config(format!("reading the CA file {}: {e}", ca.display()))
            })?),
            None => None,
        };
        let http = http_builder(ca_pem.as_deref())?
            .build()
            .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            server: conn.server.trim_end_matches('/').to_string(),
            credential: conn.credential,
            ca_pem,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// A token for `resource` (cached until shortly before it expires).
    pub(crate) async fn token(&self, resource: &str) -> Result<Zeroizing<String>, ClientError> {
        if let Some((t, until)) = self
            .tokens
            .lock()
            .ok()
            .and_then(|g| g.get(resource).cloned())
        {
            if Instant::now() < until {
                return Ok(t);
            }
        }
        let authority = self
            .credential
            .authority_host
            .clone()
            .unwrap_or_else(|| self.server.clone());
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            authority.trim_end_matches('/'),
            self.credential.tenant_id
        );
        let scope = format!("{resource}/.default");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.credential.client_id.as_str()),
            ("client_secret", self.credential.client_secret.as_str()),
            ("scope", scope.as_str()),
        ];
        let resp = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| ClientError::connect(&url, e))?;
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| ClientError::connect(&url, e))?;
        if !status.is_success() {
            return Err(ClientError::Auth(
                body["error_description"]
                    .as_str()
                    .unwrap_or("the token request was refused")
                    .to_string(),
            ));
        }
        let token = Zeroizing::new(
            body["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let ttl = body["expires_in"]
            .as_u64()
            .unwrap_or(300)
            .saturating_sub(60);
        if let Ok(mut g) = self.tokens.lock() {
            g.insert(
                resource.to_string(),
                (token.clone(), Instant::now() + Duration::from_secs(ttl)),
            );
        }
        Ok(token)
    }

    /// A management call (`/_keyhaven/...`) with a bearer token.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<T>, ClientError> {
        let token = self.token(&self.server).await?;
        let url = format!("{}{path}", self.server);
        send(&self.http, method, &url, &token, body).await
    }
}

/// An HTTP client builder trusting `ca_pem` (besides the system roots).
pub(crate) fn http_builder(ca_pem: Option<&[u8]>) -> Result<reqwest::ClientBuilder, ClientError> {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
            ClientError::Config(format!("the CA file is not a PEM certificate: {e}"))
        })?;
        b = b.add_root_certificate(cert);
    }
    Ok(b)
}

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

/// Sends one authenticated JSON request (retrying throttled and unavailable answers) and decodes the answer or the Azure error envelope.
pub(crate) async fn send<T: DeserializeOwned>(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&serde_json::Value>,
) -> Result<Option<T>, ClientError> {
    let mut attempt = 0u32;
    let (status, bytes) = loop {
        let mut req = http.request(method.clone(), url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| ClientError::connect(url, e))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::connect(url, e))?;
        let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::SERVICE_UNAVAILABLE;
        if !retryable || attempt + 1 >= MAX_ATTEMPTS {
            break (status, bytes);
        }
        attempt += 1;
        let wait = backoff(attempt, retry_after);
        eprintln!(
            "retry: {} from {}; {} (attempt {}/{MAX_ATTEMPTS})",
            status.as_u16(),
            url.split('?').next().unwrap_or(url),
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
    };
    if !status.is_success() {
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => (
                status.as_str().to_string(),
                String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            ),
        };
        return Err(ClientError::Api {
            status: status.as_u16(),
            code,
            message,
        });
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ClientError::Protocol(format!("unexpected answer from {url}: {e}")))
}

#[cfg(test)]
mod backoff_tests {
    use super::backoff;
    use std::time::Duration;

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
}
