//! Principals' roles and secrets as requests need them, read once from the store and trusted for a while (see
//! `access::assignments`, which fills and empties it).

use crate::principal::Grant;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a principal's roles and secrets are trusted before they are read again: what bounds how late another
/// node sees a revocation or a changed assignment (this node sees its own changes at once).
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(30);
/// Principals cached at most (the cache is emptied when full).
pub(crate) const CACHE_LIMIT: usize = 65_536;

/// A principal's state as requests need it.
#[derive(Clone)]
pub(crate) struct Cached {
    pub client_id: String,
    /// Live secrets and their expiry.
    pub secrets: Vec<(String, Option<i64>)>,
    pub grants: Arc<[Grant]>,
    pub loaded: Instant,
}

/// Principals' roles and secrets, read once and kept for [`CACHE_TTL`].
#[derive(Default)]
pub(crate) struct AccessCache {
    pub(crate) principals: RwLock<HashMap<String, Arc<Cached>>>,
}

impl AccessCache {
    /// Forgets everything (after any change to principals, assignments or role definitions on this node).
    pub(crate) fn clear(&self) {
        if let Ok(mut m) = self.principals.write() {
            m.clear();
        }
    }
}
