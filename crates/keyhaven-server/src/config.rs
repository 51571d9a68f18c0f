//! Settings come from flags, `KEYHAVEN_*` environment variables and a TOML file, in that order of precedence.

use crate::ServerError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `keyhaven serve` flags (each also read from its `KEYHAVEN_*` variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Where the store, keys, TLS files and the admin credential live.
    #[arg(long, env = "KEYHAVEN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "KEYHAVEN_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// A TOML configuration file.
    #[arg(long, env = "KEYHAVEN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the store lives: `embedded` (a file in the data directory, the default) or a PostgreSQL URL
    /// (`postgres://user@host:port/db`, several `host:port` separated by commas for failover).
    #[arg(long, env = "KEYHAVEN_STORE", value_name = "embedded|postgres://…")]
    pub store: Option<String>,
    /// DNS suffix of vault host names: vault V is https://V.{suffix}.
    #[arg(long, env = "KEYHAVEN_DNS_SUFFIX", value_name = "SUFFIX")]
    pub dns_suffix: Option<String>,
    /// Host name clients use for the token endpoint (the authority); default localhost.
    #[arg(long, env = "KEYHAVEN_PUBLIC_HOST", value_name = "HOST")]
    pub public_host: Option<String>,
    /// Port clients connect to, when it differs from the listening port (behind a proxy).
    #[arg(long, env = "KEYHAVEN_PUBLIC_PORT", value_name = "PORT")]
    pub public_port: Option<u16>,
    /// Data-plane requests allowed per vault per throttle window; 0 turns throttling off.
    #[arg(long, env = "KEYHAVEN_THROTTLE_LIMIT", value_name = "N")]
    pub throttle_limit: Option<u32>,
    /// The throttle window in milliseconds (Azure counts per 10 s).
    #[arg(long, env = "KEYHAVEN_THROTTLE_WINDOW_MS", value_name = "MS")]
    pub throttle_window_ms: Option<u64>,
    /// Extra names for the server certificate (comma-separated).
    #[arg(
        long = "tls-name",
        env = "KEYHAVEN_TLS_NAMES",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub tls_names: Vec<String>,
    /// The server certificate chain (PEM) to serve instead of one from the local CA; reloaded when it changes.
    #[arg(
        long,
        env = "KEYHAVEN_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(
        long,
        env = "KEYHAVEN_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Log filter (e.g. info, keyhaven=debug).
    #[arg(long, env = "KEYHAVEN_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// A file holding the passphrase that protects `root.key` (see `keyhaven root-key protect`); without it, the
    /// passphrase is read from KEYHAVEN_ROOT_KEY_PASSPHRASE or the systemd credential
    /// `keyhaven-root-key-passphrase`.
    #[arg(long, env = "KEYHAVEN_ROOT_KEY_PASSPHRASE_FILE", value_name = "FILE")]
    pub root_key_passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    data_dir: Option<PathBuf>,
    store: Option<String>,
    listen: Option<SocketAddr>,
    dns_suffix: Option<String>,
    public_host: Option<String>,
    public_port: Option<u16>,
    #[serde(default)]
    tls_names: Vec<String>,
    log: Option<String>,
    locations: Option<BTreeMap<String, String>>,
    default_location: Option<String>,
    default_retention_days: Option<u32>,
    token_lifetime_secs: Option<i64>,
    purge_interval_secs: Option<u64>,
    throttle_limit: Option<u32>,
    throttle_window_ms: Option<u64>,
    #[serde(default)]
    backup_schedule: Vec<crate::BackupSchedule>,
    audit: Option<bool>,
    audit_dir: Option<PathBuf>,
    audit_max_file_mib: Option<u64>,
    audit_hash_names: Option<bool>,
    audit_sync_reads: Option<bool>,
    root_key_passphrase_file: Option<PathBuf>,
    vault_key_rotate_after_seals: Option<u64>,
    // Connections (ConnectionLimits) and the server certificate.
    max_connections: Option<u32>,
    tls_handshake_timeout_secs: Option<u64>,
    header_read_timeout_secs: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    body_total_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    http2_max_concurrent_streams: Option<u32>,
    http2_max_header_list_bytes: Option<u32>,
    http2_keepalive_interval_secs: Option<u64>,
    http2_keepalive_timeout_secs: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_leaf_days: Option<u32>,
    token_failure_limit: Option<u32>,
    token_source_failure_limit: Option<u32>,
    token_failure_window_secs: Option<u64>,
    token_verify_concurrency: Option<usize>,
    token_verify_wait_ms: Option<u64>,
    token_cache_secs: Option<u64>,
    // Uploads, jobs, expensive work and cost-class throttling.
    max_upload_mib: Option<u64>,
    job_retention_hours: Option<u64>,
    job_retention_per_vault: Option<usize>,
    heavy_work_threads: Option<usize>,
    throttle_create_import_limit: Option<u32>,
    throttle_key_create_limit: Option<u32>,
    throttle_hsm_key_create_limit: Option<u32>,
    storage_ca_file: Option<PathBuf>,
    #[serde(default)]
    key_release_authority: Vec<crate::KeyReleaseAuthority>,
}

