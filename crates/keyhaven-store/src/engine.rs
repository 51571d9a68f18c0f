use crate::{Lease, StoreError};
use std::time::Duration;

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A consistent, read-only view of the store as of the moment it was taken. Later commits are not visible.
pub trait Snapshot: Send {
    /// The value of `key` as of the snapshot, or `None` if it was absent.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// The values of `keys` as of the snapshot, in the order of `keys` (`None` for each absent one); engines may
    /// read them in one go.
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Entries with `start <= key < end`, in ascending key order, at most `limit` of them.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError>;
}

/// Point reads of the latest committed state, without a point in time across calls (see [`Engine::reader`]).
///
/// Each call reads one committed state — every key of one `get_many` from the same state — that holds every
/// commit that returned before the reader was made. Two calls may read different states: a caller that needs
/// several reads to agree either reads them in one call or takes a [`Snapshot`].
pub trait Reader: Send {
    /// The values of `keys` in one committed state, in the order of `keys` (`None` for each absent one).
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
}

/// A snapshot is a reader whose calls all read the same state.
struct SnapshotReader(Box<dyn Snapshot>);

impl Reader for SnapshotReader {
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.0.get_many(keys)
    }
}

/// A [`Reader`] over a snapshot (which keeps more than a reader promises): for engines whose snapshots are as
/// cheap as their reads, and for wrappers of such engines.
pub fn snapshot_reader(snapshot: Box<dyn Snapshot>) -> Box<dyn Reader> {
    Box::new(SnapshotReader(snapshot))
}

/// An open engine transaction. Dropping it without `commit` rolls it back.
pub trait EngineTxn {
    /// The value of `key`, this transaction's own writes included; `None` if absent.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// The values of `keys` in the order of `keys`, as [`EngineTxn::get`] each; engines may read them in one go.
    fn get_many(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Entries with `start <= key < end`, in ascending key order, at most `limit` of them, this transaction's own
    /// writes included. Empty when `start >= end` or `limit` is 0.
    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError>;
    /// Sets `key` to `value`, replacing any value it had.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`; removing an absent key is not an error.
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;
    /// Writes many entries (as `put` each, in order); engines may do it in one go.
    fn put_many(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        for (k, v) in entries {
            self.put(k, v)?;
        }
        Ok(())
    }
    /// Makes every write of the transaction durable and visible, atomically.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Whether an engine accepts writes at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineMode {
    /// Reads and writes.
    ReadWrite,
    /// Reads only: write transactions fail with [`StoreError::ReadOnly`] (e.g. PostgreSQL after a failover to a
    /// hot standby, until one is promoted).
    ReadOnly,
}

/// A storage engine (embedded file, PostgreSQL, memory). Every engine passes [`crate::conformance`].
pub trait Engine: Send + Sync + 'static {
    /// A point-in-time, read-only view of everything committed so far.
    fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError>;
    /// Point reads of the latest committed state (see [`Reader`]): for a request that reads a few keys it can
    /// name at once and needs them to agree only within one call. Engines whose snapshots cost more than a read
    /// (a server-side transaction) make it cheaper; by default, a snapshot.
    fn reader(&self) -> Result<Box<dyn Reader>, StoreError> {
        Ok(snapshot_reader(self.snapshot()?))
    }
    /// Starts a durable write transaction: once its `commit` returns `Ok`, its writes survive a crash. Write
    /// transactions are serialized; the store opens one at a time, and an engine may make a second one wait for
    /// the first to end.
    fn begin(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError>;
    /// A transaction whose commit is atomic and visible at once but may reach the disk only with a later durable
    /// commit: after a crash the store is as of the last durable commit or a later one, in commit order. For
    /// steps of a job whose start and end are durable and whose steps are undone after a crash (a restore's
    /// batches under its mark and undo journal). By default, a durable transaction.
    fn begin_deferred(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        self.begin()
    }
    /// A short name for logs and health output.
    fn name(&self) -> &'static str;
    /// Whether writes are accepted now (for health output; a write is refused with [`StoreError::ReadOnly`]
    /// whatever this said before it). Engines that never lose write access keep the default.
    fn mode(&self) -> EngineMode {
        EngineMode::ReadWrite
    }
    /// Takes the lease `name` (see [`crate::lease`]) if no other holder, in any process over the same data, has
    /// it: `Ok(None)` while one does. The lease is kept alive while the returned value lives and released when it
    /// is dropped; if its holder vanishes without releasing it (a crashed process), it lapses after `ttl`.
    /// Engines that only one process can open keep the default, which grants every lease (exclusion within the
    /// process is [`Store::try_lease`](crate::Store::try_lease)'s). Fails with [`StoreError::ReadOnly`] where the
    /// engine cannot record a lease (a hot standby): nothing that needs one can run there.
    fn try_lease(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let _ = ttl;
        Ok(Some(Lease::granted(name)))
    }
}

/// What a write function sees: the store as left by every commit before it and by the functions before it in
/// its group, plus its own writes.
pub trait WriteTxn {
    /// The value of `key` as this function sees it (see the trait documentation); `None` if absent.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// The values of `keys` in the order of `keys`, as [`WriteTxn::get`] each; engines may read them in one go.
    fn get_many(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Entries with `start <= key < end`, in ascending key order, at most `limit` of them, as this function sees
    /// them. Empty when `start >= end` or `limit` is 0.
    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError>;
    /// Sets `key` to `value`, replacing any value it had. Kept only if the function returns `Ok`.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`; removing an absent key is not an error. Kept only if the function returns `Ok`.
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;
    /// Writes many entries (as `put` each, in order); engines may do it in one go.
    fn put_many(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        for (k, v) in entries {
            self.put(k, v)?;
        }
        Ok(())
    }
}
