//! Receipts in the store: a copy of a change's audit record that the change's own commit makes durable (see
//! [`keyhaven_store::receipt`]: a commit writes the copies of all its writers as one entry), so that the record of a
//! change needs no flush of the audit file before the answer — one flush, the store's, for both. The record is then
//! written to the file like a read's (synced within [`super::writer::SYNC_READS_WITHIN`]); once every record of an
//! entry is synced the entry is deleted. At start-up, a record kept in an entry but not in the log (the machine
//! stopped before the file was synced) is written to the log, marked `recovered`, and the entries are deleted.
//!
//! Entries are keyed by this node's id (kept beside the audit files: nodes sharing a PostgreSQL database each
//! recover their own) and a number in commit order. The store authenticates them like any record: an edited or
//! planted entry fails the store's check and is never written to the log.

use super::record::AuditRecord;
use super::writer::{self, Shared, Until};
use keyhaven_store::{keys, Store, StoreError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first component of every receipt entry's key.
const TAG: &[u8] = b"audit-receipt";
/// The file beside the audit files naming this node.
const NODE_FILE: &str = "node-id";
/// Entries are deleted in batches: when this many records are synced, or the oldest waited this long.
const PRUNE_BATCH: usize = 256;
const PRUNE_AFTER: Duration = Duration::from_secs(1);

/// Records in the file whose receipts are still in the store, until they are synced.
struct Written {
    /// By write number: the entries holding the record's part.
    queue: VecDeque<(u64, super::ReceiptState)>,
    oldest: Option<Instant>,
    /// Entries some of whose records are synced: how many of their parts are not yet.
    open: HashMap<Vec<u8>, usize>,
}

/// This node's receipts.
pub(super) struct Receipts {
    store: Arc<Store>,
    prefix: Vec<u8>,
    written: Mutex<Written>,
}

impl Receipts {
    /// Receipts in `store` for the node whose audit files are in `dir` (naming it on first use).
    pub(super) fn new(store: Arc<Store>, dir: &Path) -> io::Result<Receipts> {
        let node = node_id(dir)?;
        Ok(Receipts {
            store,
            prefix: keys::prefix(&[TAG, node.as_bytes()]),
            written: Mutex::new(Written {
                queue: VecDeque::new(),
                oldest: None,
                open: HashMap::new(),
            }),
        })
    }

    /// From now on the store writes receipts, under this node's prefix.
    pub(super) fn start(&self) {
        self.store.keep_receipts_under(self.prefix.clone());
    }

    /// The part of a receipt that keeps `record` (made before the answer: see [`AuditRecord::recovered`]). The
    /// store authenticates the entry holding it like any record, so an edited one is refused when read.
    pub(super) fn part(record: &AuditRecord) -> Option<Vec<u8>> {
        serde_json::to_vec(record).ok()
    }

    /// The record written as number `n` has its parts in the entries `at` (key, parts in all); `synced`: how far
    /// the file is on disk. Deletes, in batches, the entries all of whose records are synced.
    pub(super) fn written(&self, n: u64, at: super::ReceiptState, synced: u64) {
        let Ok(mut w) = self.written.lock() else {
            return;
        };
        w.queue.push_back((n, at));
        let oldest = *w.oldest.get_or_insert_with(Instant::now);
        if w.queue.len() < PRUNE_BATCH && oldest.elapsed() < PRUNE_AFTER {
            return;
        }
        let keys = w.take_synced(synced);
        drop(w);
        if keys.is_empty() {
            return;
        }
        // Not awaited: an entry left by a lost delete is found in the log at the next start and deleted then.
        self.store.submit(
            move |txn| keys.iter().try_for_each(|k| txn.delete(k)),
            |r: Result<(), StoreError>| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "synced audit receipts could not be deleted (they are at the next start)");
                }
            },
        );
    }

    /// At close, once the file is synced up to `synced`: deletes the entries all of whose records are on disk.
    pub(super) fn close(&self, synced: u64) {
        let keys = match self.written.lock() {
            Ok(mut w) => w.take_synced(synced),
            Err(_) => return,
        };
        if keys.is_empty() {
            return;
        }
        let r: Result<(), StoreError> = self
            .store
            .write_blocking(move |txn| keys.iter().try_for_each(|k| txn.delete(k)));
        if let Err(e) = r {
            tracing::warn!(error = %e, "synced audit receipts could not be deleted (they are at the next start)");
        }
    }

    /// Writes to the log, marked recovered, every record kept in this node's receipts that is not in the last two
    /// files of `dir` (an entry outlives its records' sync by a second or so), then deletes the entries. Returns how
    /// many records were written.
    pub(super) async fn recover(
        self: &Arc<Self>,
        shared: &Shared,
        dir: &Path,
    ) -> io::Result<usize> {
        let this = self.clone();
        let entries = tokio::task::spawn_blocking(move || {
            this.store
                .snapshot()
                .and_then(|s| s.scan(&this.prefix, &keys::prefix_end(&this.prefix), usize::MAX))
        })
        .await
        .map_err(io::Error::other)?;
        let entries = match entries {
            Ok(e) => e,
            // An entry that fails the store's check (edited in the database) is refused with the rest; they stay
            // in the store, and the server starts.
            Err(e) => {
                tracing::error!(error = %e, "the audit receipts in the store could not be read; records of changes made before the last stop may be missing from the log");
                return Ok(0);
            }
        };
        if entries.is_empty() {
            return Ok(0);
        }
        let mut logged = request_ids_in_last_files(dir)?;
        let mut missing = Vec::new();
        for (key, value) in &entries {
            let Some(parts) = keyhaven_store::receipt::parts(value) else {
                tracing::error!(key = %String::from_utf8_lossy(key), "an audit receipt entry is malformed; not written to the log");
                continue;
            };
            for part in parts {
                match serde_json::from_slice::<AuditRecord>(part) {
                    // A request whose writes went to several commits has a part in each: written once.
                    Ok(r) if logged.insert(r.request_id.clone()) => missing.push(r),
                    Ok(_) => {}
                    Err(e) => tracing::error!(
                        key = %String::from_utf8_lossy(key),
                        error = %e,
                        "an audit receipt does not hold a record; not written to the log"
                    ),
                }
            }
        }
        missing.sort_by(|a, b| a.time.cmp(&b.time));
        let recovered = missing.len();
        for mut r in missing {
            r.recovered = true;
            shared.append(&mut r, Until::OnDisk).await?;
        }
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "audit records of changes made before the last stop were written from their receipts"
            );
        }
        // Their records are in the log now. A store that takes no writes (a standby) keeps them until a start on
        // the primary, which finds them in the log and deletes them.
        let keys: Vec<Vec<u8>> = entries.into_iter().map(|(k, _)| k).collect();
        let deleted: Result<(), StoreError> = self
            .store
            .write(move |txn| keys.iter().try_for_each(|k| txn.delete(k)))
            .await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e, "audit receipts whose records are in the log could not be deleted");
        }
        Ok(recovered)
    }
}

