//! Leases: a named right to do something alone, among every process over one store — background work that must
//! run once across the nodes of a deployment, or a long job that other nodes must leave alone while its owner
//! lives (a vault restore).
//!
//! A lease is taken with [`Engine::try_lease`](crate::Engine::try_lease) (through [`Store::try_lease`](crate::Store::try_lease),
//! which also excludes holders within the process) and is held until the [`Lease`] is dropped. An engine that
//! several processes share keeps it alive in the background; if its holder vanishes without releasing it (a
//! crashed process, a lost connection), it lapses after its time to live and another process may take it.
//! [`Lease::is_held`] turns false once the engine could not keep it alive: work guarded by it should stop.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What an engine keeps for a lease it granted: whether it is still held; dropping it releases the lease.
pub trait LeaseHold: Send + Sync {
    /// Whether the lease is still this holder's (false once it could not be kept alive in time: another holder
    /// may have it now).
    fn is_held(&self) -> bool;
}

/// A lease held: its name is this holder's until the value is dropped (or the lease is lost, see
/// [`Lease::is_held`]).
pub struct Lease {
    name: String,
    holds: Vec<Box<dyn LeaseHold>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("name", &self.name)
            .field("held", &self.is_held())
            .finish()
    }
}

impl Lease {
    /// A lease kept by `hold` (an engine's implementation).
    pub fn new(name: &str, hold: Box<dyn LeaseHold>) -> Lease {
        Lease {
            name: name.to_string(),
            holds: vec![hold],
        }
    }

    /// A lease with nothing to keep: what an engine only one process opens grants (no other process can hold
    /// it; within the process, the store excludes holders).
    pub fn granted(name: &str) -> Lease {
        Lease {
            name: name.to_string(),
            holds: Vec::new(),
        }
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the lease is still held: false once it could not be kept alive (work it guards should stop).
    pub fn is_held(&self) -> bool {
        self.holds.iter().all(|h| h.is_held())
    }

    /// The same lease, also kept by `hold` (released with it).
    pub(crate) fn also(mut self, hold: Box<dyn LeaseHold>) -> Lease {
        self.holds.push(hold);
        self
    }
}

/// Leases among the holders of one process: a name is held by at most one of them at a time, until its hold is
/// dropped. For engines that are shared only within a process (and for the store's own exclusion).
#[derive(Default, Clone)]
pub struct LocalLeases {
    held: Arc<Mutex<HashSet<String>>>,
}

impl LocalLeases {
    /// The hold of `name`, or `None` while another holder of this registry has it.
    pub fn try_take(&self, name: &str) -> Option<Box<dyn LeaseHold>> {
        let mut held = match self.held.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        if !held.insert(name.to_string()) {
            return None;
        }
        Some(Box::new(LocalHold {
            held: self.held.clone(),
            name: name.to_string(),
        }))
    }
}

struct LocalHold {
    held: Arc<Mutex<HashSet<String>>>,
    name: String,
}

impl LeaseHold for LocalHold {
    fn is_held(&self) -> bool {
        true
    }
}

impl Drop for LocalHold {
    fn drop(&mut self) {
        let mut held = match self.held.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        held.remove(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_name_has_one_holder_until_dropped() {
        let leases = LocalLeases::default();
        let a = leases.try_take("x").unwrap();
        assert!(leases.try_take("x").is_none(), "held");
        let b = leases.try_take("y").unwrap();
        drop(a);
        assert!(leases.try_take("x").is_some(), "released when dropped");
        assert!(b.is_held());
        let lease = Lease::granted("z").also(b);
        assert_eq!(lease.name(), "z");
        assert!(lease.is_held());
    }
}
