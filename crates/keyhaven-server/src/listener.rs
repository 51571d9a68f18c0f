//! Starting, serving and stopping: bind, prepare the data directory, accept TLS connections (HTTP/1.1 and
//! HTTP/2), run background tasks, and shut down gracefully on request or on SIGTERM/SIGINT.

use crate::bootstrap::{self, AdminCredential};
use crate::config::Config;
use crate::http;
use crate::state::{AppState, Shared};
use crate::tokens::TokenService;
use crate::ConnectionLimits;
use crate::ServerError;
use keyhaven_model::{Clock, SystemClock};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

/// A server running in this process.
pub struct RunningServer {
    /// The address the server listens on (the one actually bound, when port 0 was asked for).
    pub addr: SocketAddr,
    /// The local CA certificate clients must trust (not used when `tls_cert_file` is set).
    pub ca_file: PathBuf,
    /// The operator's certificate, when one is configured (`tls-cert`).
    pub tls_cert_file: Option<PathBuf>,
    /// `https://{public host}:{port}`: where clients get tokens.
    pub authority: String,
    /// The URL of the `default` vault.
    pub vault_url: String,
    /// The deployment's tenant, which tokens are issued in.
    pub tenant_id: String,
    /// The administrator's credential, when the data directory holds it.
    pub admin: Option<AdminCredential>,
    /// Whether this start created the deployment (and with it the admin credential).
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

    // The certificate first: a TLS configuration error stops the start before the store is opened.
    let tls_dir = config.data_dir.join("tls");
    let tls = crate::tls::prepare(
        &tls_dir,
        &crate::tls::Names {
            dns_suffix: &config.dns_suffix,
            public_host: &config.public_host,
            extra: &config.tls_names,
        },
        &config.tls,
    )?;
    let cfg = config.clone();
    let c = clock.clone();
    let prepared = tokio::task::spawn_blocking(move || bootstrap::prepare(&cfg, c))
        .await
        .map_err(|e| ServerError::Config(format!("start-up task failed: {e}")))??;
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
    let storage_client =
        crate::blob_storage::StorageClient::new(config.storage_ca_file.as_deref())?;
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
    if audit.enabled() {
        audit
            .keep_receipts(prepared.store.clone())
            .await
            .map_err(ServerError::io(format!(
                "writing the audit records kept in the store to {}",
                config.audit.dir.display()
            )))?;
    }
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
        storage: crate::blob_storage::StorageBackups::new(storage_client.clone()),
        attestation: crate::key_release::Authorities::new(&config.key_release_authorities)?,
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
        let target = match (&s.container_url, &s.sas_token_file) {
            (Some(url), Some(sas)) => crate::schedule::Target::Container {
                client: storage_client.clone(),
                url: url.clone(),
                sas_token_file: sas.clone(),
            },
            _ => crate::schedule::Target::Dir(
                s.dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("scheduled-backups").join(&s.vault)),
            ),
        };
        tokio::spawn(crate::schedule::schedule_loop(
            prepared.kh.clone(),
            s.clone(),
            target,
            i,
            schedules.clone(),
            rx.clone(),
        ));
    }
    let store = prepared.store.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
    tokio::spawn(crate::tls::maintain(tls.resolver, rx.clone()));
    let limits = config.limits.clone();
    let task = tokio::spawn(async move {
        accept_loop(listener, acceptor, app, limits, rx).await;
        let _ = purge.await;
        let _ = tokio::task::spawn_blocking(move || audit.close()).await;
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        tracing::info!("stopped");
    });
    Ok(RunningServer {
        addr,
        ca_file: tls_dir.join("ca.pem"),
        tls_cert_file: config.tls.cert.clone(),
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
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let limits = Arc::new(limits);
    // One permit per open connection. At the cap the loop stops accepting: new connections wait in the
    // kernel's listen backlog (first come, first served) until one closes, and the timeouts bound how long that
    // is. Accepting only to close at once would turn a flood into a busy loop, and fail the clients that were
    // first to wait.
    let open = Arc::new(Semaphore::new(limits.max_connections as usize));
    let mut last_full_log: Option<Instant> = None;
    loop {
        let permit = match open.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if last_full_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    last_full_log = Some(Instant::now());
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached; new connections wait until one closes"
                    );
                }
                tokio::select! {
                    p = open.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = stop.changed() => break,
                }
            }
        };
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
                let (acceptor, app, limits, stop) =
                    (acceptor.clone(), app.clone(), limits.clone(), stop.clone());
                tokio::spawn(async move {
                    crate::connection::serve(tcp, peer, acceptor, app, limits, stop).await;
                    drop(permit);
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    // Every connection has been told to close gracefully; wait for all their permits.
    let all = limits.max_connections;
    tokio::select! {
        _ = open.acquire_many(all) => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open after 10 s; closing"),
    }
}

/// Background work on the injected clock. On every node: add the seals this node made to its vaults' counts and
/// rotate vault data keys that reached their number of seals (the counts are per node; adding them is a
/// serialized read-modify-write, so several nodes add up and rotate once). On one node at a time (the holder of
/// the `maintenance` lease, see `leader`): purge deleted objects past their date, run key and certificate
/// lifetime actions, roll back vault restores whose node died.
async fn maintenance_loop(
    kh: Arc<keyhaven_core::Keyhaven>,
    every: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    let mut leader = crate::leader::Leadership::new("maintenance");
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match kh.rotate_worn_vault_keys().await {
                    Ok(_) | Err(keyhaven_core::Error::ReadOnly) => {}
                    Err(e) => tracing::warn!(error = %e, "counting seals and rotating worn vault keys failed"),
                }
                if !leader.is_mine(&kh).await {
                    continue;
                }
                match kh.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "purged deleted objects past their scheduled purge date"),
                    Err(e) => tracing::warn!(error = %e, "purging expired objects failed"),
                }
                match kh.purge_expired_vaults().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "purged deleted vaults past their retention"),
                    Err(e) => tracing::warn!(error = %e, "purging expired deleted vaults failed"),
                }
                if let Err(e) = kh.run_lifetime_actions().await {
                    tracing::warn!(error = %e, "running key lifetime actions failed");
                }
                let k = kh.clone();
                match tokio::task::spawn_blocking(move || k.recover_interrupted_restores()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "rolling back abandoned vault restores failed"),
                    Err(e) => tracing::warn!(error = %e, "rolling back abandoned vault restores failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Runs the server until SIGTERM or SIGINT, printing how to connect.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    let data_dir = config.data_dir.clone();
    let server = start(config, Arc::new(SystemClock)).await?;
    println!("Keyhaven is listening on https://{}", server.addr);
    println!("  default vault:  {}", server.vault_url);
    println!(
        "  token authority: {}/{}",
        server.authority, server.tenant_id
    );
    match &server.tls_cert_file {
        Some(cert) => println!("  certificate:    {}", cert.display()),
        None => println!("  trust this CA:  {}", server.ca_file.display()),
    }
    match &server.admin {
        Some(_) => println!(
            "  credential:     {} (tenantId, clientId, clientSecret)",
            data_dir.join("admin-credential.json").display()
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
