//! How synchronous engine calls reach the asynchronous client without ever blocking on a Tokio runtime.
//!
//! The engine owns a small Tokio runtime (its own threads) that drives every connection. A caller — a request
//! handler on one of the server's Tokio worker threads, the store's committer thread, a test — hands it a future
//! with [`Bridge::start`] and later waits for the outcome on a plain channel ([`Pending::wait`]). Nothing here
//! calls `block_on`, so a call made from inside any runtime cannot panic ("cannot start a runtime from within a
//! runtime"); the caller's thread simply sleeps on the channel, as it would on a disk read.
//!
//! `start` polls the future once on the calling thread, inside the engine runtime's context, before handing it
//! to the runtime. tokio-postgres sends a request when its future is first polled and executes a connection's
//! requests in that order, so requests started one after the other on one connection are sent and executed in
//! call order without waiting for each other's answers: that is how a snapshot's `BEGIN` and its first read, or
//! a transaction's buffered writes and its `COMMIT`, share one round trip.

use keyhaven_store::StoreError;
use std::future::Future;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// The engine's runtime, owned by the engine value itself and shut down (without waiting) when it is dropped.
pub(crate) struct OwnedRuntime(Option<Runtime>);

impl OwnedRuntime {
    pub(crate) fn new(threads: usize) -> std::io::Result<OwnedRuntime> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("keyhaven-postgres")
            .enable_all()
            .build()?;
        Ok(OwnedRuntime(Some(rt)))
    }

    pub(crate) fn handle(&self) -> Option<Handle> {
        self.0.as_ref().map(|rt| rt.handle().clone())
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        // Safe from any thread, including a Tokio worker: nothing waits. Connections close with their tasks.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Starts futures on the engine's runtime.
#[derive(Clone)]
pub(crate) struct Bridge {
    handle: Handle,
}

impl Bridge {
    pub(crate) fn new(handle: Handle) -> Bridge {
        Bridge { handle }
    }

    /// Polls `fut` once here (sending its request, see the module documentation), then lets the engine's runtime
    /// drive it to the end. The outcome is waited for with [`Pending::wait`], or dropped unseen.
    pub(crate) fn start<T, F>(&self, fut: F) -> Pending<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let mut fut = Box::pin(fut);
        let first = {
            // Timers and sockets made during the first poll belong to the engine's runtime.
            let _context = self.handle.enter();
            fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        };
        match first {
            Poll::Ready(t) => Pending(Inner::Ready(t)),
            Poll::Pending => {
                let (tx, rx) = mpsc::sync_channel(1);
                self.handle.spawn(async move {
                    let _ = tx.send(fut.await);
                });
                Pending(Inner::Waiting(rx))
            }
        }
    }

    /// [`Bridge::start`] and [`Pending::wait`].
    pub(crate) fn run<T, F>(&self, fut: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.start(fut).wait()
    }

    /// Runs `fut` on the engine's runtime, detached.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(fut);
    }
}

/// The outcome of a started future.
pub(crate) struct Pending<T>(Inner<T>);

enum Inner<T> {
    Ready(T),
    Waiting(mpsc::Receiver<T>),
}

impl<T> Pending<T> {
    /// The outcome another task will send on `rx`.
    pub(crate) fn waiting(rx: mpsc::Receiver<T>) -> Pending<T> {
        Pending(Inner::Waiting(rx))
    }

    /// Waits on this thread (never on a runtime) for the outcome. `Closed` if the engine shut down first.
    ///
    /// On a worker thread of a multi-threaded Tokio runtime (a server's request handler reading inline), the wait
    /// is announced with `block_in_place`, so that the runtime hands the worker's other tasks to another thread
    /// meanwhile instead of stalling them for the round trip (a server has as many workers as cores: two
    /// handlers waiting on the database would otherwise stop every other request).
    pub(crate) fn wait(self) -> Result<T, StoreError> {
        match self.0 {
            Inner::Ready(t) => Ok(t),
            Inner::Waiting(rx) => {
                let recv = move || rx.recv().map_err(|_| StoreError::Closed);
                match Handle::try_current().map(|h| h.runtime_flavor()) {
                    Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(recv),
                    // Outside any runtime, or on one where blocking in place is not allowed (a current-thread
                    // runtime): plain waiting, as before.
                    _ => recv(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_from_inside_another_runtime_without_panicking() -> Result<(), StoreError> {
        let engine_rt = OwnedRuntime::new(1).map_err(StoreError::unavailable)?;
        let bridge = Bridge::new(engine_rt.handle().ok_or(StoreError::Closed)?);
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::unavailable)?;
        let got = outer.block_on(async {
            bridge.run(async {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                7
            })
        })?;
        assert_eq!(got, 7);
        drop(engine_rt);
        assert!(matches!(
            bridge.run(std::future::pending::<()>()),
            Err(StoreError::Closed)
        ));
        Ok(())
    }
}
