//! Access tokens from one OAuth2 authority with a client secret (the client-credentials grant, as every Azure SDK
//! does), cached per resource until shortly before they expire.

use crate::{ClientError, Credential};
use reqwest::Url;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// An authority's token endpoint and the credential to use there.
pub(crate) struct TokenSource {
    http: reqwest::Client,
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    endpoint: Url,
    credential: Credential,
    cache: Mutex<HashMap<String, (Zeroizing<String>, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    /// Seconds; a number, or (older authorities) a string.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenSource {
    /// Tokens from `authority` (`https://host[:port]`) for `credential`.
    pub fn new(
        http: reqwest::Client,
        authority: &Url,
        credential: Credential,
    ) -> Result<TokenSource, ClientError> {
        let mut endpoint = authority.clone();
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        endpoint
            .path_segments_mut()
            .map_err(|_| {
                ClientError::Config(format!("the token authority {authority} is not a URL base"))
            })?
            .pop_if_empty()
            .extend([credential.tenant_id.as_str(), "oauth2", "v2.0", "token"]);
        Ok(TokenSource {
            http,
            endpoint,
            credential,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// A token for `resource` (its scope is `{resource}/.default`).
    pub async fn token(&self, resource: &str) -> Result<Zeroizing<String>, ClientError> {
        if let Some((t, until)) = self
            .cache
            .lock()
            .ok()
            .and_then(|g| g.get(resource).cloned())
        {
            if Instant::now() < until {
                return Ok(t);
            }
        }
        let shown = crate::transport::shown(&self.endpoint);
        let scope = format!("{resource}/.default");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.credential.client_id.as_str()),
            ("client_secret", self.credential.client_secret.as_str()),
            ("scope", scope.as_str()),
        ];
        let resp = self
            .http
            .post(self.endpoint.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| ClientError::connect(&shown, e))?;
        let status = resp.status();
        let body = Zeroizing::new(
            resp.bytes()
                .await
                .map_err(|e| ClientError::connect(&shown, e))?
                .to_vec(),
        );
        let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            return Err(ClientError::Auth(
                answer.and_then(|a| a.error_description).unwrap_or_else(|| {
                    format!("the token request to {shown} was refused ({status})")
                }),
            ));
        }
        let Some(answer) = answer else {
            return Err(ClientError::Auth(format!(
                "{shown} did not answer with a token"
            )));
        };
        let Some(token) = answer.access_token.filter(|t| !t.is_empty()) else {
            return Err(ClientError::Auth(format!(
                "{shown} did not answer with a token"
            )));
        };
        let token = Zeroizing::new(token);
        let ttl = match answer.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(300)
        .saturating_sub(60);
        if let Ok(mut g) = self.cache.lock() {
            g.insert(
                resource.to_string(),
                (token.clone(), Instant::now() + Duration::from_secs(ttl)),
            );
        }
        Ok(token)
    }
}
