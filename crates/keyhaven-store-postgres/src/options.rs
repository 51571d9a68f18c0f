//! How a [`crate::PostgresEngine`] is tuned.

use std::time::Duration;

/// Tuning of a [`PostgresEngine`](crate::PostgresEngine); the defaults suit a server.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections for snapshots (each snapshot holds one while it lives).
    pub snapshot_connections: usize,
    /// Connections for write transactions (the store's committer uses one at a time).
    pub write_connections: usize,
    /// Connections readers share, their point reads pipelined (see `Engine::reader`).
    pub reader_connections: usize,
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
            reader_connections: 2,
            acquire_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(60),
            check_interval: Duration::from_secs(1),
            threads: 2,
        }
    }
}
