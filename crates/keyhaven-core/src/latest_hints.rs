//! Each object's latest version as this node last saw it: a hint that lets a read ask for the version together
//! with the object (see [`crate::point_read`]); every use checks it against the object read with it.

use keyhaven_model::Version;
use std::collections::HashMap;
use std::sync::Mutex;

/// Objects whose latest version is remembered; past this the hints start over (they are only hints).
const MAX_HINTS: usize = 16_384;

/// The latest version each object had when last read or written here, by object key.
#[derive(Default)]
pub(crate) struct LatestHints(Mutex<HashMap<Vec<u8>, Version>>);

impl LatestHints {
    pub(crate) fn get(&self, object_key: &[u8]) -> Option<Version> {
        self.0.lock().ok()?.get(object_key).cloned()
    }

    pub(crate) fn note(&self, object_key: &[u8], latest: &Version) {
        if let Ok(mut hints) = self.0.lock() {
            if hints.get(object_key) == Some(latest) {
                return;
            }
            if hints.len() >= MAX_HINTS {
                hints.clear();
            }
            hints.insert(object_key.to_vec(), latest.clone());
        }
    }
}
