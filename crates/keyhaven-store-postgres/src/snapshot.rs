//! Snapshots: a `REPEATABLE READ READ ONLY` transaction on a connection held for the snapshot's life.
//!
//! Taking a snapshot queues `BEGIN ...; SELECT 1` on a pooled connection and returns without waiting; the first
//! read is queued behind it and both are answered in one round trip. The `SELECT 1` makes PostgreSQL fix the
//! snapshot at once (a repeatable-read transaction takes its snapshot at its first statement, not at `BEGIN`),
//! and the engine's commits wait for it (see [`crate::fence`]). Dropping the snapshot rolls the transaction back
//! in the background and returns the connection to the pool.

use crate::bridge::Pending;
use crate::conn::Conn;
use crate::pool::Lease;
use crate::rows;
use crate::shared::{request, Failed, Inner};
use keyhaven_store::{Entry, Snapshot, StoreError};
use std::cell::RefCell;
use std::sync::Arc;

const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1";

pub(crate) struct PgSnapshot {
    inner: Arc<Inner>,
    conn: Conn,
    lease: RefCell<Option<Lease>>,
    /// The answer to `BEGIN`, until a read has waited for it.
    begun: RefCell<Option<Pending<Result<(), Failed>>>>,
    /// Once a request failed, every later one reports the same.
    failed: RefCell<Option<StoreError>>,
}

impl PgSnapshot {
    pub(crate) fn begin(inner: Arc<Inner>) -> Result<PgSnapshot, StoreError> {
        let (lease, conn) = inner.lease(&inner.shared.readers)?;
        let ticket = inner.shared.fence.enter();
        let client = conn.client.clone();
        let limit = inner.shared.options.request_timeout;
        let begun = inner.bridge.start(async move {
            let r = request(limit, "beginning a snapshot", client.batch_execute(BEGIN)).await;
            drop(ticket);
            r
        });
        Ok(PgSnapshot {
            inner,
            conn,
            lease: RefCell::new(Some(lease)),
            begun: RefCell::new(Some(begun)),
            failed: RefCell::new(None),
        })
    }

    /// Records a failure (closing the connection at the end if it is broken) and returns its error.
    fn fail(&self, f: Failed) -> StoreError {
        self.inner.failed(&f);
        if f.broken {
            if let Some(lease) = self.lease.borrow_mut().as_mut() {
                lease.discard();
            }
        }
        *self.failed.borrow_mut() = Some(f.error.clone());
        f.error
    }

    /// Waits for the request `started` (queued after `BEGIN`), having checked `BEGIN`'s answer first.
    fn finish<T>(&self, started: Pending<Result<T, Failed>>) -> Result<T, StoreError> {
        if let Some(e) = self.failed.borrow().clone() {
            return Err(e);
        }
        let begun = self.begun.borrow_mut().take();
        if let Some(begun) = begun {
            match begun.wait() {
                Ok(Ok(())) => {}
                Ok(Err(f)) => return Err(self.fail(f)),
                Err(e) => return Err(e),
            }
        }
        match started.wait()? {
            Ok(t) => Ok(t),
            Err(f) => Err(self.fail(f)),
        }
    }
}

impl Snapshot for PgSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(e) = self.failed.borrow().clone() {
            return Err(e);
        }
        let (client, statements) = (self.conn.client.clone(), self.conn.statements.clone());
        let key = key.to_vec();
        let limit = self.inner.shared.options.request_timeout;
        let started = self.inner.bridge.start(async move {
            request(limit, "reading", client.query_opt(&statements.get, &[&key])).await
        });
        match self.finish(started)? {
            Some(row) => row
                .try_get::<_, Vec<u8>>(0)
                .map(Some)
                .map_err(StoreError::corrupt),
            None => Ok(None),
        }
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if let Some(e) = self.failed.borrow().clone() {
            return Err(e);
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let started = self
            .inner
            .bridge
            .start(self.inner.read_many(&self.conn, keys));
        rows::values_of(keys, self.finish(started)?)
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        if let Some(e) = self.failed.borrow().clone() {
            return Err(e);
        }
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
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
        rows::entries(self.finish(started)?)
    }
}

impl Drop for PgSnapshot {
    fn drop(&mut self) {
        let Some(mut lease) = self.lease.get_mut().take() else {
            return;
        };
        let client = self.conn.client.clone();
        let limit = self.inner.shared.options.request_timeout;
        // Queued after every request of the snapshot (each was started before this); the caller does not wait.
        self.inner.bridge.spawn(async move {
            if request(limit, "ending a snapshot", client.batch_execute("ROLLBACK"))
                .await
                .is_err()
            {
                lease.discard();
            }
            drop(lease);
        });
    }
}
