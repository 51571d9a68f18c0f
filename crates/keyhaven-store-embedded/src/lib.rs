//! The embedded storage engine: one crash-safe file (redb: copy-on-write B-trees, checksummed, every commit made
//! durable with fsync before it is acknowledged), MVCC snapshots for point-in-time reads.
#![warn(missing_docs)]

use keyhaven_store::{Engine, EngineTxn, Entry, Snapshot, StoreError};
use redb::{Database, Durability, ReadOnlyTable, ReadableTable, TableDefinition, WriteTransaction};
use std::path::Path;

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
/// redb's page cache: 9/10 read cache, 1/10 write buffer (dirty pages beyond it go to the file before commit).
/// Every commit moves the pages it wrote into the read cache, so any long run of writes (a restore) or reads (a
/// backup) fills it: this bound is most of what such an operation adds to the server's RSS.
const CACHE_BYTES: usize = 32 << 20;

/// A store in a single file.
pub struct EmbeddedEngine {
    db: Database,
}

impl EmbeddedEngine {
    fn begin_with(&self, durability: Durability) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        let mut txn = self.db.begin_write().map_err(StoreError::unavailable)?;
        txn.set_durability(durability);
        Ok(Box::new(EmbeddedTxn { txn }))
    }

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

    fn put_many(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        // One table handle for all of them (opening it costs a lookup each time).
        let mut t = self.txn.open_table(KV).map_err(StoreError::unavailable)?;
        for (k, v) in entries {
            t.insert(k.as_slice(), v.as_slice())
                .map_err(StoreError::unavailable)?;
        }
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
        self.begin_with(Durability::Immediate)
    }

    fn begin_deferred(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        // redb keeps the last durable commit as the recovery point; non-durable commits after it are kept only
        // once a durable commit follows.
        self.begin_with(Durability::None)
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

    /// A job abandoned after some of its journaled transactions (a crash) is undone after the file is reopened:
    /// every key holds what it held before the job, and nothing of the journal is left.
    #[test]
    fn an_abandoned_journaled_job_is_undone_after_reopen() -> Result<(), StoreError> {
        use keyhaven_store::{StepLimits, Store, UndoJournal, WriteTxn};
        let dir = tempfile::tempdir().map_err(StoreError::unavailable)?;
        let path = dir.path().join("s.redb");
        let journal = UndoJournal::new(b"~undo\0crash\0".to_vec())?;
        let before = {
            let s = Store::new(Arc::new(EmbeddedEngine::open(&path)?))?;
            s.write_blocking(|t| {
                for i in 0..500u32 {
                    t.put(format!("k{i:04}").as_bytes(), &[i as u8; 300])?;
                }
                Ok::<_, StoreError>(())
            })?;
            let before = keyhaven_store::conformance::everything(&s);
            for batch in 0..8u32 {
                let j = journal.clone();
                s.write_exclusive_blocking(move |t| {
                    let mut w = j.record(t);
                    for i in (batch * 100)..(batch * 100 + 100) {
                        let k = format!("k{i:04}");
                        if i % 3 == 0 {
                            w.delete(k.as_bytes())?;
                        } else {
                            w.put(k.as_bytes(), &[0xee; 1000])?;
                        }
                    }
                    Ok::<_, StoreError>(())
                })?;
            }
            // The next batch fails half-way and the job is abandoned without undoing anything.
            let j = journal.clone();
            let r: Result<(), StoreError> = s.write_exclusive_blocking(move |t| {
                j.record(t).put(b"k0001", b"torn")?;
                Err(StoreError::unavailable("crash"))
            });
            assert!(r.is_err());
            assert_ne!(keyhaven_store::conformance::everything(&s), before);
            before
        };
        let s = Store::new(Arc::new(EmbeddedEngine::open(&path)?))?;
        let mut steps = 0;
        loop {
            let j = journal.clone();
            steps += 1;
            let limits = StepLimits {
                entries: 64,
                bytes: 16 << 10,
            };
            if s.write_exclusive_blocking(move |t| j.undo_step(t, limits))? {
                break;
            }
        }
        assert!(steps > 10, "bounded steps: {steps}");
        assert_eq!(keyhaven_store::conformance::everything(&s), before);
        Ok(())
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
