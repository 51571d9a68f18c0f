//! Why the engine could not open, and how database errors become [`StoreError`]s.

use keyhaven_store::StoreError;
use tokio_postgres::error::SqlState;

/// Why a PostgreSQL engine could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The URL could not be used (the message shows it with any password redacted).
    #[error("invalid PostgreSQL URL {0}")]
    InvalidUrl(String),
    /// No server named in the URL answered.
    #[error("no PostgreSQL server could be reached: {0}")]
    Unreachable(String),
    /// The database holds a schema written by a newer Keyhaven.
    #[error(
        "the database schema is version {found}, newer than this Keyhaven supports ({supported}); \
         upgrade Keyhaven before starting it against this database"
    )]
    SchemaTooNew {
        /// The schema version the database holds.
        found: i32,
        /// The newest schema version this Keyhaven knows ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
        supported: i32,
    },
    /// The schema must be created or upgraded, and only hot standbys are reachable.
    #[error(
        "the database schema is version {found} and this Keyhaven needs {supported}, but only read-only \
         (standby) servers are reachable to upgrade it"
    )]
    SchemaNeedsPrimary {
        /// The schema version the database holds (0 if it has none yet).
        found: i32,
        /// The schema version this Keyhaven needs ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
        supported: i32,
    },
    /// The server answered with an error.
    #[error("PostgreSQL: {0}")]
    Database(String),
    /// The engine's own threads could not be started.
    #[error("starting the PostgreSQL engine's threads: {0}")]
    Runtime(#[source] std::io::Error),
}

impl From<PostgresError> for StoreError {
    fn from(e: PostgresError) -> Self {
        StoreError::unavailable(e)
    }
}

/// A database error in a form fit for logs: the SQLSTATE and message for server errors, the cause otherwise.
/// Never includes parameters (keys and values).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// A database error as the store reports it: a write refused because the server is read-only (a hot standby, or
/// a transaction begun while it was one) is [`StoreError::ReadOnly`], everything else is unavailability.
pub(crate) fn store_error(e: &tokio_postgres::Error) -> StoreError {
    if is_read_only(e) {
        StoreError::ReadOnly
    } else {
        StoreError::unavailable(format!("PostgreSQL: {}", describe(e)))
    }
}

pub(crate) fn is_read_only(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
}

/// Whether the connection that gave `e` is of no further use (closed, broken, or answering in a way that leaves
/// its state unknown), as opposed to a statement error on a healthy connection.
pub(crate) fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none()
}

pub(crate) fn timed_out(what: &str) -> StoreError {
    StoreError::unavailable(format!("PostgreSQL did not answer in time ({what})"))
}
