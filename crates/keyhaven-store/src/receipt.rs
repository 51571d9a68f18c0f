//! Receipts: an entry that a task's writes carry into their own transactions, so that what the entry records
//! becomes durable with those writes, by the same commit — or not at all. The server's audit log gives each
//! request one, which makes a change's audit record as durable as the change without a flush of its own.
//!
//! A receipt is carried by every write submitted to a [`Store`](crate::Store) from the task that runs
//! [`carried`] (not from tasks or threads it starts). A write whose function fails writes no receipt.

use crate::Entry;
use std::future::Future;
use std::sync::Arc;

/// What a task's writes carry.
pub trait Receipt: Send + Sync {
    /// The entry to write, after its own writes, in the transaction of a write submitted now (`None`: nothing).
    fn entry(&self) -> Option<Entry>;
    /// A write that carried [`entry`](Receipt::entry) is durable.
    fn committed(&self);
}

tokio::task_local! {
    static CURRENT: Arc<dyn Receipt>;
}

/// Runs `f` with `receipt` carried by the writes it submits from its own task.
pub async fn carried<F: Future>(receipt: Arc<dyn Receipt>, f: F) -> F::Output {
    CURRENT.scope(receipt, f).await
}

/// The receipt of the running task, with the entry to write now.
pub(crate) fn current() -> Option<(Arc<dyn Receipt>, Entry)> {
    let receipt = CURRENT.try_with(Arc::clone).ok()?;
    let entry = receipt.entry()?;
    Some((receipt, entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryEngine, Store, StoreError};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counted {
        taken: AtomicUsize,
        committed: AtomicUsize,
    }

    impl Receipt for Counted {
        fn entry(&self) -> Option<Entry> {
            self.taken.fetch_add(1, Ordering::SeqCst);
            Some((b"receipt".to_vec(), b"r".to_vec()))
        }
        fn committed(&self) {
            self.committed.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn get(store: &Store, key: &[u8]) -> Option<Vec<u8>> {
        store.snapshot().unwrap().get(key).unwrap()
    }

    #[tokio::test]
    async fn a_receipt_is_written_with_the_writes_that_succeed_and_only_those() {
        let store = Store::new(Arc::new(MemoryEngine::default())).unwrap();
        let receipt = Arc::new(Counted::default());

        // Outside `carried`: no receipt.
        store
            .write(|txn| txn.put(b"a", b"1"))
            .await
            .map_err(|e: StoreError| e)
            .unwrap();
        assert_eq!(get(&store, b"receipt"), None);

        // A failing write function leaves neither its writes nor the receipt.
        let failed = carried(
            receipt.clone(),
            store.write(|txn| {
                txn.put(b"b", b"2")?;
                Err::<(), _>(StoreError::unavailable("refused"))
            }),
        )
        .await;
        assert!(failed.is_err());
        assert_eq!(get(&store, b"b"), None);
        assert_eq!(get(&store, b"receipt"), None);
        assert_eq!(receipt.committed.load(Ordering::SeqCst), 0);

        // A write that succeeds carries it, in the same commit.
        carried(receipt.clone(), store.write(|txn| txn.put(b"c", b"3")))
            .await
            .unwrap();
        assert_eq!(get(&store, b"c").as_deref(), Some(&b"3"[..]));
        assert_eq!(get(&store, b"receipt").as_deref(), Some(&b"r"[..]));
        assert_eq!(receipt.committed.load(Ordering::SeqCst), 1);
        assert_eq!(receipt.taken.load(Ordering::SeqCst), 2);

        // A task started from inside does not carry it.
        store.write(|txn| txn.delete(b"receipt")).await.unwrap();
        let s = Arc::new(store);
        let inner = s.clone();
        carried(receipt.clone(), async move {
            tokio::spawn(async move { inner.write(|txn| txn.put(b"d", b"4")).await })
                .await
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(get(&s, b"receipt"), None);
        assert_eq!(receipt.committed.load(Ordering::SeqCst), 1);
    }
}
