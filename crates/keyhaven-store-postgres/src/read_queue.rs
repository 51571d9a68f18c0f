//! The queue of readers' calls waiting to be sent together as one statement (see [`crate::reader`]).

use keyhaven_store::StoreError;
use std::sync::{mpsc, Mutex};

pub(crate) type Values = Vec<Option<Vec<u8>>>;

/// One caller's keys and where its values go.
pub(crate) struct Waiter {
    keys: Vec<Vec<u8>>,
    answer: mpsc::SyncSender<Result<Values, StoreError>>,
}

impl Waiter {
    pub(crate) fn new(
        keys: Vec<Vec<u8>>,
        answer: mpsc::SyncSender<Result<Values, StoreError>>,
    ) -> Waiter {
        Waiter { keys, answer }
    }

    /// The keys this caller asked for, in its order.
    pub(crate) fn keys(&self) -> &[Vec<u8>] {
        &self.keys
    }

    /// Hands the caller its values (or the error).
    pub(crate) fn answer(self, values: Result<Values, StoreError>) {
        // A caller that stopped waiting is not an error.
        let _ = self.answer.send(values);
    }
}

/// Callers waiting for a statement, and how many statements are under way.
pub(crate) struct ReadQueue {
    state: Mutex<QueueState>,
    most: usize,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<Waiter>,
    running: usize,
}

impl ReadQueue {
    /// A queue that keeps at most `most` statements under way at once.
    pub(crate) fn new(most: usize) -> ReadQueue {
        ReadQueue {
            state: Mutex::new(QueueState::default()),
            most: most.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Nothing panics while holding it; a poisoned queue is still a consistent one.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `w`; returns the queue to send when this caller is to start a runner.
    pub(crate) fn push(&self, w: Waiter) -> Option<Vec<Waiter>> {
        let mut s = self.lock();
        s.waiting.push(w);
        if s.running < self.most {
            s.running += 1;
            Some(std::mem::take(&mut s.waiting))
        } else {
            None
        }
    }

    /// What queued meanwhile, for the runner's next statement; `None` (and the runner stops) when nothing did.
    pub(crate) fn next(&self) -> Option<Vec<Waiter>> {
        let mut s = self.lock();
        if s.waiting.is_empty() {
            s.running -= 1;
            None
        } else {
            Some(std::mem::take(&mut s.waiting))
        }
    }
}
