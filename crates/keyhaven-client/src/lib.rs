//! A typed client for Keyhaven's HTTP API (management and the Azure data plane), used by the `keyhaven` CLI.
//! It obtains tokens from the server's OAuth2 endpoint with a client secret, like any Azure SDK would.

mod credential;
mod error;
mod management;

pub use credential::{Connection, Credential};
pub use error::ClientError;

use keyhaven_azure_api::ErrorBody;
use serde::de::DeserializeOwned;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A connection to one Keyhaven server.
pub struct Client {
    http: reqwest::Client,
    server: String,
    credential: Credential,
    token: Mutex<Option<(Zeroizing<String>, Instant)>>,
}

impl Client {
    pub fn new(conn: Connection) -> Result<Client, ClientError> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &conn.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                ClientError::Config(format!("reading the CA file {}: {e}", ca.display()))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                ClientError::Config(format!(
                    "the CA file {} is not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            b = b.add_root_certificate(cert);
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            server: conn.server.trim_end_matches('/').to_string(),
            credential: conn.credential,
            token: Mutex::new(None),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    async fn token(&self) -> Result<Zeroizing<String>, ClientError> {
        if let Some((t, until)) = self.token.lock().ok().and_then(|g| g.clone()) {
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
        let scope = format!("{}/.default", self.server);
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
        if let Ok(mut g) = self.token.lock() {
            *g = Some((token.clone(), Instant::now() + Duration::from_secs(ttl)));
        }
        Ok(token)
    }

    /// Sends a request with a bearer token and decodes the JSON answer (or the error envelope).
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<T>, ClientError> {
        let token = self.token().await?;
        let url = format!("{}{path}", self.server);
        let mut req = self.http.request(method, &url).bearer_auth(token.as_str());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::connect(&url, e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::connect(&url, e))?;
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
}
