//! The schema and its versioned migrations, applied when the engine opens.
//!
//! `keyhaven_schema` holds one row: the version of the schema. Opening against a primary brings it up to
//! [`SCHEMA_VERSION`] in one transaction under the writers' advisory lock (so that nodes starting together, or
//! writing meanwhile, see it whole); a database at a newer version is refused. Opening against a standby only
//! checks that the version is the one this build needs.

use crate::error::describe;
use crate::PostgresError;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i32 = 2;

/// The transaction-scoped advisory lock every write transaction takes first, so that write transactions are
/// serialized across every Keyhaven node on the database (see docs/postgres.md). "keyhaven" in ASCII.
pub(crate) const WRITERS_LOCK: i64 = 0x6b65_7968_6176_656e;

/// Migration `n` (1-based) takes the schema from version `n - 1` to `n`. Only ever append.
const MIGRATIONS: &[&str] = &[
    // 1: keys and values, ordered by byte comparison (bytea compares as memcmp, then length). Values are
    // ciphertext, which does not compress: stored out of line without trying.
    "CREATE TABLE keyhaven_kv (k bytea PRIMARY KEY, v bytea NOT NULL);
     ALTER TABLE keyhaven_kv ALTER COLUMN v SET STORAGE EXTERNAL;",
    // 2: leases, so that background work runs on one node at a time (see the `lease` module). Logged, so that
    // a promoted standby knows who holds what.
    "CREATE TABLE keyhaven_leases (
         name text PRIMARY KEY,
         holder text NOT NULL,
         expires_at timestamptz NOT NULL
     );",
];

fn db(e: tokio_postgres::Error) -> PostgresError {
    PostgresError::Database(describe(&e))
}

/// Brings the schema up to [`SCHEMA_VERSION`] on a primary; returns the version it was at.
pub(crate) async fn migrate(client: &Client) -> Result<i32, PostgresError> {
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED;
             SELECT pg_advisory_xact_lock({WRITERS_LOCK});
             CREATE TABLE IF NOT EXISTS keyhaven_schema (
                 id int PRIMARY KEY CHECK (id = 1),
                 version int NOT NULL,
                 updated_at timestamptz NOT NULL DEFAULT now()
             );
             INSERT INTO keyhaven_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;"
        ))
        .await
        .map_err(db)?;
    let outcome = async {
        let found: i32 = client
            .query_one("SELECT version FROM keyhaven_schema WHERE id = 1", &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db)?;
        if found > SCHEMA_VERSION {
            return Err(PostgresError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i as i32 + 1;
            if version > found {
                client.batch_execute(sql).await.map_err(db)?;
                tracing::info!(version, "PostgreSQL schema migrated");
            }
        }
        if found < SCHEMA_VERSION {
            client
                .execute(
                    "UPDATE keyhaven_schema SET version = $1, updated_at = now() WHERE id = 1",
                    &[&SCHEMA_VERSION],
                )
                .await
                .map_err(db)?;
        }
        client.batch_execute("COMMIT").await.map_err(db)?;
        Ok(found)
    }
    .await;
    if outcome.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    outcome
}

/// Checks, on a standby, that the schema is the one this build needs.
pub(crate) async fn check(client: &Client) -> Result<(), PostgresError> {
    let found = match client
        .query_one("SELECT version FROM keyhaven_schema WHERE id = 1", &[])
        .await
    {
        Ok(row) => row.try_get::<_, i32>(0).map_err(db)?,
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => 0,
        Err(e) => return Err(db(e)),
    };
    if found > SCHEMA_VERSION {
        return Err(PostgresError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(PostgresError::SchemaNeedsPrimary {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}
