//! Write transactions.
//!
//! `begin` queues `BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_is_in_recovery(), pg_advisory_xact_lock(..)`
//! without waiting. The lock serializes write transactions across every node on the database; read committed
//! (a fresh snapshot per statement) makes every statement after the lock see every write transaction committed
//! before it, as the store's committer expects (a repeatable-read snapshot would be taken before the lock wait
//! and miss them). The recovery flag tells a hot standby apart: its transactions fail with
//! [`StoreError::ReadOnly`].
//!
//! Puts and deletes are kept in memory (the last one per key wins) and sent as one `INSERT .. ON CONFLICT` from
//! arrays and one `DELETE .. = ANY`, queued just before the next scan or `COMMIT` (or once they reach
//! [`FLUSH_BYTES`]); a read of a key written here is answered from memory, and so is a key read before (under
//! the writers' lock nobody else writes: see `PgTxn::reads`). A group commit of pure writes is therefore one
//! round trip, and each read of a key not seen yet one more (`get_many`: one for all its keys).

use crate::bridge::Pending;
use crate::conn::{Conn, Role};
use crate::pool::Lease;
use crate::rows;
use crate::schema::WRITERS_LOCK;
use crate::shared::{request, Failed, Inner};
use keyhaven_store::{EngineTxn, Entry, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio_postgres::SimpleQueryMessage;

/// Buffered writes beyond this many bytes are sent before the transaction goes on.
pub(crate) const FLUSH_BYTES: usize = 8 << 20;

/// Values read are remembered up to this many bytes per transaction.
const READ_CACHE_BYTES: usize = 4 << 20;

fn begin_sql(deferred: bool) -> String {
    // A deferred commit may reach the disk only with a later durable one (see `Engine::begin_deferred`):
    // PostgreSQL's asynchronous commit, whose WAL is flushed in order.
    let durability = if deferred {
        "SET LOCAL synchronous_commit = off; "
    } else {
        ""
    };
    format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; {durability}\
         SELECT pg_is_in_recovery(), pg_advisory_xact_lock({WRITERS_LOCK})"
    )
}

pub(crate) struct PgTxn {
    inner: Arc<Inner>,
    conn: Conn,
    lease: Option<Lease>,
    /// The answer to `BEGIN` (whether the server is in recovery), until something waited for it.
    begun: Option<Pending<Result<bool, Failed>>>,
    /// Writes not sent yet: `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    write_bytes: usize,
    /// Values read from the server. They stay current until this transaction writes their key (which drops
    /// them): every write transaction holds the writers' lock, so no one else changes anything meanwhile. A
    /// group commit's writers read the same vault record and restore mark once instead of once each.
    reads: HashMap<Vec<u8>, Option<Vec<u8>>>,
    read_bytes: usize,
    /// Once anything failed, the transaction can only roll back; every call reports this.
    failed: Option<StoreError>,
    committed: bool,
}

impl PgTxn {
    pub(crate) fn begin(inner: Arc<Inner>, deferred: bool) -> Result<PgTxn, StoreError> {
        let (lease, conn) = inner.lease(&inner.shared.writers)?;
        let client = conn.client.clone();
        let limit = inner.shared.options.request_timeout;
        let sql = begin_sql(deferred);
        let begun = inner.bridge.start(async move {
            let messages = request(limit, "beginning a write", client.simple_query(&sql)).await?;
            Ok(messages.iter().any(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0) == Some("t"),
                _ => false,
            }))
        });
        Ok(PgTxn {
            inner,
            conn,
            lease: Some(lease),
            begun: Some(begun),
            writes: BTreeMap::new(),
            write_bytes: 0,
            reads: HashMap::new(),
            read_bytes: 0,
            failed: None,
            committed: false,
        })
    }

    fn check(&self) -> Result<(), StoreError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, f: Failed) -> StoreError {
        self.inner.failed(&f);
        if f.broken {
            if let Some(lease) = self.lease.as_mut() {
                lease.discard();
            }
        }
        self.failed = Some(f.error.clone());
        f.error
    }

    /// Checks `BEGIN`'s answer (once): a standby makes the transaction read-only.
    fn settle_begin(&mut self) -> Result<(), StoreError> {
        if let Some(begun) = self.begun.take() {
            match begun.wait()? {
                Ok(false) => {}
                Ok(true) => {
                    self.inner
                        .shared
                        .target
                        .observe(self.conn.host, Role::Standby);
                    self.failed = Some(StoreError::ReadOnly);
                }
                Err(f) => {
                    let mut f = f;
                    if self.inner.shared.target.current().role == Role::Standby {
                        f.error = StoreError::ReadOnly;
                    }
                    return Err(self.fail(f));
                }
            }
        }
        self.check()
    }

    /// Waits for a request queued after `BEGIN`, having checked `BEGIN`'s answer first.
    fn finish<T>(&mut self, started: Pending<Result<T, Failed>>) -> Result<T, StoreError> {
        self.settle_begin()?;
        match started.wait()? {
            Ok(t) => Ok(t),
            Err(f) => Err(self.fail(f)),
        }
    }

    /// What this transaction knows of `key` without asking: its own write, or an earlier read.
    fn known(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.writes
            .get(key)
            .or_else(|| self.reads.get(key))
            .cloned()
    }

    fn remember(&mut self, key: &[u8], value: &Option<Vec<u8>>) {
        let size = key.len() + value.as_ref().map_or(0, Vec::len);
        if self.read_bytes + size <= READ_CACHE_BYTES {
            self.read_bytes += size;
            self.reads.insert(key.to_vec(), value.clone());
        }
    }

    /// Queues the buffered writes (at most one statement each for puts and deletes).
    fn start_flush(&mut self) -> Vec<Pending<Result<u64, Failed>>> {
        if self.writes.is_empty() {
            return Vec::new();
        }
        let writes = std::mem::take(&mut self.writes);
        self.write_bytes = 0;
        let mut put_keys = Vec::new();
        let mut put_values = Vec::new();
        let mut deleted = Vec::new();
        for (k, v) in writes {
            match v {
                Some(v) => {
                    put_keys.push(k);
                    put_values.push(v);
                }
                None => deleted.push(k),
            }
        }
        let limit = self.inner.shared.options.request_timeout;
        let mut started = Vec::with_capacity(2);
        if !put_keys.is_empty() {
            let (client, statements) = (self.conn.client.clone(), self.conn.statements.clone());
            started.push(self.inner.bridge.start(async move {
                request(
                    limit,
                    "writing",
                    client.execute(&statements.upsert, &[&put_keys, &put_values]),
                )
                .await
            }));
        }
        if !deleted.is_empty() {
            let (client, statements) = (self.conn.client.clone(), self.conn.statements.clone());
            started.push(self.inner.bridge.start(async move {
                request(
                    limit,
                    "deleting",
                    client.execute(&statements.delete, &[&deleted]),
                )
                .await
            }));
        }
        started
    }

    fn finish_flush(
        &mut self,
        started: Vec<Pending<Result<u64, Failed>>>,
    ) -> Result<(), StoreError> {
        for p in started {
            self.finish(p)?;
        }
        Ok(())
    }

    fn buffer(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        self.check()?;
        self.reads.remove(key);
        self.write_bytes += key.len() + value.map_or(0, <[u8]>::len);
        self.writes.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        if self.write_bytes >= FLUSH_BYTES {
            let started = self.start_flush();
            self.finish_flush(started)?;
        }
        Ok(())
    }
}

