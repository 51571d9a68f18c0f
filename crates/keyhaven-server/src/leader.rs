//! Background work that runs on one node at a time when several nodes serve one database: the node holding the
//! work's lease (see `keyhaven_store::lease`) runs it and keeps the lease while it lives; the others skip it and
//! take the lease over once it is released (a clean stop) or has lapsed (a crash: after [`LEASE_TTL`]). On the
//! embedded store there is one node, which always holds it. During read-only failover nobody does (the work writes).

use keyhaven_core::{Error, Keyhaven};
use keyhaven_store::Lease;
use std::sync::Arc;
use std::time::Duration;

/// How long a lease outlives a node that died holding it (its holder renews it every third of this).
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(30);

/// One piece of background work's claim to run on this node.
pub(crate) struct Leadership {
    name: String,
    held: Option<Lease>,
}

impl Leadership {
    pub(crate) fn new(name: impl Into<String>) -> Leadership {
        Leadership {
            name: name.into(),
            held: None,
        }
    }

    /// Whether this node runs the work now: it keeps the lease while it holds it, else tries to take it.
    pub(crate) async fn is_mine(&mut self, kh: &Arc<Keyhaven>) -> bool {
        if self.held.as_ref().is_some_and(Lease::is_held) {
            return true;
        }
        if self.held.take().is_some() {
            tracing::warn!(work = %self.name, "this node lost the lease of background work; another node may run it");
        }
        let (k, name) = (kh.clone(), self.name.clone());
        match tokio::task::spawn_blocking(move || k.try_lease(&name, LEASE_TTL)).await {
            Ok(Ok(Some(lease))) => {
                tracing::debug!(work = %self.name, "this node runs the background work");
                self.held = Some(lease);
                true
            }
            Ok(Ok(None)) | Ok(Err(Error::ReadOnly)) => false,
            Ok(Err(e)) => {
                tracing::warn!(work = %self.name, error = %e, "could not take the lease of background work");
                false
            }
            Err(_) => false,
        }
    }
}
