//! Keeps a snapshot's point in time honest while its `BEGIN` is still on the wire.
//!
//! [`crate::PostgresEngine::snapshot`] returns as soon as the snapshot's `BEGIN ...; SELECT 1` is queued on its
//! connection; PostgreSQL fixes the snapshot when it runs that `SELECT`, a moment later. A commit of this engine
//! that started after `snapshot()` returned must not be visible in it, so before sending `COMMIT` a write
//! transaction waits until every snapshot begun before it has been fixed (usually already the case: a begin takes
//! one round trip). Each begin holds a [`Ticket`] until the server has answered it.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Fence {
    state: Mutex<State>,
    cleared: Condvar,
}

#[derive(Default)]
struct State {
    next: u64,
    open: BTreeSet<u64>,
}

/// A snapshot begin not yet answered; dropping it clears it.
pub(crate) struct Ticket {
    fence: Arc<Fence>,
    id: u64,
}

impl Fence {
    pub(crate) fn enter(self: &Arc<Self>) -> Ticket {
        let id = match self.state.lock() {
            Ok(mut s) => {
                let id = s.next;
                s.next += 1;
                s.open.insert(id);
                id
            }
            Err(_) => u64::MAX,
        };
        Ticket {
            fence: self.clone(),
            id,
        }
    }

    /// Returns once every ticket handed out before this call has been dropped (or after `limit`: begins have
    /// their own time limit, so this only bounds a wait that cannot otherwise end).
    pub(crate) fn wait_for_earlier(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let Ok(mut s) = self.state.lock() else { return };
        let horizon = s.next;
        while s.open.first().is_some_and(|&first| first < horizon) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            s = match self.cleared.wait_timeout(s, deadline - now) {
                Ok((s, _)) => s,
                Err(_) => return,
            };
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut s) = self.fence.state.lock() {
            s.open.remove(&self.id);
        }
        self.fence.cleared.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_earlier_tickets_only() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::mpsc;
        let fence = Arc::new(Fence::default());
        let early = fence.enter();
        let released = Arc::new(AtomicBool::new(false));
        let (ready, started) = mpsc::channel();
        let (f, r) = (fence.clone(), released.clone());
        let waiter = std::thread::spawn(move || {
            let _ = ready.send(());
            f.wait_for_earlier(Duration::from_secs(10));
            r.load(Ordering::SeqCst)
        });
        // Whether the waiter returns before the earlier ticket is dropped is decided by a flag, not by timing; the
        // pause only makes it likely that the waiter's call came before the later ticket, as the test means.
        let _ = started.recv();
        std::thread::sleep(Duration::from_millis(100));
        let _late = fence.enter();
        let t = Instant::now();
        released.store(true, Ordering::SeqCst);
        drop(early);
        let after_release = waiter.join().unwrap_or(false);
        assert!(after_release, "returned while an earlier ticket was open");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "a later ticket is not waited for"
        );
    }
}
