//! The Keyhaven server: the Azure Key Vault data plane over HTTPS, the OAuth2/OpenID endpoints the Azure SDKs
//! authenticate against, Keyhaven's management API, TLS with a local CA, configuration and start-up.
#![warn(missing_docs)]

pub mod audit;
mod blob_storage;
pub mod config;

mod body_timeout;
mod bootstrap;
mod connection;
mod error;
mod http;
mod jobs;
mod key_release;
mod leader;
mod listener;
mod outbound;
mod private_files;
pub mod root_key;
mod schedule;
mod state;
mod throttle;
mod tls;
mod token_limits;
mod tokens;

pub use bootstrap::AdminCredential;
pub use config::{Config, ServeArgs, StoreLocation};
pub use connection::ConnectionLimits;
pub use error::ServerError;
pub use jobs::JobLimits;
pub use key_release::KeyReleaseAuthority;
pub use listener::{serve, start, RunningServer};
pub use schedule::BackupSchedule;
pub use throttle::ThrottleBudgets;
pub use tls::TlsSettings;

/// Sets up structured logging to standard error with an `EnvFilter` expression (e.g. `info`).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
