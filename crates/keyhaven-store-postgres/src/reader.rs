//! Readers: a request's point reads without a transaction.
//!
//! Each `get_many` is one prepared statement (`k = ANY($1)`) in autocommit mode, on one of a few connections that
//! every reader shares, pipelined with other callers' statements (see [`crate::pipelined`]). PostgreSQL runs a
//! statement on one snapshot of its own, taken when the statement starts (read committed, or any stricter
//! default: a single-statement transaction), so every key of one call comes from one committed state, which holds
//! every commit acknowledged before the call. That is one round trip per call, with no `BEGIN` / `ROLLBACK` and no
//! connection held — where a snapshot costs its `BEGIN`, one round trip per read, and a connection of its own until
//! its `ROLLBACK`.

use crate::rows;
use crate::shared::Inner;
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
        let (slot, conn) = self.inner.shared_conn()?;
        let answer = self.inner.bridge.run(self.inner.read_many(&conn, keys))?;
        match answer {
            Ok(found) => rows::values_of(keys, found),
            Err(f) => {
                self.inner.failed(&f);
                if f.broken {
                    self.inner.shared.pipelined.discard(slot, &conn);
                }
                Err(f.error)
            }
        }
    }
}
