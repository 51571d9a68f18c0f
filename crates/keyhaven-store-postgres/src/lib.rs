//! The PostgreSQL engine: the store's ordered keys and values in one table of a PostgreSQL database, for several
//! Keyhaven nodes over one database and for a read-only Keyhaven on a hot standby after a failover.
//!
//! - **Threads.** Engine calls are synchronous and come from any thread, Tokio workers included. The engine
//!   drives its connections on a small runtime of its own and callers wait on plain channels (see [`bridge`]),
//!   so no call ever blocks on a runtime.
//! - **Snapshots** are `REPEATABLE READ READ ONLY` transactions on a pooled connection held for the snapshot's
//!   life and rolled back (in the background) when it is dropped. The `BEGIN` is queued without waiting and is
//!   answered together with the first read: one round trip for a point read (see [`fence`] for why that keeps
//!   the point in time).
//! - **Write transactions** are `READ COMMITTED` and first take one transaction-scoped advisory lock, so write
//!   transactions are serialized across every node on the database as the store's committer serializes them
//!   within one process. Writes are buffered (the last write of a key wins) and sent, with one statement for
//!   the puts and one for the deletes, pipelined with whatever comes next (a scan, or `COMMIT`).
//! - **Failover** (see [`failover`]): the URL may name several servers; the engine uses one at a time,
//!   preferring a primary, serves reads from a standby when no primary answers (writes then fail with
//!   [`StoreError::ReadOnly`]) and moves back to read-write as soon as a server is promoted.
//!
//! Storage is outside the trust boundary: the engine only sees opaque keys and values.

mod bridge;
mod conn;
mod error;
mod failover;
mod fence;
mod pool;
mod schema;
mod snapshot;
mod txn;
mod url;

pub use error::PostgresError;
pub use schema::SCHEMA_VERSION;
pub use url::{HostAddr, PostgresUrl};

use bridge::{Bridge, OwnedRuntime};
use conn::{Conn, Role};
use error::{is_connection_error, store_error, timed_out};
use failover::Target;
use fence::Fence;
use keyhaven_store::{Engine, EngineMode, EngineTxn, Snapshot, StoreError};
use pool::{Lease, Pool, Taken};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Tuning of a [`PostgresEngine`]; the defaults suit a server.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections for snapshots (each snapshot holds one while it lives).
    pub snapshot_connections: usize,
    /// Connections for write transactions (the store's committer uses one at a time).
    pub write_connections: usize,
    /// How long to wait for a free connection before failing with `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long connecting to one server may take (the URL's `connect_timeout` wins when given).
    pub connect_timeout: Duration,
    /// How long one request may wait for its answer (a write waits here too for other nodes' writes).
    pub request_timeout: Duration,
    /// How often the current server is asked whether it is still there and still what it was.
    pub check_interval: Duration,
    /// Threads of the engine's own runtime.
    pub threads: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            snapshot_connections: 16,
            write_connections: 2,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(60),
            check_interval: Duration::from_secs(1),
            threads: 2,
        }
    }
}

/// What the engine's tasks share (never the runtime itself: see [`Inner`]).
pub(crate) struct Shared {
    pub(crate) url: PostgresUrl,
    pub(crate) options: PostgresOptions,
    pub(crate) target: Target,
    pub(crate) readers: Arc<Pool>,
    pub(crate) writers: Arc<Pool>,
    pub(crate) fence: Arc<Fence>,
}

/// The engine proper, held by the engine value and by its open snapshots and transactions. It owns the runtime,
/// which is shut down when the last of them is dropped; tasks on the runtime only hold [`Shared`].
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) bridge: Bridge,
    _runtime: OwnedRuntime,
}

/// A failed request: the error to report, and whether its connection is of no further use.
pub(crate) struct Failed {
    pub(crate) error: StoreError,
    pub(crate) broken: bool,
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Self {
        Failed {
            error: store_error(&e),
            broken: is_connection_error(&e),
        }
    }
}

/// `fut` with a time limit; a request that times out leaves its connection in an unknown state.
pub(crate) async fn request<T>(
    limit: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Failed> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(Failed::from),
        Err(_) => Err(Failed {
            error: timed_out(what),
            broken: true,
        }),
    }
}

impl Inner {
    /// A connection to the current host from `pool`, opening one if the pool has room.
    pub(crate) fn lease(&self, pool: &Arc<Pool>) -> Result<(Lease, Conn), StoreError> {
        let choice = self.shared.target.current();
        let permit = match pool.take(choice.generation, self.shared.options.acquire_timeout)? {
            Taken::Idle(lease) => return with_conn(lease),
            Taken::MayOpen(permit) => permit,
        };
        let shared = self.shared.clone();
        let opened = self.bridge.run(async move {
            let limit = shared.options.connect_timeout;
            let (client, role) = conn::open(&shared.url, choice.host, limit).await?;
            let statements = tokio::time::timeout(limit, conn::prepare(&client))
                .await
                .map_err(|_| timed_out("preparing statements"))??;
            shared.target.observe(choice.host, role);
            Ok::<_, StoreError>((client, statements))
        })?;
        match opened {
            Ok((client, statements)) => {
                let conn = Conn {
                    client: Arc::new(client),
                    statements: Arc::new(statements),
                    host: choice.host,
                    generation: choice.generation,
                };
                permit
                    .lease(conn)
                    .ok_or(StoreError::Closed)
                    .and_then(with_conn)
            }
            Err(e) => {
                self.shared.target.poke.notify_one();
                Err(e)
            }
        }
    }

    /// Reports a failed request: a broken connection wakes the failover watcher.
    pub(crate) fn failed(&self, f: &Failed) {
        if f.broken {
            self.shared.target.poke.notify_one();
        }
    }
}

fn with_conn(lease: Lease) -> Result<(Lease, Conn), StoreError> {
    let conn = lease.conn().cloned();
    conn.map(|c| (lease, c)).ok_or(StoreError::Closed)
}

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
            target: Target::new(host, role),
            fence: Arc::new(Fence::default()),
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
}
