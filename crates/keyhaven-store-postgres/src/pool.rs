//! A bounded pool of connections. Taking one never blocks on a runtime: it sleeps on a condition variable while
//! the pool is full (up to a time limit). Connections come back when their lease ends; a broken one, or one
//! opened for an earlier host choice, is closed instead of reused, and a new one is opened in its place.

use crate::conn::Conn;
use keyhaven_store::StoreError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Connections of one purpose (snapshots, or write transactions).
pub(crate) struct Pool {
    name: &'static str,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<Conn>,
    /// Connections idle, leased, or being opened.
    open: usize,
}

/// What [`Pool::take`] gives: a connection, or the right to open one.
pub(crate) enum Taken {
    Idle(Lease),
    MayOpen(Permit),
}

impl Pool {
    pub(crate) fn new(name: &'static str, max: usize) -> Arc<Pool> {
        Arc::new(Pool {
            name,
            max: max.max(1),
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::unavailable("connection pool lock poisoned"))
    }

    /// An idle connection opened under `generation`, or leave to open one while the pool is not full; waits up
    /// to `wait` for either.
    pub(crate) fn take(
        self: &Arc<Self>,
        generation: u64,
        wait: Duration,
    ) -> Result<Taken, StoreError> {
        let deadline = Instant::now() + wait;
        let mut state = self.lock()?;
        loop {
            while let Some(conn) = state.idle.pop() {
                if conn.generation == generation && !conn.client.is_closed() {
                    return Ok(Taken::Idle(Lease {
                        conn: Some(conn),
                        pool: self.clone(),
                        reusable: true,
                    }));
                }
                state.open = state.open.saturating_sub(1);
            }
            if state.open < self.max {
                state.open += 1;
                return Ok(Taken::MayOpen(Permit {
                    pool: Some(self.clone()),
                }));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::unavailable(format!(
                    "all {} PostgreSQL {} connections stayed busy for {} s",
                    self.max,
                    self.name,
                    wait.as_secs()
                )));
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .map_err(|_| StoreError::unavailable("connection pool lock poisoned"))?
                .0;
        }
    }

    /// Closes idle connections opened before `generation` (after the engine moved to another host).
    pub(crate) fn retire_before(&self, generation: u64) {
        if let Ok(mut state) = self.state.lock() {
            let before = state.idle.len();
            state.idle.retain(|c| c.generation >= generation);
            let retired = before - state.idle.len();
            state.open = state.open.saturating_sub(retired);
            if retired > 0 {
                self.freed.notify_all();
            }
        }
    }

    fn give_back(&self, conn: Option<Conn>) {
        if let Ok(mut state) = self.state.lock() {
            match conn {
                Some(c) if !c.client.is_closed() => state.idle.push(c),
                _ => state.open = state.open.saturating_sub(1),
            }
        }
        self.freed.notify_one();
    }
}

/// The right to open one connection of a pool; given back unused if dropped.
pub(crate) struct Permit {
    pool: Option<Arc<Pool>>,
}

impl Permit {
    /// The newly opened connection, leased to the permit's holder.
    pub(crate) fn lease(mut self, conn: Conn) -> Option<Lease> {
        let pool = self.pool.take()?;
        Some(Lease {
            conn: Some(conn),
            pool,
            reusable: true,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give_back(None);
        }
    }
}

/// A connection on loan; back to its pool when dropped, unless marked broken.
pub(crate) struct Lease {
    conn: Option<Conn>,
    pool: Arc<Pool>,
    reusable: bool,
}

impl Lease {
    pub(crate) fn conn(&self) -> Option<&Conn> {
        self.conn.as_ref()
    }

    /// The connection is closed at the end of the lease instead of being reused (its state is unknown).
    pub(crate) fn discard(&mut self) {
        self.reusable = false;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let conn = self.conn.take().filter(|_| self.reusable);
        self.pool.give_back(conn);
    }
}
