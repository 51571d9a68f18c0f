//! The Azure data plane of one vault, reached as `https://{vault}.{dns-suffix}:{port}` — also where that name
//! does not resolve: the client connects to the server's address and sends the vault's host name.
//!
//! Every request URL is built from the vault's base URL; its token goes nowhere else.

use crate::hosts::{self, OwnHosts};
use crate::token::TokenSource;
use crate::transport::{decode, json_body, send};
use crate::{join_segments, parse_base, Client, ClientError};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The api-version every request names.
const API_VERSION: &str = keyhaven_azure_api::API_VERSION;

/// A vault's data plane.
pub struct VaultClient {
    pub(crate) http: reqwest::Client,
    /// `https://{vault host}[:port]`: every request goes here.
    pub(crate) base: Url,
    tokens: Arc<TokenSource>,
    /// The token audience (`https://{dns suffix}[:port]`).
    resource: String,
}

impl Client {
    /// A vault of this server, by name: `https://{name}.{dns suffix}[:{port}]`.
    pub async fn vault(&self, name: &str) -> Result<VaultClient, ClientError> {
        if !hosts::is_dns_label(name) {
            return Err(ClientError::InvalidArgument(format!(
                "'{name}' is not a vault name (letters, digits and dashes)"
            )));
        }
        let suffix = self.cached_deployment().await?.dns_suffix.clone();
        let mut url = self.server.clone();
        url.set_host(Some(&format!("{name}.{suffix}")))
            .map_err(|e| ClientError::Config(format!("vault host {name}.{suffix}: {e}")))?;
        url.set_path("/");
        self.own_vault(url).await
    }

    /// A vault of this server, by URL: the server's own host, or `{vault}.{dns suffix}`. Any other URL is refused:
    /// this server's token is not sent there.
    pub async fn vault_at(&self, url: &str) -> Result<VaultClient, ClientError> {
        let url = parse_base(url, "vault URL")?;
        if !self.owns(&url).await? {
            return Err(self.foreign(&url, ""));
        }
        self.own_vault(url).await
    }

    /// A vault by URL, which may belong to another vault service (Azure Key Vault) — for copying whole vaults.
    ///
    /// When the credential's tokens come from this server, this is [`Client::vault_at`]: a URL outside the server is
    /// refused. When the credential names its own token authority (another service's credential), tokens come from
    /// that authority and go to that vault only; this server is not contacted.
    pub async fn vault_at_or_external(&self, url: &str) -> Result<VaultClient, ClientError> {
        let base = parse_base(url, "vault URL")?;
        if self.tokens_from_server() {
            if !self.owns(&base).await? {
                return Err(self.foreign(
                    &base,
                    " To copy a vault of another service (such as Azure Key Vault), use that service's own \
                     credential, which names its token authority: authorityHost in its credential file, or \
                     AZURE_AUTHORITY_HOST with AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.",
                ));
            }
            return self.own_vault(base).await;
        }
        if base.scheme() != "https" || !base.username().is_empty() || base.password().is_some() {
            return Err(ClientError::Config(format!(
                "vault URL {base}: tokens are only sent over https, without user information"
            )));
        }
        let http = crate::http_builder(self.ca_pem.as_deref())?
            .build()
            .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
        Ok(VaultClient {
            resource: resource_of(&base),
            http,
            base,
            tokens: self.tokens.clone(),
        })
    }

    /// Whether `url` is this server's host or one of its vaults.
    async fn owns(&self, url: &Url) -> Result<bool, ClientError> {
        let server_only = OwnHosts {
            server: &self.server,
            dns_suffix: None,
        };
        if server_only.owns(url) {
            return Ok(true);
        }
        if url.scheme() != "https" {
            return Ok(false);
        }
        let suffix = self.cached_deployment().await?.dns_suffix.clone();
        Ok(OwnHosts {
            server: &self.server,
            dns_suffix: Some(&suffix),
        }
        .owns(url))
    }

    fn foreign(&self, url: &Url, hint: &str) -> ClientError {
        ClientError::ForeignHost {
            url: url.as_str().trim_end_matches('/').to_string(),
            server: self.server().to_string(),
            reason: format!(
                "its token is only sent to the server's own host and to its vaults \
                 (https://VAULT.DNS-SUFFIX), over https.{hint}"
            ),
        }
    }