impl Written {
    /// The entries all of whose records are synced (`synced`), taken off the books.
    fn take_synced(&mut self, synced: u64) -> Vec<Vec<u8>> {
        let done = self.queue.iter().take_while(|(n, _)| *n <= synced).count();
        let mut keys = Vec::new();
        for (_, at) in self.queue.drain(..done) {
            for (key, parts) in at {
                let left = self.open.entry(key.clone()).or_insert(parts);
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.open.remove(&key);
                    keys.push(key);
                }
            }
        }
        self.oldest = (!self.queue.is_empty()).then(Instant::now);
        keys
    }
}
/// This node's id, from `dir/node-id` (made on first use).
fn node_id(dir: &Path) -> io::Result<String> {
    let path = dir.join(NODE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let id = keyhaven_crypto::random_uuid().map_err(io::Error::other)?;
    crate::private_files::write_private(&path, id.as_bytes()).map_err(io::Error::other)?;
    Ok(id)
}

/// The request ids of the records in the last two audit files of `dir`.
fn request_ids_in_last_files(dir: &Path) -> io::Result<HashSet<String>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Id {
        request_id: String,
    }
    let files = writer::log_files(dir)?;
    let mut ids = HashSet::new();
    for f in files.iter().rev().take(2) {
        let text = std::fs::read(f)?;
        for line in text.split(|b| *b == b'\n') {
            if let Ok(id) = serde_json::from_slice::<Id>(line) {
                ids.insert(id.request_id);
            }
        }
    }
    Ok(ids)
}
