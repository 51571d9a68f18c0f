//! The server the engine uses now, what it is, and the generation of its connections (see [`crate::failover`]).

use crate::conn::Role;
use crate::url::PostgresUrl;
use std::sync::Mutex;
use tokio::sync::Notify;

/// The current host and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choice {
    pub host: usize,
    pub role: Role,
    pub generation: u64,
}

pub(crate) struct Target {
    choice: Mutex<Choice>,
    /// Wakes the watcher early (a request saw a connection fail).
    pub(crate) poke: Notify,
}

impl Target {
    pub(crate) fn new(host: usize, role: Role) -> Target {
        Target {
            choice: Mutex::new(Choice {
                host,
                role,
                generation: 0,
            }),
            poke: Notify::new(),
        }
    }

    pub(crate) fn current(&self) -> Choice {
        match self.choice.lock() {
            Ok(c) => *c,
            Err(p) => *p.into_inner(),
        }
    }

    /// Makes `host` (as `role`) current; returns the new generation when the host changed.
    pub(crate) fn settle(&self, url: &PostgresUrl, host: usize, role: Role) -> Option<u64> {
        let mut c = match self.choice.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let shown = url
            .hosts()
            .get(host)
            .map(|h| h.to_string())
            .unwrap_or_default();
        if c.host != host {
            c.host = host;
            c.role = role;
            c.generation += 1;
            tracing::warn!(host = %shown, mode = mode_name(role), "PostgreSQL: moved to another server");
            return Some(c.generation);
        }
        if c.role != role {
            c.role = role;
            tracing::warn!(host = %shown, mode = mode_name(role), "PostgreSQL: the server changed role");
        }
        None
    }

    /// Records what a connection to `host` found it to be, if `host` is still current.
    pub(crate) fn observe(&self, host: usize, role: Role) {
        if let Ok(mut c) = self.choice.lock() {
            if c.host == host && c.role != role {
                c.role = role;
                self.poke.notify_one();
            }
        }
    }
}

fn mode_name(role: Role) -> &'static str {
    match role {
        Role::Primary => "read-write",
        Role::Standby => "read-only",
    }
}
