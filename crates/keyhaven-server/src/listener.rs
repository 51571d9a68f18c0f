//! Starting, serving and stopping: bind, prepare the data directory, accept TLS connections (HTTP/1.1 and
//! HTTP/2), run background tasks, and shut down gracefully on request or on SIGTERM/SIGINT.

use crate::bootstrap::{self, AdminCredential};
use crate::config::Config;
use crate::http;
use crate::state::{AppState, Shared};
use crate::tokens::TokenService;
use crate::ServerError;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use keyhaven_model::{Clock, SystemClock};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The CA certificate clients must trust.
    pub ca_file: PathBuf,
    /// `https://{public host}:{port}`: where clients get tokens.
    pub authority: String,
    /// The URL of the `default` vault.
    pub vault_url: String,
    pub tenant_id: String,
    /// The administrator's credential, when the data directory holds it.
    pub admin: Option<AdminCredential>,
    pub first_start: bool,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish (up to 10 s), closes the store.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Starts a server with `config`; it runs until [`RunningServer::stop`].
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<RunningServer, ServerError> {
    config.validate()?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(ServerError::io(format!("listening on {}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(ServerError::io("reading the bound address"))?;
    let port = config.public_port.unwrap_or(addr.port());
    let port_suffix = if port == 443 {
        String::new()
    } else {
        format!(":{port}")
    };
    let authority = format!("https://{}{port_suffix}", config.public_host);
    let vault_url = format!("https://default.{}{port_suffix}", config.dns_suffix);

    let cfg = config.clone();
    let c = clock.clone();
    let prepared = tokio::task::spawn_blocking(move || bootstrap::prepare(&cfg, c))
        .await
        .map_err(|e| ServerError::Config(format!("start-up task failed: {e}")))??;
    let tls_dir = config.data_dir.join("tls");
    let tls = crate::tls::prepare(&tls_dir, &config.dns_suffix, &config.tls_names)?;
    let admin = bootstrap::admin_credential(
        &config,
        &prepared.kh,
        prepared.fresh,
        &authority,
        &vault_url,
    )?;
    let tenant_id = prepared.kh.deployment()?.tenant_id;
    let tokens = TokenService::new(
        prepared.signer,
        clock,
        tenant_id.clone(),
        config.token_lifetime_secs,
    );
    let schedules: crate::schedule::Statuses = Arc::new(std::sync::Mutex::new(
        config
            .backup_schedules
            .iter()
            .map(|s| crate::schedule::ScheduleStatus {
                vault: s.vault.clone(),
                ..Default::default()
            })
            .collect(),
    ));
    let name_key = if config.audit.hash_names {
        Some(prepared.kh.derived_key("audit-names")?)
    } else {
        None
    };
    let audit = crate::audit::AuditLog::open(&config.audit, name_key).map_err(ServerError::io(
        format!("opening the audit log in {}", config.audit.dir.display()),
    ))?;
    let state = AppState(Arc::new(Shared {
        kh: prepared.kh.clone(),
        tokens,
        dns_suffix: config.dns_suffix.clone(),
        public_port: port,
        authority: authority.clone(),
        management_hosts: crate::state::management_hosts(&config.public_host, &config.tls_names),
        store_name: prepared.store.engine_name(),
        jobs: crate::jobs::Jobs::new(
            config.data_dir.join("backups"),
            config.jobs.clone(),
            prepared.kh.clock(),
            Duration::from_secs(config.purge_interval_secs),
        )?,
        schedules: schedules.clone(),
        audit: audit.clone(),
        throttle: crate::throttle::Throttle::new(
            config.throttle_limit,
            Duration::from_millis(config.throttle_window_ms),
            config.throttle_budgets.clone(),
        ),
    }));
    let app = http::router(state);
    let (tx, rx) = watch::channel(false);
    let purge = tokio::spawn(maintenance_loop(
        prepared.kh.clone(),
        config.purge_interval_secs,
        rx.clone(),
    ));
    for (i, s) in config.backup_schedules.iter().enumerate() {
        let dir = s
            .dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("scheduled-backups").join(&s.vault));
        tokio::spawn(crate::schedule::schedule_loop(
            prepared.kh.clone(),
            s.clone(),
            dir,
            i,
            schedules.clone(),
            rx.clone(),
        ));
    }
    let store = prepared.store.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let task = tokio::spawn(async move {
        accept_loop(listener, acceptor, app, rx).await;
        let _ = purge.await;
        let _ = tokio::task::spawn_blocking(move || audit.close()).await;
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        tracing::info!("stopped");
    });
    Ok(RunningServer {
        addr,
        ca_file: tls_dir.join("ca.pem"),
        authority,
        vault_url,
        tenant_id,
        admin,
        first_start: prepared.fresh,
        shutdown: tx,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let svc = TowerToHyperService::new(tower::ServiceExt::map_request(
                    app.clone(),
                    move |mut req: ::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(crate::http::Peer(peer));
                        req
                    },
                ));
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let conn = builder.serve_connection(TokioIo::new(tls), svc);
                    let _ = watcher.watch(conn).await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open after 10 s; closing"),
    }
}

/// Background work on the injected clock: purge deleted objects past their date, run key lifetime actions,
/// rotate vault data keys that reached their number of seals.
async fn maintenance_loop(
    kh: Arc<keyhaven_core::Keyhaven>,
    every: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match kh.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "purged deleted objects past their scheduled purge date"),
                    Err(e) => tracing::warn!(error = %e, "purging expired objects failed"),
                }
                if let Err(e) = kh.run_lifetime_actions().await {
                    tracing::warn!(error = %e, "running key lifetime actions failed");
                }
                if let Err(e) = kh.rotate_worn_vault_keys().await {
                    tracing::warn!(error = %e, "counting seals and rotating worn vault keys failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Runs the server until SIGTERM or SIGINT, printing how to connect.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    let server = start(config, Arc::new(SystemClock)).await?;
    println!("Keyhaven is listening on https://{}", server.addr);
    println!("  default vault:  {}", server.vault_url);
    println!(
        "  token authority: {}/{}",
        server.authority, server.tenant_id
    );
    println!("  trust this CA:  {}", server.ca_file.display());
    match &server.admin {
        Some(_) => println!(
            "  credential:     {} (tenantId, clientId, clientSecret)",
            server
                .ca_file
                .parent()
                .and_then(|p| p.parent())
                .map(|d| d.join("admin-credential.json").display().to_string())
                .unwrap_or_default()
        ),
        None => {
            println!("  credential:     admin-credential.json is missing from the data directory")
        }
    }
    wait_for_signal().await;
    println!("Shutting down…");
    server.stop().await;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