/// Where the store lives.
#[derive(Debug, Clone, Default)]
pub enum StoreLocation {
    /// The embedded engine: `keyhaven.redb` in the data directory.
    #[default]
    Embedded,
    /// A PostgreSQL database, possibly with several servers for failover (shown without its password).
    Postgres(Box<keyhaven_store_postgres::PostgresUrl>),
}

impl StoreLocation {
    /// `embedded`, or a `postgres://` / `postgresql://` URL.
    pub fn parse(s: &str) -> Result<StoreLocation, ServerError> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("embedded") {
            return Ok(StoreLocation::Embedded);
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return keyhaven_store_postgres::PostgresUrl::parse(s)
                .map(|url| StoreLocation::Postgres(Box::new(url)))
                .map_err(|e| ServerError::Config(format!("store: {e}")));
        }
        Err(ServerError::Config(
            "store must be `embedded` or a postgres:// URL".into(),
        ))
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory: root key, token signing key, TLS files, the embedded store, audit log, backups.
    pub data_dir: PathBuf,
    /// The store; the data directory still holds the root key, token signing key, TLS files and backups.
    pub store: StoreLocation,
    /// The address the HTTPS listener binds.
    pub listen: SocketAddr,
    /// The vault DNS suffix: vault `v` is served at `v.{dns_suffix}`.
    pub dns_suffix: String,
    /// The host name clients use for the server itself (token endpoint, management API, portal).
    pub public_host: String,
    /// The port clients use, when it differs from the listener's (behind a proxy). Absent: the listener's.
    pub public_port: Option<u16>,
    /// Extra names and addresses the generated TLS certificate covers.
    pub tls_names: Vec<String>,
    /// The log filter (`tracing` env-filter syntax).
    pub log: String,
    /// The domain layer's settings (retention, rotation, limits).
    pub domain: keyhaven_core::Settings,
    /// How long an access token lives, in seconds.
    pub token_lifetime_secs: i64,
    /// Seconds between maintenance runs (purge, lifetime actions, vault key rotation).
    pub purge_interval_secs: u64,
    /// Data-plane requests allowed per vault in each throttle window (0: no throttling).
    pub throttle_limit: u32,
    /// The throttle window, in milliseconds.
    pub throttle_window_ms: u64,
    /// Periodic whole-vault backups.
    pub backup_schedules: Vec<crate::BackupSchedule>,
    /// The audit log (on by default, in `DATA_DIR/audit`).
    pub audit: crate::audit::AuditSettings,
    /// The file holding the root key's passphrase, if configured (see [`crate::root_key`]).
    pub root_key_passphrase_file: Option<PathBuf>,
    /// Timeouts and limits of client connections.
    pub limits: crate::ConnectionLimits,
    /// The server certificate: the operator's files, or short-lived ones from the local CA.
    pub tls: crate::TlsSettings,
    /// Failed token requests per client id and source address in a window before that pair is answered 429 until
    /// the window ends (0: no limit).
    pub token_failure_limit: u32,
    /// Failed token requests per source address (any client ids) in a window before the source is answered 429
    /// until the window ends (0: no limit).
    pub token_source_failure_limit: u32,
    /// The window failed token requests are counted in (and the longest lockout).
    pub token_failure_window_secs: u64,
    /// Client-secret checks (argon2id) running at once (0: one per core).
    pub token_verify_concurrency: usize,
    /// How long a token request waits for a secret check to start before it is answered 503.
    pub token_verify_wait_ms: u64,
    /// How long a verified client credential is answered without another check (0: always checked).
    pub token_cache_secs: u64,
    /// Upload size, and how long finished backup and restore jobs and their files are kept.
    pub jobs: crate::JobLimits,
    /// The budgets of the expensive request classes (within `throttle_limit`).
    pub throttle_budgets: crate::ThrottleBudgets,
    /// Extra CA certificates (PEM) to trust for Azure Blob Storage endpoints, besides the system's.
    pub storage_ca_file: Option<PathBuf>,
    /// The attestation authorities secure key release trusts (`[[key-release-authority]]`).
    pub key_release_authorities: Vec<crate::KeyReleaseAuthority>,
}

