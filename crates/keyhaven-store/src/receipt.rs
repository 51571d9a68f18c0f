//! Receipts: a part that a task's writes carry into their own commits, so that what the part records becomes
//! durable with those writes, by the same commit — or not at all. The server's audit log gives each request one,
//! which makes a change's audit record as durable as the change without a flush of its own.
//!
//! A receipt is carried by every write submitted to a [`Store`](crate::Store) from the task that runs [`carried`]
//! (not from tasks or threads it starts), once the store was told where receipts go
//! ([`Store::keep_receipts_under`](crate::Store::keep_receipts_under)). A commit writes the parts of all its
//! successful writes as one entry (framed, see [`parts`]) under that prefix and a number that grows with each
//! commit; a write whose function fails carries nothing.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// What a task's writes carry.
pub trait Receipt: Send + Sync {
    /// This task's part of the receipt entry of the commit that takes a write submitted now (`None`: nothing).
    fn part(&self) -> Option<Vec<u8>>;
    /// A write that carried the part is durable, in the receipt entry `key`, which holds `parts` parts in all.
    fn committed(&self, key: &[u8], parts: usize);
}

tokio::task_local! {
    static CURRENT: Arc<dyn Receipt>;
}

/// Runs `f` with `receipt` carried by the writes it submits from its own task.
pub async fn carried<F: Future>(receipt: Arc<dyn Receipt>, f: F) -> F::Output {
    CURRENT.scope(receipt, f).await
}

/// The receipt of the running task, with its part.
pub(crate) fn current() -> Option<(Arc<dyn Receipt>, Vec<u8>)> {
    let receipt = CURRENT.try_with(Arc::clone).ok()?;
    let part = receipt.part()?;
    Some((receipt, part))
}

/// The parts of a receipt entry, in the order the commit took them (`None`: not a receipt entry).
pub fn parts(value: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        let (part, tail) = tail.split_at_checked(len)?;
        out.push(part);
        rest = tail;
    }
    Some(out)
}

/// Where a store writes receipt entries, and the number of the next one.
pub(crate) struct Keys {
    prefix: OnceLock<Vec<u8>>,
    /// The store's start (microseconds since the epoch), so numbers grow across restarts too.
    run: u64,
    next: AtomicU64,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        Keys {
            prefix: OnceLock::new(),
            run: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_prefix(&self, prefix: Vec<u8>) {
        let _ = self.prefix.set(prefix);
    }

    /// Whether receipts are written.
    pub(crate) fn kept(&self) -> bool {
        self.prefix.get().is_some()
    }

    /// The key and value of the entry holding `parts` (`None` when receipts are not kept): keys in the order
    /// commits are made, so the store adds them at one end of its index and deletes them from the other.
    pub(crate) fn entry(&self, parts: &[Vec<u8>]) -> Option<(Vec<u8>, Vec<u8>)> {
        let prefix = self.prefix.get()?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut key = prefix.clone();
        key.extend_from_slice(format!("{:016x}{n:016x}", self.run).as_bytes());
        let mut value = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
        for p in parts {
            value.extend_from_slice(&(p.len() as u32).to_be_bytes());
            value.extend_from_slice(p);
        }
        Some((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryEngine, Store, StoreError};
    use std::sync::Mutex;

    /// A receipt whose part is `name`, recording where it was committed.
    struct Named {
        name: &'static [u8],
        at: Mutex<Vec<(Vec<u8>, usize)>>,
    }

    impl Named {
        fn new(name: &'static [u8]) -> Arc<Named> {
            Arc::new(Named {
                name,
                at: Mutex::new(Vec::new()),
            })
        }
        fn at(&self) -> Vec<(Vec<u8>, usize)> {
            self.at.lock().unwrap().clone()
        }
    }

    impl Receipt for Named {
        fn part(&self) -> Option<Vec<u8>> {
            Some(self.name.to_vec())
        }
        fn committed(&self, key: &[u8], parts: usize) {
            self.at.lock().unwrap().push((key.to_vec(), parts));
        }
    }

    fn receipts(store: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        store
            .snapshot()
            .unwrap()
            .scan(b"r/", b"r0", usize::MAX)
            .unwrap()
    }

    #[tokio::test]
    async fn a_receipt_is_written_with_the_writes_that_succeed_and_only_those() {
        let store = Arc::new(Store::new(Arc::new(MemoryEngine::default())).unwrap());
        let r = Named::new(b"first");
        let put = |k: &'static [u8]| move |txn: &mut dyn crate::WriteTxn| txn.put(k, b"v");

        // Receipts are not kept until the store is told where they go.
        carried(r.clone(), store.write(put(b"a"))).await.unwrap();
        assert!(receipts(&store).is_empty() && r.at().is_empty());
        store.keep_receipts_under(b"r/".to_vec());

        // A failing write function leaves neither its writes nor the receipt.
        let failed = carried(
            r.clone(),
            store.write(|txn| {
                txn.put(b"b", b"2")?;
                Err::<(), _>(StoreError::unavailable("refused"))
            }),
        )
        .await;
        assert!(failed.is_err());
        assert!(receipts(&store).is_empty() && r.at().is_empty());

        // A write that succeeds carries it, in the same commit; outside `carried`, nothing.
        store.write(put(b"c")).await.unwrap();
        assert!(receipts(&store).is_empty());
        carried(r.clone(), store.write(put(b"d"))).await.unwrap();
        let entries = receipts(&store);
        assert_eq!(entries.len(), 1);
        assert_eq!(parts(&entries[0].1).unwrap(), vec![&b"first"[..]]);
        assert_eq!(r.at(), vec![(entries[0].0.clone(), 1)]);

        // Concurrent writers' parts share their commit's entry; each is told the entry and how many parts it has.
        let many: Vec<_> = [&b"x"[..], b"yy", b"zzz"]
            .into_iter()
            .map(Named::new)
            .collect();
        let writes = many.iter().map(|n| {
            let s = store.clone();
            let n = n.clone();
            async move { carried(n, s.write(put(b"e"))).await }
        });
        for w in futures_join(writes).await {
            w.unwrap();
        }
        let entries = receipts(&store);
        let all: usize = entries.iter().map(|(_, v)| parts(v).unwrap().len()).sum();
        assert_eq!(all, 4);
        for n in &many {
            let at = n.at();
            assert_eq!(at.len(), 1);
            let (key, count) = &at[0];
            let (_, value) = entries.iter().find(|(k, _)| k == key).unwrap();
            let p = parts(value).unwrap();
            assert_eq!(p.len(), *count);
            assert!(p.contains(&n.name));
        }
        assert!(
            entries.windows(2).all(|w| w[0].0 < w[1].0),
            "entries are numbered in commit order"
        );

        // A task started from inside does not carry it.
        let before = receipts(&store).len();
        let inner = store.clone();
        carried(r.clone(), async move {
            tokio::spawn(async move { inner.write(put(b"f")).await })
                .await
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(receipts(&store).len(), before);
        assert_eq!(parts(b"\0\0\0\x05ab"), None, "a part longer than the entry");
    }

    async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = fs.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}