    /// The client of one of this server's vaults (`base` checked by the caller).
    async fn own_vault(&self, base: Url) -> Result<VaultClient, ClientError> {
        let host = base.host_str().unwrap_or_default().to_string();
        // The server's own host (which serves the default vault) takes a token for the vaults' resource.
        let resource = match base.host_str() == self.server.host_str() {
            true => {
                let suffix = &self.cached_deployment().await?.dns_suffix;
                match base.port() {
                    Some(p) if p != 443 => format!("https://{suffix}:{p}"),
                    _ => format!("https://{suffix}"),
                }
            }
            false => resource_of(&base),
        };
        let port = base.port_or_known_default().unwrap_or(443);
        let mut b = crate::http_builder(self.ca_pem.as_deref())?;
        // Reach the vault's host at the server's address when the name does not resolve (e.g. *.vault.localhost).
        if tokio::net::lookup_host((host.as_str(), port))
            .await
            .map(|mut a| a.next().is_none())
            .unwrap_or(true)
        {
            let server_host = self.server.host_str().unwrap_or("localhost");
            let server_port = self.server.port_or_known_default().unwrap_or(443);
            if let Some(addr) = tokio::net::lookup_host((server_host, server_port))
                .await
                .ok()
                .and_then(|mut a| a.find(|a| a.is_ipv4()))
            {
                b = b.resolve(&host, std::net::SocketAddr::new(addr.ip(), port));
            }
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Config(format!("building the HTTP client: {e}")))?;
        Ok(VaultClient {
            resource,
            http,
            base,
            tokens: self.tokens.clone(),
        })
    }
}

/// The token audience of a vault: `https://{its host without the vault label}[:port]`, as the bearer challenge
/// names it (`https://vault.azure.net` for Azure).
fn resource_of(base: &Url) -> String {
    let host = base.host_str().unwrap_or_default();
    let suffix = host.split_once('.').map(|(_, s)| s).unwrap_or(host);
    match base.port() {
        Some(p) if p != 443 => format!("https://{suffix}:{p}"),
        _ => format!("https://{suffix}"),
    }
}

/// An object or setting name as a path segment: refused when it would change the path rather than name a thing.
pub(crate) fn segment<'a>(what: &str, s: &'a str) -> Result<&'a str, ClientError> {
    if s.is_empty() || s == "." || s == ".." {
        return Err(ClientError::InvalidArgument(format!(
            "'{s}' is not a valid {what}"
        )));
    }
    Ok(s)
}

impl VaultClient {
    /// The vault's URL (`https://host[:port]`).
    pub fn base(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// A request URL on this vault: `segments` as the path, `query` and the api-version.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = join_segments(&self.base, segments);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            q.append_pair("api-version", API_VERSION);
        }
        url
    }

    /// A bearer token for this vault, for a request to `url` (which must be on this vault).
    pub(crate) async fn token_for(&self, url: &Url) -> Result<Zeroizing<String>, ClientError> {
        if !hosts::same_origin(url, &self.base) {
            return Err(ClientError::ForeignNextLink {
                next: crate::transport::shown(url),
                vault: self.base.origin().ascii_serialization(),
            });
        }
        self.tokens.token(&self.resource).await
    }

    /// One request on this vault; the answer body (empty for `204`).
    pub(crate) async fn raw(
        &self,
        method: Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<bytes::Bytes, ClientError> {
        let token = self.token_for(url).await?;
        send(&self.http, method, url, &token, body).await
    }

    /// One request with an optional JSON body, decoding the JSON answer.
    pub(crate) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = self.url(segments, &[]);
        let body = body.map(json_body).transpose()?;
        let answer = self
            .raw(method, &url, body.as_deref().map(Vec::as_slice))
            .await?;
        decode(&url, &answer)
    }

    /// A request without a body, decoding the JSON answer.
    pub(crate) async fn call_without_body<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
    ) -> Result<T, ClientError> {
        self.call::<(), T>(method, segments, None).await
    }
}