impl Config {
    /// Defaults for a server with its data in `data_dir`.
    pub fn with_data_dir(data_dir: &Path) -> Config {
        Config {
            data_dir: data_dir.to_path_buf(),
            store: StoreLocation::Embedded,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            dns_suffix: "vault.localhost".into(),
            public_host: "localhost".into(),
            public_port: None,
            tls_names: Vec::new(),
            log: "info,rustls=error".into(),
            domain: keyhaven_core::Settings::default(),
            token_lifetime_secs: 3599,
            purge_interval_secs: 60,
            // Azure's published service limit (secrets and key GETs): 4,000 transactions per 10 s per vault.
            throttle_limit: 4000,
            throttle_window_ms: 10_000,
            backup_schedules: Vec::new(),
            audit: crate::audit::AuditSettings {
                enabled: true,
                dir: data_dir.join("audit"),
                max_file_bytes: 64 << 20,
                hash_names: false,
                sync_reads: false,
            },
            root_key_passphrase_file: None,
            limits: crate::ConnectionLimits::default(),
            tls: crate::TlsSettings::default(),
            token_failure_limit: 10,
            token_source_failure_limit: 100,
            token_failure_window_secs: 60,
            token_verify_concurrency: 0,
            token_verify_wait_ms: 5000,
            token_cache_secs: 60,
            jobs: crate::JobLimits::default(),
            throttle_budgets: crate::ThrottleBudgets::default(),
            storage_ca_file: None,
            key_release_authorities: Vec::new(),
        }
    }

    /// The token endpoint's protections as configured.
    pub(crate) fn token_limits(&self) -> crate::token_limits::TokenLimitSettings {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        crate::token_limits::TokenLimitSettings {
            failure_limit: self.token_failure_limit,
            source_failure_limit: self.token_source_failure_limit,
            failure_window: std::time::Duration::from_secs(self.token_failure_window_secs),
            verify_concurrency: match self.token_verify_concurrency {
                0 => cores,
                n => n,
            },
            verify_wait: std::time::Duration::from_millis(self.token_verify_wait_ms),
            cache_ttl: std::time::Duration::from_secs(self.token_cache_secs),
        }
    }

