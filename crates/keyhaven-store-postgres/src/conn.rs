//! One connection to one server: opened over a socket of our own (so that each host of a multi-host URL is
//! reached on its own, with our time limit), its protocol task on the engine's runtime, its statements prepared.

use crate::error::{describe, store_error, timed_out};
use crate::url::{HostAddr, PostgresUrl};
use keyhaven_store::StoreError;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Client, NoTls, Statement};

/// The one table of keys and values.
pub(crate) const GET: &str = "SELECT v FROM keyhaven_kv WHERE k = $1";
/// Several keys in one statement (so from one snapshot of the server's, also outside a transaction).
pub(crate) const GET_MANY: &str = "SELECT k, v FROM keyhaven_kv WHERE k = ANY($1::bytea[])";
pub(crate) const SCAN: &str =
    "SELECT k, v FROM keyhaven_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3";
pub(crate) const UPSERT: &str = "INSERT INTO keyhaven_kv (k, v) \
     SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
     ON CONFLICT (k) DO UPDATE SET v = excluded.v";
pub(crate) const DELETE: &str = "DELETE FROM keyhaven_kv WHERE k = ANY($1::bytea[])";

/// The statements every pooled connection has prepared (executing one is a single round trip).
pub(crate) struct Statements {
    pub get: Statement,
    pub get_many: Statement,
    pub scan: Statement,
    pub upsert: Statement,
    pub delete: Statement,
}

/// What a server said it is when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Primary,
    Standby,
}

/// An open connection and what it was opened for (cloning shares it).
#[derive(Clone)]
pub(crate) struct Conn {
    pub client: Arc<Client>,
    pub statements: Arc<Statements>,
    /// Index of its host in the URL.
    pub host: usize,
    /// The engine's host choice it was opened under; a connection of an earlier choice is not reused.
    pub generation: u64,
}

/// Opens a connection to host `host` of `url` and asks the server's role, all within `limit`.
pub(crate) async fn open(
    url: &PostgresUrl,
    host: usize,
    limit: Duration,
) -> Result<(Client, Role), StoreError> {
    let addr = url
        .hosts()
        .get(host)
        .cloned()
        .ok_or_else(|| StoreError::unavailable("no such host"))?;
    let shown = addr.to_string();
    let config = url.config.clone();
    let attempt = async move {
        let client = match &addr {
            HostAddr::Tcp(name, port) => {
                let stream = tokio::net::TcpStream::connect((name.as_str(), *port))
                    .await
                    .map_err(|e| StoreError::unavailable(format!("connecting to {shown}: {e}")))?;
                let _ = stream.set_nodelay(true);
                let (client, connection) = config
                    .connect_raw(stream, NoTls)
                    .await
                    .map_err(|e| StoreError::unavailable(format!("{shown}: {}", describe(&e))))?;
                tokio::spawn(drive(connection, shown.clone()));
                client
            }
            HostAddr::Unix(dir, port) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let stream = tokio::net::UnixStream::connect(&path)
                    .await
                    .map_err(|e| StoreError::unavailable(format!("connecting to {shown}: {e}")))?;
                let (client, connection) = config
                    .connect_raw(stream, NoTls)
                    .await
                    .map_err(|e| StoreError::unavailable(format!("{shown}: {}", describe(&e))))?;
                tokio::spawn(drive(connection, shown.clone()));
                client
            }
        };
        let role = role_of(&client).await?;
        Ok((client, role))
    };
    tokio::time::timeout(limit, attempt)
        .await
        .map_err(|_| timed_out("connecting"))?
}

/// Runs a connection's protocol until it closes.
async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>, host: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::debug!(host, error = %describe(&e), "PostgreSQL connection ended");
    }
}

/// Whether the server is a primary or a hot standby (in recovery).
pub(crate) async fn role_of(client: &Client) -> Result<Role, StoreError> {
    let row = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(|e| store_error(&e))?;
    let in_recovery: bool = row.try_get(0).map_err(|e| store_error(&e))?;
    Ok(if in_recovery {
        Role::Standby
    } else {
        Role::Primary
    })
}

/// Prepares the engine's statements on `client` (in one round trip).
pub(crate) async fn prepare(client: &Client) -> Result<Statements, StoreError> {
    let (get, get_many, scan, upsert, delete) = tokio::try_join!(
        client.prepare(GET),
        client.prepare(GET_MANY),
        client.prepare(SCAN),
        client.prepare(UPSERT),
        client.prepare(DELETE)
    )
    .map_err(|e| store_error(&e))?;
    Ok(Statements {
        get,
        get_many,
        scan,
        upsert,
        delete,
    })
}
