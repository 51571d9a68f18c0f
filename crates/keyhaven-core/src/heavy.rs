//! Expensive, CPU-bound steps of domain operations — RSA key generation, RSA key import, PKCS#12 and PEM
//! parsing, opening and re-sealing a per-object backup — run here: on tokio's blocking threads, at most
//! [`Settings::heavy_work_threads`](crate::Settings::heavy_work_threads) at a time. The async threads that answer
//! every other request never run them, and a flood of them waits its turn (the semaphore is fair: first come,
//! first served) instead of taking every core.

use crate::{Error, Result};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The bounded pool for expensive steps.
pub(crate) struct HeavyWork {
    permits: Arc<Semaphore>,
}

impl HeavyWork {
    /// A pool running at most `threads` steps at once (0: one per available core).
    pub(crate) fn new(threads: usize) -> HeavyWork {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        };
        HeavyWork {
            permits: Arc::new(Semaphore::new(threads)),
        }
    }

    /// Runs `work` on a blocking thread once a slot is free. A caller that goes away while waiting gives its
    /// place up; once started, the work runs to its end and holds its slot until then.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("the pool for expensive work is closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        })
        .await
        .map_err(|_| Error::Internal("an expensive step of the operation failed".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_pool_size_at_once_and_every_one_runs() {
        let pool = Arc::new(HeavyWork::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(i)
                    })
                    .await
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap().unwrap());
        }
        assert_eq!(done, (0..8).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert!(HeavyWork::new(0).permits.available_permits() >= 1);
    }
}
