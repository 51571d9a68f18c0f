//! The queue of readers' calls waiting to be sent together as one statement (see [`crate::reader`]).

use keyhaven_store::StoreError;
use std::sync::{mpsc, Mutex};

pub(crate) type Values = Vec<Option<Vec<u8>>>;

/// What a caller gets back.
pub(crate) enum Answer {
    /// The values of its keys, in its order.
    Values(Values),
    /// The statement failed.
    Failed(StoreError),
    /// Not sent: the connection it would have gone on was replaced (failover) or broke; the caller queues its
    /// keys (handed back) again.
    Again(Vec<Vec<u8>>),
}

/// One caller's keys and where its values go.
pub(crate) struct Waiter {
    keys: Vec<Vec<u8>>,
    answer: mpsc::SyncSender<Answer>,
}

impl Waiter {
    pub(crate) fn new(keys: Vec<Vec<u8>>, answer: mpsc::SyncSender<Answer>) -> Waiter {
        Waiter { keys, answer }
    }

    /// The keys this caller asked for, in its order.
    pub(crate) fn keys(&self) -> &[Vec<u8>] {
        &self.keys
    }

    /// Hands the caller back its keys, to queue again.
    pub(crate) fn again(self) {
        let _ = self.answer.send(Answer::Again(self.keys));
    }

    /// Hands the caller its answer.
    pub(crate) fn answer(self, answer: Answer) {
        // A caller that stopped waiting is not an error.
        let _ = self.answer.send(answer);
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

    /// A runner stops before the queue is empty (its connection is of no further use): what is queued is handed
    /// back for its callers to queue again, so that nobody waits for a runner that is gone.
    pub(crate) fn abandon(&self) -> Vec<Waiter> {
        let mut s = self.lock();
        s.running -= 1;
        std::mem::take(&mut s.waiting)
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
