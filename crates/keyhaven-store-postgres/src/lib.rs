//! The PostgreSQL engine: the store's ordered keys and values in one table of a PostgreSQL database, for several
//! Keyhaven nodes over one database and for a read-only Keyhaven on a hot standby after a failover.
//!
//! - **Threads.** Engine calls are synchronous and come from any thread, Tokio workers included. The engine
//!   drives its connections on a small runtime of its own and callers wait on plain channels (see the `bridge`
//!   module), so no call ever blocks on a runtime.
//! - **Snapshots** are `REPEATABLE READ READ ONLY` transactions on a pooled connection held for the snapshot's
//!   life and rolled back (in the background) when it is dropped. The `BEGIN` is queued without waiting and is
//!   answered together with the first read: one round trip for a point read (see the `fence` module for why that
//!   keeps the point in time for this engine's own commits; another node's commit that lands between `snapshot()`
//!   and the first read is in the snapshot, whose instant is then that first read).
//! - **Readers** (`Engine::reader`, for a request's point reads) hold no transaction: concurrent `get_many` calls
//!   are answered by one statement in autocommit mode on a connection readers share (see the `reader` module).
//! - **Write transactions** are `READ COMMITTED` and first take one transaction-scoped advisory lock, so write
//!   transactions are serialized across every node on the database as the store's committer serializes them
//!   within one process. Writes are buffered (the last write of a key wins) and sent, with one statement for
//!   the puts and one for the deletes, pipelined with whatever comes next (a scan, or `COMMIT`).
//! - **Failover** (see the `failover` module): the URL may name several servers; the engine uses one at a time,
//!   preferring a primary, serves reads from a standby when no primary answers (writes then fail with
//!   [`StoreError::ReadOnly`](keyhaven_store::StoreError::ReadOnly)) and moves back to read-write as soon as a
//!   server is promoted.
//!
//! - **Leases** (see the `lease` module): rows of `keyhaven_leases`, kept alive by the holder, lapsing after their
//!   time to live when a node dies, so that background work runs on one node at a time.
//!
//! Storage is outside the trust boundary: the engine only sees opaque keys and values.
#![warn(missing_docs)]

mod bridge;
mod conn;
mod engine;
mod error;
mod failover;
mod fence;
mod lease;
mod options;
mod pipelined;
mod pool;
mod read_queue;
mod reader;
mod rows;
mod schema;
mod shared;
mod snapshot;
mod target;
mod txn;
mod url;

pub use engine::PostgresEngine;
pub use error::PostgresError;
pub use options::PostgresOptions;
pub use schema::SCHEMA_VERSION;
pub use url::{HostAddr, PostgresUrl};
