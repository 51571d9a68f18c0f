//! Readers: a request's point reads without a transaction, concurrent callers' reads answered by one statement.
//!
//! A `get_many` joins a queue. A caller that finds fewer statements under way than there are shared reader
//! connections takes the whole queue and sends it as **one** prepared statement (`k = ANY($1)`, the keys of every
//! caller in it, each key once) in autocommit mode on one of those connections (see [`crate::pipelined`]); when
//! the answer comes, the runner hands each caller the values of its own keys and sends whatever queued meanwhile
//! as the next statement, until the queue is empty. Under load one statement answers many requests, so the
//! database starts, plans and finishes one statement instead of one per request.
//!
//! PostgreSQL runs a statement on one snapshot of its own, taken when the statement starts (read committed, or
//! any stricter default: a single-statement transaction), so every key of one call comes from one committed
//! state; and a statement is only sent after every caller in it had called, so that state holds every commit
//! acknowledged before any of those calls. That is one round trip per call at most, with no `BEGIN` / `ROLLBACK`
//! and no connection held — where a snapshot costs its `BEGIN`, one round trip per read, and a connection of its
//! own until its `ROLLBACK`.

use crate::bridge::Pending;
use crate::conn::Conn;
use crate::read_queue::{Answer, Waiter};
use crate::shared::{request, Inner, Shared};
use keyhaven_store::{Reader, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc};

/// Sends batches on `conn` until the queue is empty: each caller gets the values of its keys, or the error.
async fn run(shared: Arc<Shared>, slot: usize, conn: Conn, mut batch: Vec<Waiter>) {
    loop {
        let current = shared.target.current().generation == conn.generation;
        if !current || conn.client.is_closed() {
            // The engine moved to another server, or the connection broke: this runner stops, and these callers
            // and those queued queue again; the one that sends next takes a connection to the current server.
            batch.extend(shared.reads.abandon());
            batch.into_iter().for_each(Waiter::again);
            return;
        } else {
            let mut seen = HashSet::new();
            let keys: Vec<&Vec<u8>> = batch
                .iter()
                .flat_map(|w| w.keys().iter())
                .filter(|k| seen.insert(k.as_slice()))
                .collect();
            let limit = shared.options.request_timeout;
            let rows = request(
                limit,
                "reading",
                conn.client.query(&conn.statements.get_many, &[&keys]),
            )
            .await;
            let found = match rows {
                Ok(rows) => crate::rows::entries(rows)
                    .map(|e| e.into_iter().collect::<HashMap<Vec<u8>, Vec<u8>>>()),
                Err(f) => {
                    if f.broken {
                        shared.target.poke.notify_one();
                        shared.pipelined.discard(slot, &conn);
                    }
                    Err(f.error)
                }
            };
            for w in batch {
                let answer = match &found {
                    Ok(found) => {
                        Answer::Values(w.keys().iter().map(|k| found.get(k).cloned()).collect())
                    }
                    Err(e) => Answer::Failed(e.clone()),
                };
                w.answer(answer);
            }
        }
        match shared.reads.next() {
            Some(b) => batch = b,
            None => return,
        }
    }
}

pub(crate) struct PgReader {
    inner: Arc<Inner>,
}

impl PgReader {
    pub(crate) fn new(inner: Arc<Inner>) -> PgReader {
        PgReader { inner }
    }
}

/// Times a call queues again after its connection was replaced before it gives up.
const ATTEMPTS: usize = 3;

impl Reader for PgReader {
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = crate::rows::key_array(keys);
        for _ in 0..ATTEMPTS {
            match self.queue(keys)? {
                Answer::Values(values) => return Ok(values),
                Answer::Failed(e) => return Err(e),
                Answer::Again(handed_back) => keys = handed_back,
            }
        }
        Err(StoreError::unavailable(
            "the database connection kept being replaced; retry the request",
        ))
    }
}

impl PgReader {
    /// Queues one call and waits for its answer.
    fn queue(&self, keys: Vec<Vec<u8>>) -> Result<Answer, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let shared = &self.inner.shared;
        if let Some(batch) = shared.reads.push(Waiter::new(keys, tx)) {
            match self.inner.shared_conn() {
                // Polled once here: the statement leaves now, from this thread.
                Ok((slot, conn)) => drop(self.inner.bridge.start(run(
                    shared.clone(),
                    slot,
                    conn,
                    batch,
                ))),
                Err(e) => {
                    // No connection: this batch fails, and so does what queued behind it.
                    let mut batch = Some(batch);
                    while let Some(b) = batch {
                        b.into_iter()
                            .for_each(|w| w.answer(Answer::Failed(e.clone())));
                        batch = shared.reads.next();
                    }
                }
            }
        }
        Pending::waiting(rx).wait()
    }
}
