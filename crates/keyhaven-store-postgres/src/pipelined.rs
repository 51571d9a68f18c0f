//! A few connections that readers share: their autocommit statements, from any number of callers at once, are
//! pipelined on them (tokio-postgres queues concurrent requests on one connection and sends them together), so
//! that one server process works through a stream of point reads instead of many processes waking for one each.
//! A connection is opened on first use, and again once it broke or the engine moved to another server.

use crate::conn::Conn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct Pipelined {
    slots: Vec<Mutex<Option<Conn>>>,
    next: AtomicUsize,
}

impl Pipelined {
    pub(crate) fn new(connections: usize) -> Pipelined {
        Pipelined {
            slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The connection in the next slot (round robin) if it is open and of host choice `generation`; otherwise
    /// `open` makes one, kept for the next callers. The slot is locked while `open` runs.
    pub(crate) fn get<E>(
        &self,
        generation: u64,
        open: impl FnOnce() -> Result<Conn, E>,
    ) -> Result<(usize, Conn), E> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = match self.slots[i].lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(c) = slot.as_ref() {
            if c.generation == generation && !c.client.is_closed() {
                return Ok((i, c.clone()));
            }
        }
        let conn = open()?;
        *slot = Some(conn.clone());
        Ok((i, conn))
    }

    /// Drops the connection of slot `i` if it is still `conn` (it broke); the next caller opens another.
    pub(crate) fn discard(&self, i: usize, conn: &Conn) {
        if let Some(slot) = self.slots.get(i) {
            let mut slot = match slot.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            if slot
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(&c.client, &conn.client))
            {
                *slot = None;
            }
        }
    }
}
