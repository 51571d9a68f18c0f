//! Test support: a real Keyhaven server on `127.0.0.1:0` over a temporary data directory, with helpers to reach
//! its vaults as the official SDKs do (HTTPS with the server's CA, `*.vault.localhost` pinned to loopback).
#![warn(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod postgres;

pub use postgres::TestPostgres;

use keyhaven_model::{Clock, ManualClock, SystemClock};
use keyhaven_server::{AdminCredential, Config, RunningServer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A server running inside the test process.
pub struct TestServer {
    /// The running server; `None` between [`stop`](TestServer::stop) and [`restart`](TestServer::restart).
    pub server: Option<RunningServer>,
    /// The temporary directory holding the data directory (`data/`); removed when the `TestServer` is dropped.
    pub dir: tempfile::TempDir,
    /// The address the server listens on (`127.0.0.1`, a port chosen at the first start and kept across
    /// restarts).
    pub addr: SocketAddr,
    /// The admin credential the first start created (tenant, client id and secret).
    pub admin: AdminCredential,
    /// The server's clock when the test drives it; `None` for the wall clock.
    pub clock: Option<Arc<ManualClock>>,
}

impl TestServer {
    /// A server with the wall clock and default settings.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}, None).await
    }

    /// A server whose clock moves only when the test says so.
    pub async fn start_with_manual_clock() -> TestServer {
        Self::start_with(|_| {}, Some(Arc::new(ManualClock::starting_now()))).await
    }

    /// A server with `adjust` applied to the test defaults (loopback, any port, `warn` logs, purge every
    /// second, throttling off) and the given clock (`None`: the wall clock). Panics if it does not start.
    pub async fn start_with(
        adjust: impl FnOnce(&mut Config),
        clock: Option<Arc<ManualClock>>,
    ) -> TestServer {
        Self::start_in(tempfile::tempdir().expect("temp dir"), adjust, clock).await
    }

    /// A server (wall clock, test defaults) whose store is the `keyhaven` database of `pg`.
    pub async fn start_on_postgres(pg: &TestPostgres) -> TestServer {
        let url = pg.url();
        Self::start_with(move |c| c.store = postgres_store(&url), None).await
    }

    /// Another node of this server's deployment, as docs/postgres.md says to start one: a data directory of its
    /// own holding copies of this server's deployment keys (`root.key`, `token-signing-key.pem`), its admin
    /// credential and its TLS files (clients trust one CA), with the test defaults, `adjust` (which names the
    /// store: this server's PostgreSQL database) and `clock`. Panics if it does not start.
    pub async fn start_node(
        &self,
        adjust: impl FnOnce(&mut Config),
        clock: Option<Arc<ManualClock>>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (from, to) = (self.data_dir(), dir.path().join("data"));
        private_dir_like(&from, &to);
        for f in ["root.key", "token-signing-key.pem", "admin-credential.json"] {
            std::fs::copy(from.join(f), to.join(f)).unwrap_or_else(|e| panic!("copying {f}: {e}"));
        }
        private_dir_like(&from.join("tls"), &to.join("tls"));
        for f in files_under(&from.join("tls")) {
            let rel = f.strip_prefix(&from).unwrap();
            std::fs::copy(&f, to.join(rel))
                .unwrap_or_else(|e| panic!("copying {}: {e}", rel.display()));
        }
        Self::start_in(dir, adjust, clock).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Config),
        clock: Option<Arc<ManualClock>>,
    ) -> TestServer {
        let mut config = Config::with_data_dir(&dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.log = "warn".into();
        config.purge_interval_secs = 1;
        // Tests load one vault far beyond Azure's limits; those about throttling turn it on.
        config.throttle_limit = 0;
        adjust(&mut config);
        let c: Arc<dyn Clock> = match &clock {
            Some(m) => m.clone(),
            None => Arc::new(SystemClock),
        };
        let server = keyhaven_server::start(config, c)
            .await
            .expect("server starts");
        let admin = server
            .admin
            .clone()
            .expect("the first start makes an admin credential (another node copies it)");
        TestServer {
            addr: server.addr,
            server: Some(server),
            dir,
            admin,
            clock,
        }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file of the local CA certificate the server's TLS certificate chains to (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("tls/ca.pem")
    }

    /// The local CA certificate, PEM, to trust in clients.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca_file()).expect("CA file")
    }

    /// `https://{vault}.vault.localhost:{port}`.
    pub fn vault_url(&self, vault: &str) -> String {
        format!("https://{vault}.vault.localhost:{}", self.port())
    }

    /// `https://localhost:{port}`.
    pub fn authority(&self) -> String {
        format!("https://localhost:{}", self.port())
    }

    /// A reqwest client builder that trusts the server's CA and pins `localhost` and the given vaults' host
    /// names to the server's address.
    pub fn http_builder(&self, vaults: &[&str]) -> reqwest::ClientBuilder {
        let mut b = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", self.addr);
        for v in vaults {
            b = b.resolve(&format!("{v}.vault.localhost"), self.addr);
        }
        b
    }

    /// [`http_builder`](TestServer::http_builder), built.
    pub fn http(&self, vaults: &[&str]) -> reqwest::Client {
        self.http_builder(vaults).build().unwrap()
    }

    /// An access token for the data plane, as the admin.
    pub async fn admin_token(&self) -> String {
        self.token_for(&format!("https://vault.localhost:{}", self.port()))
            .await
    }

    /// An access token for management (`/_keyhaven/*`, the Resource Manager subset), as the admin.
    pub async fn management_token(&self) -> String {
        self.token_for(&self.authority()).await
    }

    /// An access token for `resource`, as the admin.
    pub async fn token_for(&self, resource: &str) -> String {
        let resp = self
            .http(&[])
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.authority(),
                self.admin.tenant_id
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.admin.client_id.as_str()),
                ("client_secret", self.admin.client_secret.as_str()),
                ("scope", &format!("{resource}/.default")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "token request");
        let v: serde_json::Value = resp.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Creates a vault through the management API.
    pub async fn create_vault(&self, name: &str) {
        let token = self.management_token().await;
        let resp = self
            .http(&[])
            .put(format!("{}/_keyhaven/vaults/{name}", self.authority()))
            .bearer_auth(token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "create vault {name}: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Stops the server (graceful), keeping the data directory.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }

    /// Starts the server again over the same data directory, port and clock, with the test defaults (an `adjust`
    /// given to [`start_with`](TestServer::start_with) is not applied again). Panics if it does not start, e.g.
    /// when the port was taken meanwhile.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut config = Config::with_data_dir(&self.data_dir());
        config.listen = self.addr;
        config.log = "warn".into();
        config.purge_interval_secs = 1;
        config.throttle_limit = 0;
        let c: Arc<dyn Clock> = match &self.clock {
            Some(m) => m.clone(),
            None => Arc::new(SystemClock),
        };
        self.server = Some(
            keyhaven_server::start(config, c)
                .await
                .expect("server restarts"),
        );
    }
}

/// The store setting for a PostgreSQL URL.
pub fn postgres_store(url: &str) -> keyhaven_server::StoreLocation {
    keyhaven_server::StoreLocation::parse(url).expect("a PostgreSQL URL")
}

/// Creates the directory `to` (readable by its owner only, as the server makes its data directory) for a copy of
/// the directory `from`.
fn private_dir_like(from: &Path, to: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    assert!(from.is_dir(), "{} is a directory", from.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)
        .unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
