use crate::{Engine, EngineTxn, Entry, Lease, LocalLeases, Snapshot, StoreError};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory engine: the reference model for the differential tests and a store for unit tests.
/// Snapshots share the map copy-on-write; a transaction works on a private copy and swaps it in on commit.
/// Several stores over one engine act as several nodes over one database (leases exclude across them).
#[derive(Default)]
pub struct MemoryEngine {
    data: Mutex<Arc<Map>>,
    writer: Mutex<()>,
    leases: LocalLeases,
}

impl MemoryEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    fn current(&self) -> Result<Arc<Map>, StoreError> {
        self.data
            .lock()
            .map(|g| g.clone())
            .map_err(|_| StoreError::unavailable("memory engine lock poisoned"))
    }
}

fn scan_map(map: &Map, start: &[u8], end: &[u8], limit: usize) -> Vec<Entry> {
    if start >= end {
        return Vec::new();
    }
    map.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

struct MemSnapshot(Arc<Map>);

impl Snapshot for MemSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key).cloned())
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        Ok(scan_map(&self.0, start, end, limit))
    }
}

struct MemTxn<'a> {
    engine: &'a MemoryEngine,
    _writer: MutexGuard<'a, ()>,
    map: Map,
}

impl EngineTxn for MemTxn<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }
    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        Ok(scan_map(&self.map, start, end, limit))
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.map.remove(key);
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let mut g = self
            .engine
            .data
            .lock()
            .map_err(|_| StoreError::unavailable("memory engine lock poisoned"))?;
        *g = Arc::new(self.map);
        Ok(())
    }
}

impl Engine for MemoryEngine {
    fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        Ok(Box::new(MemSnapshot(self.current()?)))
    }

    fn begin(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        let writer = self
            .writer
            .lock()
            .map_err(|_| StoreError::unavailable("memory engine lock poisoned"))?;
        let map = (*self.current()?).clone();
        Ok(Box::new(MemTxn {
            engine: self,
            _writer: writer,
            map,
        }))
    }

    fn name(&self) -> &'static str {
        "memory"
    }

    fn try_lease(
        &self,
        name: &str,
        _ttl: std::time::Duration,
    ) -> Result<Option<Lease>, StoreError> {
        // A holder cannot vanish without dropping its hold: nothing lapses.
        Ok(self
            .leases
            .try_take(name)
            .map(|hold| Lease::new(name, hold)))
    }
}