    /// Merges flags/environment over the file named by `--config` (if any) over defaults.
    pub fn load(args: ServeArgs) -> Result<Config, ServerError> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(ServerError::io(format!("reading {}", path.display())))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("keyhaven-data"));
        let mut c = Config::with_data_dir(&data_dir);
        if let Some(s) = args.store.or(file.store) {
            c.store = StoreLocation::parse(&s)?;
        }
        if let Some(l) = args.listen.or(file.listen) {
            c.listen = l;
        }
        if let Some(s) = args.dns_suffix.or(file.dns_suffix) {
            c.dns_suffix = s.trim_start_matches('.').to_ascii_lowercase();
        }
        if let Some(h) = args.public_host.or(file.public_host) {
            c.public_host = h;
        }
        c.public_port = args.public_port.or(file.public_port);
        c.tls_names = if args.tls_names.is_empty() {
            file.tls_names
        } else {
            args.tls_names
        };
        if let Some(l) = args.log.or(file.log) {
            c.log = l;
        }
        if let Some(locs) = file.locations {
            c.domain.locations = locs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_ascii_lowercase()))
                .collect();
        }
        if let Some(d) = file.default_location {
            c.domain.default_location = d.to_ascii_lowercase();
        }
        if let Some(d) = file.default_retention_days {
            c.domain.default_retention_days = d;
        }
        if let Some(t) = file.token_lifetime_secs {
            c.token_lifetime_secs = t;
        }
        if let Some(p) = file.purge_interval_secs {
            c.purge_interval_secs = p;
        }
        if let Some(t) = args.throttle_limit.or(file.throttle_limit) {
            c.throttle_limit = t;
        }
        c.backup_schedules = file.backup_schedule;
        if let Some(a) = file.audit {
            c.audit.enabled = a;
        }
        if let Some(d) = file.audit_dir {
            c.audit.dir = d;
        }
        if let Some(m) = file.audit_max_file_mib {
            c.audit.max_file_bytes = m.max(1) << 20;
        }
        if let Some(h) = file.audit_hash_names {
            c.audit.hash_names = h;
        }
        if let Some(s) = file.audit_sync_reads {
            c.audit.sync_reads = s;
        }
        c.root_key_passphrase_file = args
            .root_key_passphrase_file
            .or(file.root_key_passphrase_file);
        if let Some(n) = file.vault_key_rotate_after_seals {
            c.domain.vault_key_rotate_after = n;
        }
        if let Some(w) = args.throttle_window_ms.or(file.throttle_window_ms) {
            c.throttle_window_ms = w.max(1);
        }
        // Connections and the server certificate.
        let secs = Duration::from_secs;
        let l = &mut c.limits;
        if let Some(n) = file.max_connections {
            l.max_connections = n;
        }
        if let Some(s) = file.tls_handshake_timeout_secs {
            l.tls_handshake_timeout = secs(s);
        }
        if let Some(s) = file.header_read_timeout_secs {
            l.header_read_timeout = secs(s);
        }
        if let Some(s) = file.body_read_timeout_secs {
            l.body_read_timeout = secs(s);
        }
        if let Some(s) = file.body_total_timeout_secs {
            l.body_total_timeout = (s > 0).then(|| secs(s));
        }
        if let Some(s) = file.idle_timeout_secs {
            l.idle_timeout = secs(s);
        }
        if let Some(n) = file.http2_max_concurrent_streams {
            l.http2_max_concurrent_streams = n;
        }
        if let Some(n) = file.http2_max_header_list_bytes {
            l.http2_max_header_list_bytes = n;
        }
        if let Some(s) = file.http2_keepalive_interval_secs {
            l.http2_keepalive_interval = (s > 0).then(|| secs(s));
        }
        if let Some(s) = file.http2_keepalive_timeout_secs {
            l.http2_keepalive_timeout = secs(s);
        }
        // Both files from the same place: flags (or environment) or the configuration file.
        if args.tls_cert.is_some() || args.tls_key.is_some() {
            (c.tls.cert, c.tls.key) = (args.tls_cert, args.tls_key);
        } else {
            (c.tls.cert, c.tls.key) = (file.tls_cert, file.tls_key);
        }
        if let Some(d) = file.tls_leaf_days {
            c.tls.leaf_days = d;
        }
        if let Some(n) = file.token_failure_limit {
            c.token_failure_limit = n;
        }
        if let Some(n) = file.token_source_failure_limit {
            c.token_source_failure_limit = n;
        }
        if let Some(s) = file.token_failure_window_secs {
            c.token_failure_window_secs = s;
        }
        if let Some(n) = file.token_verify_concurrency {
            c.token_verify_concurrency = n;
        }
        if let Some(ms) = file.token_verify_wait_ms {
            c.token_verify_wait_ms = ms;
        }
        if let Some(s) = file.token_cache_secs {
            c.token_cache_secs = s;
        }
        // Uploads, jobs, expensive work and cost-class throttling.
        if let Some(m) = file.max_upload_mib {
            c.jobs.max_upload_bytes = m.saturating_mul(1 << 20);
        }
        if let Some(h) = file.job_retention_hours {
            c.jobs.keep_finished_secs = h.saturating_mul(3600);
        }
        if let Some(n) = file.job_retention_per_vault {
            c.jobs.keep_finished_per_vault = n;
        }
        if let Some(n) = file.heavy_work_threads {
            c.domain.heavy_work_threads = n;
        }
        let b = &mut c.throttle_budgets;
        if let Some(n) = file.throttle_create_import_limit {
            b.create_import = n;
        }
        if let Some(n) = file.throttle_key_create_limit {
            b.key_create = n;
        }
        if let Some(n) = file.throttle_hsm_key_create_limit {
            b.hsm_key_create = n;
        }
        // A schedule with no retention of its own keeps what finished jobs keep.
        for s in &mut c.backup_schedules {
            if s.keep_last.is_none() && s.max_age_days.is_none() {
                s.keep_last = Some(c.jobs.keep_finished_per_vault);
                s.max_age_days = Some(c.jobs.keep_finished_secs.div_ceil(86_400));
            }
        }
        c.storage_ca_file = file.storage_ca_file;
        c.key_release_authorities = file.key_release_authority;
        c.validate()?;
        Ok(c)
    }

    /// Checks the configuration's values against each other; a clear error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.dns_suffix.is_empty() || self.dns_suffix.contains(['/', ':', ' ']) {
            return Err(ServerError::Config(format!(
                "dns-suffix '{}' is not a DNS name",
                self.dns_suffix
            )));
        }
        if !self
            .domain
            .locations
            .contains_key(&self.domain.default_location)
        {
            return Err(ServerError::Config(format!(
                "default-location '{}' is not one of the configured locations",
                self.domain.default_location
            )));
        }
        if !(7..=90).contains(&self.domain.default_retention_days) {
            return Err(ServerError::Config(
                "default-retention-days must be between 7 and 90".into(),
            ));
        }
        if !(1..=keyhaven_core::VAULT_KEY_ROTATE_AFTER)
            .contains(&self.domain.vault_key_rotate_after)
        {
            return Err(ServerError::Config(format!(
                "vault-key-rotate-after-seals must be between 1 and {}",
                keyhaven_core::VAULT_KEY_ROTATE_AFTER
            )));
        }
        for s in &self.backup_schedules {
            keyhaven_model::VaultName::parse(&s.vault)
                .map_err(|e| ServerError::Config(format!("backup-schedule: {e}")))?;
            if s.every_secs == 0 {
                return Err(ServerError::Config(
                    "backup-schedule: every-secs must be at least 1".into(),
                ));
            }
            match (&s.container_url, &s.sas_token_file) {
                (None, None) => {}
                (Some(url), Some(_)) if s.dir.is_none() => {
                    // The location is checked now; the token is read at each run.
                    crate::blob_storage::Container::parse(url, Some("sig=placeholder"))
                        .map_err(|e| ServerError::Config(format!("backup-schedule: {e}")))?;
                }
                (Some(_), Some(_)) => {
                    return Err(ServerError::Config(
                        "backup-schedule: give dir or container-url, not both".into(),
                    ))
                }
                _ => {
                    return Err(ServerError::Config(
                        "backup-schedule: container-url and sas-token-file go together".into(),
                    ))
                }
            }
        }
        if !(60..=86_400).contains(&self.token_lifetime_secs) {
            return Err(ServerError::Config(
                "token-lifetime-secs must be between 60 and 86400".into(),
            ));
        }
        // Connections and the server certificate.
        self.limits.validate()?;
        self.tls.validate()?;
        if !(1..=3600).contains(&self.token_failure_window_secs) {
            return Err(ServerError::Config(
                "token-failure-window-secs must be between 1 and 3600".into(),
            ));
        }
        if self.token_verify_concurrency > 1024 || self.token_verify_wait_ms > 60_000 {
            return Err(ServerError::Config(
                "token-verify-concurrency must be at most 1024 and token-verify-wait-ms at most 60000".into(),
            ));
        }
        if self.token_cache_secs > 3600 {
            return Err(ServerError::Config(
                "token-cache-secs must be at most 3600".into(),
            ));
        }
        for a in &self.key_release_authorities {
            a.validate()?;
        }
        // Uploads, jobs, expensive work and cost-class throttling.
        if self.jobs.max_upload_bytes == 0 {
            return Err(ServerError::Config(
                "max-upload-mib must be at least 1".into(),
            ));
        }
        if self.jobs.keep_finished_per_vault == 0 {
            return Err(ServerError::Config(
                "job-retention-per-vault must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_release_authorities_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let load = |text: &str| {
            std::fs::write(&f, text).unwrap();
            Config::load(ServeArgs {
                config: Some(f.clone()),
                ..Default::default()
            })
        };
        let c = load(
            "[[key-release-authority]]\nissuer = \"https://a.attest.example\"\njwks-url = \"https://a.attest.example/certs\"\n\
             [[key-release-authority]]\nissuer = \"https://b.attest.example\"\njwks-file = \"/etc/b.json\"\n",
        )
        .unwrap();
        assert_eq!(c.key_release_authorities.len(), 2);
        assert_eq!(
            c.key_release_authorities[0].jwks_url.as_deref(),
            Some("https://a.attest.example/certs")
        );
        for (bad, says) in [
            ("issuer = \"https://a.example\"\n", "exactly one"),
            (
                "issuer = \"https://a.example\"\njwks-file = \"/x\"\njwks-url = \"https://a.example/k\"\n",
                "exactly one",
            ),
            ("issuer = \"https://a.example\"\njwks-url = \"http://a.example/k\"\n", "https"),
            ("issuer = \"not a url\"\njwks-file = \"/x\"\n", "issuer"),
            ("issuer = \"https://a.example\"\njwks-file = \"/x\"\nca-file = \"/ca\"\n", "ca-file"),
        ] {
            let err = load(&format!("[[key-release-authority]]\n{bad}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        // Plain HTTP to loopback is allowed (a local authority, tests).
        load("[[key-release-authority]]\nissuer = \"https://a.example\"\njwks-url = \"http://127.0.0.1:9/k\"\n")
            .unwrap();
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        std::fs::write(&f, "listen = \"127.0.0.1:9443\"\ndns-suffix = \"KV.example.com\"\n[locations]\nwesteurope = \"europe\"\n")
            .unwrap();
        let mut args = ServeArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        assert!(
            Config::load(args.clone()).is_err(),
            "default location must exist"
        );
        std::fs::write(&f, "listen = \"127.0.0.1:9443\"\ndns-suffix = \"KV.example.com\"\ndefault-location = \"westeurope\"\n[locations]\nwesteurope = \"europe\"\n").unwrap();
        let c = Config::load(args.clone()).unwrap();
        assert_eq!(c.listen.port(), 9443);
        assert_eq!(c.dns_suffix, "kv.example.com");
        args.listen = Some("127.0.0.1:1234".parse().unwrap());
        assert_eq!(Config::load(args.clone()).unwrap().listen.port(), 1234);
        std::fs::write(&f, "nonsense = 1\n").unwrap();
        assert!(Config::load(args).is_err(), "unknown keys are refused");
    }

    #[test]
    fn token_endpoint_limits() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let args = ServeArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        std::fs::write(&f, "").unwrap();
        let d = Config::load(args.clone()).unwrap().token_limits();
        assert_eq!((d.failure_limit, d.source_failure_limit), (10, 100));
        assert_eq!(d.cache_ttl.as_secs(), 60);
        assert!(d.verify_concurrency >= 1, "one per core by default");
        std::fs::write(
            &f,
            "token-failure-limit = 3\ntoken-source-failure-limit = 0\ntoken-failure-window-secs = 5\n\
             token-verify-concurrency = 4\ntoken-verify-wait-ms = 250\ntoken-cache-secs = 0\n",
        )
        .unwrap();
        let t = Config::load(args.clone()).unwrap().token_limits();
        assert_eq!((t.failure_limit, t.source_failure_limit), (3, 0));
        assert_eq!(t.failure_window.as_secs(), 5);
        assert_eq!(t.verify_concurrency, 4);
        assert_eq!(t.verify_wait.as_millis(), 250);
        assert!(t.cache_ttl.is_zero());
        std::fs::write(&f, "token-failure-window-secs = 0\n").unwrap();
        assert!(Config::load(args).is_err());
    }

    #[test]
    fn store_from_file_then_flag() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let mut args = ServeArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        std::fs::write(&f, "").unwrap();
        assert!(matches!(
            Config::load(args.clone()).unwrap().store,
            StoreLocation::Embedded
        ));
        std::fs::write(&f, "store = \"postgres://kh:pw@db1:5432,db2:5433/vault\"\n").unwrap();
        let c = Config::load(args.clone()).unwrap();
        match &c.store {
            StoreLocation::Postgres(url) => assert_eq!(url.hosts().len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(
            !format!("{c:?}").contains("pw@"),
            "the password is not shown"
        );
        args.store = Some("embedded".into());
        assert!(matches!(
            Config::load(args.clone()).unwrap().store,
            StoreLocation::Embedded
        ));
        for bad in ["sqlite://x", "postgres://kh@db/vault?nonsense=1"] {
            args.store = Some(bad.into());
            assert!(Config::load(args.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_limits_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let args = ServeArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        std::fs::write(&f, "").unwrap();
        assert_eq!(
            Config::load(args.clone()).unwrap().limits,
            crate::ConnectionLimits::default()
        );
        std::fs::write(
            &f,
            "max-connections = 64\ntls-handshake-timeout-secs = 5\nheader-read-timeout-secs = 7\n\
             body-read-timeout-secs = 9\nbody-total-timeout-secs = 0\nidle-timeout-secs = 11\n\
             http2-max-concurrent-streams = 13\nhttp2-max-header-list-bytes = 8192\n\
             http2-keepalive-interval-secs = 0\nhttp2-keepalive-timeout-secs = 17\n",
        )
        .unwrap();
        let l = Config::load(args.clone()).unwrap().limits;
        assert_eq!(l.max_connections, 64);
        assert_eq!(l.tls_handshake_timeout, Duration::from_secs(5));
        assert_eq!(l.header_read_timeout, Duration::from_secs(7));
        assert_eq!(l.body_read_timeout, Duration::from_secs(9));
        assert_eq!(l.body_total_timeout, None, "0: no limit");
        assert_eq!(l.idle_timeout, Duration::from_secs(11));
        assert_eq!(l.http2_max_concurrent_streams, 13);
        assert_eq!(l.http2_max_header_list_bytes, 8192);
        assert_eq!(l.http2_keepalive_interval, None, "0: no pings");
        assert_eq!(l.http2_keepalive_timeout, Duration::from_secs(17));
        for bad in [
            "max-connections = 0",
            "header-read-timeout-secs = 0",
            "idle-timeout-secs = 0",
            "body-read-timeout-secs = 0",
            "http2-max-header-list-bytes = 10",
        ] {
            std::fs::write(&f, bad).unwrap();
            assert!(Config::load(args.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn certificate_files_from_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let mut args = ServeArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        std::fs::write(&f, "").unwrap();
        let c = Config::load(args.clone()).unwrap();
        assert_eq!((c.tls.cert, c.tls.key, c.tls.leaf_days), (None, None, 30));
        std::fs::write(
            &f,
            "tls-cert = \"/etc/kv/cert.pem\"\ntls-key = \"/etc/kv/key.pem\"\ntls-leaf-days = 7\n",
        )
        .unwrap();
        let c = Config::load(args.clone()).unwrap();
        assert_eq!(c.tls.cert, Some(PathBuf::from("/etc/kv/cert.pem")));
        assert_eq!(c.tls.key, Some(PathBuf::from("/etc/kv/key.pem")));
        assert_eq!(c.tls.leaf_days, 7);
        args.tls_cert = Some("/run/a.pem".into());
        args.tls_key = Some("/run/b.pem".into());
        let c = Config::load(args.clone()).unwrap();
        assert_eq!(c.tls.cert, Some(PathBuf::from("/run/a.pem")));
        assert_eq!(c.tls.key, Some(PathBuf::from("/run/b.pem")));
        for bad in [
            "tls-cert = \"/etc/kv/cert.pem\"",
            "tls-key = \"/etc/kv/key.pem\"",
            "tls-leaf-days = 0",
            "tls-leaf-days = 400",
        ] {
            std::fs::write(&f, bad).unwrap();
            args.tls_cert = None;
            args.tls_key = None;
            assert!(Config::load(args.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn job_limits_and_throttle_budgets_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let args = ServeArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        std::fs::write(
            &f,
            "[[backup-schedule]]\nvault = \"default\"\nevery-secs = 60\n",
        )
        .unwrap();
        let c = Config::load(args.clone()).unwrap();
        assert_eq!(c.jobs, crate::JobLimits::default());
        assert_eq!(c.throttle_budgets, crate::ThrottleBudgets::default());
        assert_eq!(c.domain.heavy_work_threads, 0);
        assert_eq!(c.backup_schedules[0].keep_last, Some(10));
        assert_eq!(c.backup_schedules[0].max_age_days, Some(1));
        std::fs::write(
            &f,
            "max-upload-mib = 512\njob-retention-hours = 72\njob-retention-per-vault = 3\nheavy-work-threads = 1\n\
             throttle-create-import-limit = 30\nthrottle-key-create-limit = 2\nthrottle-hsm-key-create-limit = 0\n\
             [[backup-schedule]]\nvault = \"default\"\nevery-secs = 60\n\
             [[backup-schedule]]\nvault = \"default\"\nevery-secs = 60\nkeep-last = 48\n",
        )
        .unwrap();
        let c = Config::load(args.clone()).unwrap();
        assert_eq!(c.jobs.max_upload_bytes, 512 << 20);
        assert_eq!(c.jobs.keep_finished_secs, 72 * 3600);
        assert_eq!(c.jobs.keep_finished_per_vault, 3);
        assert_eq!(c.domain.heavy_work_threads, 1);
        assert_eq!(
            c.throttle_budgets,
            crate::ThrottleBudgets {
                create_import: 30,
                key_create: 2,
                hsm_key_create: 0
            }
        );
        assert_eq!(c.backup_schedules[0].keep_last, Some(3));
        assert_eq!(c.backup_schedules[0].max_age_days, Some(3));
        assert_eq!(
            c.backup_schedules[1].keep_last,
            Some(48),
            "its own retention"
        );
        assert_eq!(c.backup_schedules[1].max_age_days, None);
        for bad in ["max-upload-mib = 0", "job-retention-per-vault = 0"] {
            std::fs::write(&f, bad).unwrap();
            assert!(Config::load(args.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_schedule_into_a_container_is_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.toml");
        let args = ServeArgs {
            config: Some(f.clone()),
            ..Default::default()
        };
        let schedule = |rest: &str| {
            format!("[[backup-schedule]]\nvault = \"default\"\nevery-secs = 60\n{rest}")
        };
        std::fs::write(
            &f,
            schedule(
                "container-url = \"https://acct.blob.core.windows.net/backups\"\nsas-token-file = \"/run/sas\"\n",
            ),
        )
        .unwrap();
        let c = Config::load(args.clone()).unwrap();
        assert!(c.backup_schedules[0].container_url.is_some());
        for bad in [
            "container-url = \"https://acct.blob.core.windows.net/backups\"\n",
            "sas-token-file = \"/run/sas\"\n",
            "container-url = \"http://10.0.0.5/acct/backups\"\nsas-token-file = \"/run/sas\"\n",
            "container-url = \"https://acct.blob.core.windows.net/backups\"\nsas-token-file = \"/run/sas\"\ndir = \"/x\"\n",
        ] {
            std::fs::write(&f, schedule(bad)).unwrap();
            assert!(Config::load(args.clone()).is_err(), "{bad}");
        }
    }
}
