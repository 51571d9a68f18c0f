//! Readers: a request's point reads without a transaction.
//!
//! Each `get_many` is one prepared statement (`k = ANY($1)`) in autocommit mode, on a pooled connection leased
//! for that statement only. PostgreSQL runs a statement on one snapshot of its own, taken when the statement
//! starts (read committed, or any stricter default: a single-statement transaction), so every key of one call
//! comes from one committed state, which holds every commit acknowledged before the call. That is one round trip
//! per call, with no `BEGIN` / `ROLLBACK` and no connection held between calls — where a snapshot costs its
//! `BEGIN`, one round trip per read, and a connection until its `ROLLBACK`.

use crate::rows;
use crate::shared::{request, Inner};
use keyhaven_store::{Reader, StoreError};
use std::sync::Arc;

pub(crate) struct PgReader {
    inner: Arc<Inner>,
}

impl PgReader {
    pub(crate) fn new(inner: Arc<Inner>) -> PgReader {
        PgReader { inner }
    }
}

impl Reader for PgReader {
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (mut lease, conn) = self.inner.lease(&self.inner.shared.readers)?;
        let array = rows::key_array(keys);
        let limit = self.inner.shared.options.request_timeout;
        let answer = self.inner.bridge.run(async move {
            request(
                limit,
                "reading",
                conn.client.query(&conn.statements.get_many, &[&array]),
            )
            .await
        })?;
        match answer {
            Ok(found) => {
                drop(lease);
                rows::values_of(keys, found)
            }
            Err(f) => {
                self.inner.failed(&f);
                if f.broken {
                    lease.discard();
                }
                Err(f.error)
            }
        }
    }
}
