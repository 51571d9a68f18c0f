use crate::ClientError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A client-secret credential.
#[derive(Clone)]
pub struct Credential {
    /// The tenant to get tokens in (the server's, unless the authority is another one).
    pub tenant_id: String,
    /// The client's id.
    pub client_id: String,
    /// The client's secret; zeroized on drop and never shown by `Debug`.
    pub client_secret: Zeroizing<String>,
    /// Where to get tokens; the server itself when unset.
    pub authority_host: Option<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credential(tenant {}, client {}, secret redacted)",
            self.tenant_id, self.client_id
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialFile {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    authority_host: Option<String>,
}

impl Credential {
    /// Reads a credential file in the `admin-credential.json` format.
    pub fn from_file(path: &Path) -> Result<Credential, ClientError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            ClientError::Config(format!(
                "reading the credential file {}: {e}",
                path.display()
            ))
        })?);
        let f: CredentialFile = serde_json::from_slice(&bytes).map_err(|_| {
            ClientError::Config(format!(
                "{} is not a credential file (expected tenantId, clientId, clientSecret)",
                path.display()
            ))
        })?;
        Ok(Credential {
            tenant_id: f.tenant_id,
            client_id: f.client_id,
            client_secret: Zeroizing::new(f.client_secret),
            authority_host: f.authority_host,
        })
    }

    /// Reads `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` (and `AZURE_AUTHORITY_HOST`).
    pub fn from_env() -> Option<Credential> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Credential {
            tenant_id: get("AZURE_TENANT_ID")?,
            client_id: get("AZURE_CLIENT_ID")?,
            client_secret: Zeroizing::new(get("AZURE_CLIENT_SECRET")?),
            authority_host: get("AZURE_AUTHORITY_HOST"),
        })
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The server's base URL, e.g. `https://localhost:8443`.
    pub server: String,
    /// A PEM CA certificate to trust besides the system roots (the server's local CA); `None` for the system
    /// roots only.
    pub ca_file: Option<PathBuf>,
    /// Who to connect as.
    pub credential: Credential,
}
