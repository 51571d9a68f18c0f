//! A typed client for Keyhaven's HTTP API: the management API ([`Client`]: vaults, geographies, principals, and
//! roles at deployment scope) and the Azure Key Vault data plane of one vault ([`VaultClient`]: objects, and Azure's
//! RBAC API at the vault's scopes), over the `keyhaven-azure-api` request and response types. It obtains tokens with
//! a client secret from the server's OAuth2 endpoint (or the credential's own authority), like any Azure SDK would.
//!
//! A token is only ever sent to the server's own host and to its vaults (`https://{vault}.{dns suffix}`), and a
//! listing only follows a `nextLink` on the vault it lists. The one way to reach another vault service (Azure Key
//! Vault, to copy a vault from or to it) is [`Client::vault_at_or_external`], with the credential's own token
//! authority: a token from the Keyhaven server never goes there.
#![warn(missing_docs)]

mod certificates;
mod credential;
mod error;
mod hosts;
mod keys;
mod management;
mod objects;
mod paging;
mod principals;
mod rbac;
mod secrets;
mod token;
mod transport;
mod vault;
mod vault_backup;

pub use credential::{Connection, Credential};
pub use error::ClientError;
pub use management::MIN_GEOGRAPHY_PASSPHRASE_CHARS;
pub use paging::Pager;
pub use rbac::RoleAssignmentFilter;
pub use vault::VaultClient;
pub use vault_backup::{ConflictPolicy, RestoreTarget, VaultRestoreOptions};

use keyhaven_azure_api::management::DeploymentInfo;
use reqwest::Url;
use std::sync::Arc;
use std::time::Duration;
use token::TokenSource;

/// A connection to one Keyhaven server.
pub struct Client {
    http: reqwest::Client,
    server: Url,
    credential: Credential,
    ca_pem: Option<Vec<u8>>,
    /// Tokens for this server and its vaults.
    tokens: Arc<TokenSource>,
    deployment: tokio::sync::OnceCell<DeploymentInfo>,
}

impl Client {
    /// A client of `conn.server`. It reads the CA file and checks the URLs now, but sends nothing until the
    /// first call.
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
        let server = parse_base(&conn.server, "--server")?;
        let authority = match &conn.credential.authority_host {
            Some(a) => parse_base(a, "the token authority")?,
            None => server.clone(),
        };
        let tokens = Arc::new(TokenSource::new(
            http.clone(),
            &authority,
            conn.credential.clone(),
        )?);
        Ok(Client {
            http,
            server,
            credential: conn.credential,
            ca_pem,
            tokens,
            deployment: tokio::sync::OnceCell::new(),
        })
    }

    /// The server's URL (`https://host:port`, no trailing slash).
    pub fn server(&self) -> &str {
        self.server.as_str().trim_end_matches('/')
    }

    /// Whether the credential's tokens come from this server (its authority is unset or is the server).
    pub(crate) fn tokens_from_server(&self) -> bool {
        match &self.credential.authority_host {
            None => true,
            Some(a) => parse_base(a, "the token authority")
                .is_ok_and(|a| hosts::same_origin(&a, &self.server)),
        }
    }

    /// The deployment (asked once per client).
    pub(crate) async fn cached_deployment(&self) -> Result<&DeploymentInfo, ClientError> {
        self.deployment.get_or_try_init(|| self.deployment()).await
    }

    /// A management URL: the server with `segments` as its path.
    pub(crate) fn management_url(&self, segments: &[&str]) -> Url {
        join_segments(&self.server, segments)
    }
}

/// A URL to build request URLs on (`https://host[:port][/prefix]`; a query or fragment is dropped).
pub(crate) fn parse_base(s: &str, what: &str) -> Result<Url, ClientError> {
    let mut url = Url::parse(s.trim())
        .map_err(|e| ClientError::Config(format!("{what} {s} is not a URL: {e}")))?;
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(ClientError::Config(format!(
            "{what} {s} is not an http(s) URL"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// `base` with `segments` appended to its path (each one percent-encoded as needed).
pub(crate) fn join_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut p) = url.path_segments_mut() {
        p.pop_if_empty().extend(segments);
    }
    url
}

/// An HTTP client builder trusting `ca_pem` (besides the system roots); redirects are not followed (a redirect
/// would carry the token elsewhere).
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
