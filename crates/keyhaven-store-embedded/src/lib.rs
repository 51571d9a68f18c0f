//! The embedded storage engine: one crash-safe file (redb: copy-on-write B-trees, checksummed, every commit made
//! durable with fsync before it is acknowledged), MVCC snapshots for point-in-time reads.

use keyhaven_store::{Engine, EngineTxn, Entry, Snapshot, StoreError};
use redb::{Database, Durability, ReadOnlyTable, ReadableTable, TableDefinition, WriteTransaction};
use std::path::Path;

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
const CACHE_BYTES: usize = 64 << 20;

/// A store in a single file.
pub struct EmbeddedEngine {
    db: Database,
}

impl EmbeddedEngine {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // A bounded page cache: redb's default ceiling (1 GiB) lets RSS grow with write load and keep it.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(StoreError::unavailable)?;
        let txn = db.begin_write().map_err(StoreError::unavailable)?;
        txn.open_table(KV).map_err(StoreError::unavailable)?;
        txn.commit().map_err(StoreError::unavailable)?;
        Ok(EmbeddedEngine { db })
    }
}

fn collect<'a, I>(iter: I, limit: usize) -> Result<Vec<Entry>, StoreError>
where
    I: Iterator<
        Item = Result<
            (
                redb::AccessGuard<'a, &'static [u8]>,
                redb::AccessGuard<'a, &'static [u8]>,
            ),
            redb::StorageError,
        >,
    >,
{
    let mut out = Vec::new();
    for item in iter.take(limit) {
        let (k, v) = item.map_err(StoreError::unavailable)?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

struct EmbeddedSnapshot {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Snapshot for EmbeddedSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .table
            .get(key)
            .map_err(StoreError::unavailable)?
            .map(|v| v.value().to_vec()))
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        collect(
            self.table
                .range::<&[u8]>(start..end)
                .map_err(StoreError::unavailable)?,
            limit,
        )
    }
}

struct EmbeddedTxn {
    txn: WriteTransaction,
}

impl EngineTxn for EmbeddedTxn {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.txn.open_table(KV).map_err(StoreError::unavailable)?;
        let v = t
            .get(key)
            .map_err(StoreError::unavailable)?
            .map(|v| v.value().to_vec());
        Ok(v)
    }

    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let t = self.txn.open_table(KV).map_err(StoreError::unavailable)?;
        let out = collect(
            t.range::<&[u8]>(start..end)
                .map_err(StoreError::unavailable)?,
            limit,
        );
        out
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut t = self.txn.open_table(KV).map_err(StoreError::unavailable)?;
        t.insert(key, value).map_err(StoreError::unavailable)?;
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let mut t = self.txn.open_table(KV).map_err(StoreError::unavailable)?;
        t.remove(key).map_err(StoreError::unavailable)?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.txn.commit().map_err(StoreError::unavailable)
    }
}

impl Engine for EmbeddedEngine {
    fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::unavailable)?;
        let table = txn.open_table(KV).map_err(StoreError::unavailable)?;
        Ok(Box::new(EmbeddedSnapshot { table }))
    }

    fn begin(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        let mut txn = self.db.begin_write().map_err(StoreError::unavailable)?;
        txn.set_durability(Durability::Immediate);
        Ok(Box::new(EmbeddedTxn { txn }))
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn embedded_engine_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let n = std::sync::atomic::AtomicUsize::new(0);
        keyhaven_store::conformance::run_all(&|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Arc::new(EmbeddedEngine::open(&dir.path().join(format!("s{i}.redb"))).unwrap())
        });
    }

    #[test]
    fn data_survives_reopen() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(StoreError::unavailable)?;
        let path = dir.path().join("s.redb");
        {
            let s = keyhaven_store::Store::new(Arc::new(EmbeddedEngine::open(&path)?))?;
            s.write_blocking(|t| t.put(b"k", b"v"))?;
        }
        let s = keyhaven_store::Store::new(Arc::new(EmbeddedEngine::open(&path)?))?;
        assert_eq!(s.snapshot()?.get(b"k")?, Some(b"v".to_vec()));
        Ok(())
    }
}
