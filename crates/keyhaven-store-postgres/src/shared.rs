//! What the engine, its snapshots and transactions and its runtime's tasks share, and how one request is made.

use crate::bridge::{Bridge, OwnedRuntime};
use crate::conn::{self, Conn};
use crate::error::{is_connection_error, store_error, timed_out};
use crate::fence::Fence;
use crate::options::PostgresOptions;
use crate::pipelined::Pipelined;
use crate::pool::{Lease, Pool, Taken};
use crate::target::{Choice, Target};
use crate::url::PostgresUrl;
use keyhaven_store::StoreError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What the engine's tasks share (never the runtime itself: see [`Inner`]).
pub(crate) struct Shared {
    pub(crate) url: PostgresUrl,
    pub(crate) options: PostgresOptions,
    pub(crate) target: Target,
    pub(crate) readers: Arc<Pool>,
    pub(crate) writers: Arc<Pool>,
    /// Connections readers share.
    pub(crate) pipelined: Pipelined,
    /// Readers' calls waiting to be sent together (see [`crate::reader`]).
    pub(crate) reads: crate::read_queue::ReadQueue,
    pub(crate) fence: Arc<Fence>,
    /// The connection lease statements use (see `lease`), with the host choice's generation it was opened under.
    pub(crate) leases: tokio::sync::Mutex<Option<(u64, Arc<tokio_postgres::Client>)>>,
    /// This process as lease holders name it, and the number of the next lease it takes.
    pub(crate) node: String,
    pub(crate) lease_seq: std::sync::atomic::AtomicU64,
}

/// The engine proper, held by the engine value and by its open snapshots and transactions. It owns the runtime,
/// which is shut down when the last of them is dropped; tasks on the runtime only hold [`Shared`].
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) bridge: Bridge,
    pub(crate) _runtime: OwnedRuntime,
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
        let conn = self.open(choice)?;
        permit
            .lease(conn)
            .ok_or(StoreError::Closed)
            .and_then(with_conn)
    }

    /// The one statement that reads `keys` at once on `conn` (a `(k, v)` row per key found), bounded by the request
    /// timeout: a future for the engine's runtime.
    pub(crate) fn read_many(
        &self,
        conn: &Conn,
        keys: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<tokio_postgres::Row>, Failed>> + Send + 'static {
        let (client, statements) = (conn.client.clone(), conn.statements.clone());
        let array = crate::rows::key_array(keys);
        let limit = self.shared.options.request_timeout;
        async move {
            request(
                limit,
                "reading",
                client.query(&statements.get_many, &[&array]),
            )
            .await
        }
    }

    /// A connection to the current host that readers share (see [`crate::pipelined`]), with its slot.
    pub(crate) fn shared_conn(&self) -> Result<(usize, Conn), StoreError> {
        let choice = self.shared.target.current();
        self.shared
            .pipelined
            .get(choice.generation, || self.open(choice))
    }

    /// Opens a connection to the host of `choice` and prepares its statements.
    fn open(&self, choice: Choice) -> Result<Conn, StoreError> {
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
            Ok((client, statements)) => Ok(Conn {
                client: Arc::new(client),
                statements: Arc::new(statements),
                host: choice.host,
                generation: choice.generation,
            }),
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
