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
    pub store_name: &'static str,
    /// Vault backup and restore jobs, and where their files live.
    pub jobs: crate::jobs::Jobs,
    pub throttle: crate::throttle::Throttle,
    pub schedules: crate::schedule::Statuses,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
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

    /// Whether a token audience may call the data plane: a URL on the vault DNS suffix (any port).
    pub fn is_vault_audience(&self, aud: &str) -> bool {
        let rest = aud
            .trim_end_matches('/')
            .strip_prefix("https://")
            .unwrap_or("");
        let host = rest
            .split([':', '/'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        host == self.dns_suffix || host.ends_with(&format!(".{}", self.dns_suffix))
    }
}
