use crate::tokens::TokenService;
use keyhaven_core::Keyhaven;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState(pub Arc<Shared>);

pub(crate) struct Shared {
    pub kh: Arc<Keyhaven>,
    pub tokens: TokenService,
    /// Vault host names are `{vault}.{dns_suffix}`.
    pub dns_suffix: String,
    /// The port clients see (in the bearer challenge's resource).
    pub public_port: u16,
    /// `https://{public_host}:{port}`: the authority clients get tokens from.
    pub authority: String,
    /// The host names of this server (not of its vaults): a token for `https://{one of them}` is a management
    /// token.
    pub management_hosts: Vec<String>,
    pub store_name: &'static str,
    /// Vault backup and restore jobs, and where their files live.
    pub jobs: crate::jobs::Jobs,
    pub throttle: crate::throttle::Throttle,
    /// Every request's record.
    pub audit: crate::audit::AuditLog,
    pub schedules: crate::schedule::Statuses,
    /// Backups into Azure Blob Storage: the storage client and those jobs' folders.
    pub storage: crate::blob_storage::StorageBackups,
    /// The attestation authorities secure key release trusts, with their cached keys.
    pub attestation: crate::key_release::Authorities,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The host of an audience (`https://host[:port][/]`), lower-cased; None when it is not such a URL.
fn audience_host(aud: &str) -> Option<String> {
    let rest = aud.trim_end_matches('/').strip_prefix("https://")?;
    if rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => rest.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// This server's own host names: its public host, the extra names of its certificate, and loopback.
pub(crate) fn management_hosts(public_host: &str, tls_names: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = [public_host, "localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .chain(tls_names.iter().map(|h| h.to_ascii_lowercase()))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

impl Shared {
    pub fn kh_store_name(&self) -> &'static str {
        self.store_name
    }

    /// What follows `{vault}.` in a vault URL's authority: the DNS suffix, with the port unless it is 443.
    pub fn vault_host_suffix(&self) -> String {
        if self.public_port == 443 {
            self.dns_suffix.clone()
        } else {
            format!("{}:{}", self.dns_suffix, self.public_port)
        }
    }

    /// The resource (audience) of the data plane, as the bearer challenge announces it.
    pub fn resource(&self) -> String {
        format!("https://{}", self.vault_host_suffix())
    }

    /// Whether a token audience may call the data plane: `https://` and a host on the vault DNS suffix (any port).
    pub fn is_vault_audience(&self, aud: &str) -> bool {
        audience_host(aud).is_some_and(|host| {
            host == self.dns_suffix || host.ends_with(&format!(".{}", self.dns_suffix))
        })
    }

    /// Whether a token audience may call management (`/_keyhaven/*` and Azure Resource Manager's subset):
    /// `https://` and one of this server's own host names (any port).
    pub fn is_management_audience(&self, aud: &str) -> bool {
        audience_host(aud).is_some_and(|host| self.management_hosts.contains(&host))
    }
}