impl EngineTxn for PgTxn {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        if let Some(v) = self.known(key) {
            return Ok(v);
        }
        let (client, statements) = (self.conn.client.clone(), self.conn.statements.clone());
        let owned = key.to_vec();
        let limit = self.inner.shared.options.request_timeout;
        let started = self.inner.bridge.start(async move {
            request(
                limit,
                "reading",
                client.query_opt(&statements.get, &[&owned]),
            )
            .await
        });
        let value = match self.finish(started)? {
            Some(row) => Some(row.try_get::<_, Vec<u8>>(0).map_err(StoreError::corrupt)?),
            None => None,
        };
        self.remember(key, &value);
        Ok(value)
    }

    fn get_many(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.check()?;
        let unknown: Vec<&[u8]> = keys
            .iter()
            .copied()
            .filter(|k| self.known(k).is_none())
            .collect();
        let mut asked: HashMap<&[u8], Option<Vec<u8>>> = HashMap::new();
        if !unknown.is_empty() {
            let started = self
                .inner
                .bridge
                .start(self.inner.read_many(&self.conn, &unknown));
            let found = rows::values_of(&unknown, self.finish(started)?)?;
            for (k, v) in unknown.into_iter().zip(found) {
                self.remember(k, &v);
                asked.insert(k, v);
            }
        }
        // Known values first (a value beyond the cache's bound is only in `asked`).
        Ok(keys
            .iter()
            .map(|k| self.known(k).or_else(|| asked.get(k).cloned()).flatten())
            .collect())
    }

    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.check()?;
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let flushed = self.start_flush();
        let (client, statements) = (self.conn.client.clone(), self.conn.statements.clone());
        let (start, end) = (start.to_vec(), end.to_vec());
        let count = i64::try_from(limit).unwrap_or(i64::MAX);
        let time_limit = self.inner.shared.options.request_timeout;
        let started = self.inner.bridge.start(async move {
            request(
                time_limit,
                "scanning",
                client.query(&statements.scan, &[&start, &end, &count]),
            )
            .await
        });
        self.finish_flush(flushed)?;
        rows::entries(self.finish(started)?)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.buffer(key, Some(value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.buffer(key, None)
    }

    fn put_many(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        for (k, v) in entries {
            self.buffer(k, Some(v))?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.check()?;
        // Snapshots taken before this commit must not see it (see `crate::fence`).
        self.inner
            .shared
            .fence
            .wait_for_earlier(self.inner.shared.options.request_timeout);
        let flushed = self.start_flush();
        let client = self.conn.client.clone();
        let limit = self.inner.shared.options.request_timeout;
        let committed = self.inner.bridge.start(async move {
            request(limit, "committing", client.batch_execute("COMMIT")).await
        });
        self.finish_flush(flushed)?;
        self.finish(committed)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PgTxn {
    fn drop(&mut self) {
        let Some(mut lease) = self.lease.take() else {
            return;
        };
        if self.committed {
            return;
        }
        let client = self.conn.client.clone();
        let limit = self.inner.shared.options.request_timeout;
        // Queued after every request of the transaction; the caller does not wait.
        self.inner.bridge.spawn(async move {
            if request(limit, "rolling back", client.batch_execute("ROLLBACK"))
                .await
                .is_err()
            {
                lease.discard();
            }
            drop(lease);
        });
    }
}
