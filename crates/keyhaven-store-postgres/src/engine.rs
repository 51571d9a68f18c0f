//! The engine: opening a database and the `Engine` contract over it.

use crate::bridge::{Bridge, OwnedRuntime};
use crate::conn::{self, Role};
use crate::fence::Fence;
use crate::options::PostgresOptions;
use crate::pool::Pool;
use crate::shared::{Inner, Shared};
use crate::target::Target;
use crate::url::PostgresUrl;
use crate::PostgresError;
use crate::{failover, lease, reader, schema, snapshot, txn};
use keyhaven_store::{Engine, EngineMode, EngineTxn, Lease, Reader, Snapshot, StoreError};
use std::sync::Arc;

/// The store in a PostgreSQL database. See the crate documentation.
pub struct PostgresEngine {
    inner: Arc<Inner>,
}

impl PostgresEngine {
    /// Opens the database at `url` (`postgres://user@host:port/db`, or several `host:port` separated by commas)
    /// with default options: picks a server, creates or upgrades the schema, starts watching for failover.
    pub fn open(url: &str) -> Result<PostgresEngine, PostgresError> {
        Self::open_with(PostgresUrl::parse(url)?, PostgresOptions::default())
    }

    /// [`PostgresEngine::open`] with a parsed URL and options.
    pub fn open_with(
        url: PostgresUrl,
        mut options: PostgresOptions,
    ) -> Result<PostgresEngine, PostgresError> {
        if let Some(t) = url.config.get_connect_timeout() {
            options.connect_timeout = *t;
        }
        let runtime = OwnedRuntime::new(options.threads).map_err(PostgresError::Runtime)?;
        let handle = runtime
            .handle()
            .ok_or_else(|| PostgresError::Runtime(std::io::Error::other("no runtime")))?;
        let bridge = Bridge::new(handle);
        let probe_url = url.clone();
        let probe_options = options.clone();
        let (host, role) = bridge
            .run(async move { prepare_database(&probe_url, &probe_options).await })
            .map_err(|e| PostgresError::Unreachable(e.to_string()))??;
        let shared = Arc::new(Shared {
            readers: Pool::new("snapshot", options.snapshot_connections),
            writers: Pool::new("write", options.write_connections),
            pipelined: crate::pipelined::Pipelined::new(options.reader_connections),
            reads: crate::read_queue::ReadQueue::new(options.reader_connections),
            target: Target::new(host, role),
            fence: Arc::new(Fence::default()),
            leases: Default::default(),
            node: lease::node_name(),
            lease_seq: Default::default(),
            url,
            options,
        });
        bridge.spawn(failover::watch(shared.clone()));
        let shown = shared.url.hosts().get(host).map(|h| h.to_string());
        tracing::info!(
            host = shown.unwrap_or_default(),
            read_only = role == Role::Standby,
            "PostgreSQL store open"
        );
        Ok(PostgresEngine {
            inner: Arc::new(Inner {
                shared,
                bridge,
                _runtime: runtime,
            }),
        })
    }

    /// The server in use now, as `host:port`.
    pub fn current_host(&self) -> String {
        let host = self.inner.shared.target.current().host;
        self.inner
            .shared
            .url
            .hosts()
            .get(host)
            .map(|h| h.to_string())
            .unwrap_or_default()
    }
}

/// Picks the server to start on and brings its schema up to date (or checks it, on a standby).
async fn prepare_database(
    url: &PostgresUrl,
    options: &PostgresOptions,
) -> Result<(usize, Role), PostgresError> {
    let (host, _) = failover::choose(url, options.connect_timeout, None)
        .await
        .map_err(PostgresError::Unreachable)?;
    let (client, role) = conn::open(url, host, options.connect_timeout)
        .await
        .map_err(|e| PostgresError::Unreachable(e.to_string()))?;
    match role {
        Role::Primary => {
            schema::migrate(&client).await?;
        }
        Role::Standby => schema::check(&client).await?,
    }
    Ok((host, role))
}

impl Engine for PostgresEngine {
    fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        Ok(Box::new(snapshot::PgSnapshot::begin(self.inner.clone())?))
    }

    fn reader(&self) -> Result<Box<dyn Reader>, StoreError> {
        Ok(Box::new(reader::PgReader::new(self.inner.clone())))
    }

    fn begin(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        Ok(Box::new(txn::PgTxn::begin(self.inner.clone(), false)?))
    }

    fn begin_deferred(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        Ok(Box::new(txn::PgTxn::begin(self.inner.clone(), true)?))
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    fn mode(&self) -> EngineMode {
        match self.inner.shared.target.current().role {
            Role::Primary => EngineMode::ReadWrite,
            Role::Standby => EngineMode::ReadOnly,
        }
    }

    fn try_lease(&self, name: &str, ttl: std::time::Duration) -> Result<Option<Lease>, StoreError> {
        lease::try_take(&self.inner, name, ttl)
    }
}
