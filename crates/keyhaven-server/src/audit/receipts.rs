//! Receipts in the store: a copy of a change's audit record that the change's own commit makes durable (see
//! [`keyhaven_store::receipt`]), so that the record of a change needs no flush of the audit file before the answer —
//! one flush, the store's, for both. The record is then written to the file like a read's (synced within
//! [`super::writer::SYNC_READS_WITHIN`]); once it is synced its receipt is deleted. At start-up, a receipt whose
//! record is not in the log (the machine stopped before the file was synced) is written to the log, marked
//! `recovered`, and deleted.
//!
//! A receipt is keyed by this node's id (kept beside the audit files: nodes sharing a PostgreSQL database each
//! recover their own) and a number in the order receipts are made. The store authenticates it like any record: an
//! edited or planted receipt fails the store's check and is never written to the log.

use super::record::AuditRecord;
use super::writer::{self, Shared, Until};
use keyhaven_store::{keys, Entry, Store, StoreError};
use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The first component of every receipt's key.
const TAG: &[u8] = b"audit-receipt";
/// The file beside the audit files naming this node.
const NODE_FILE: &str = "node-id";
/// Receipts are deleted in batches: when this many are synced, or the oldest waited this long.
const PRUNE_BATCH: usize = 256;
const PRUNE_AFTER: Duration = Duration::from_secs(1);

/// What [`Receipts::written`] keeps: receipts whose records are in the file, by write number, until they are
/// synced.
struct Written {
    queue: VecDeque<(u64, Vec<u8>)>,
    oldest: Option<Instant>,
}

/// This node's receipts.
pub(super) struct Receipts {
    store: Arc<Store>,
    node: String,
    written: Mutex<Written>,
    /// This run's start (microseconds since the epoch) and the number of the next receipt.
    run: u64,
    next: AtomicU64,
}

impl Receipts {
    /// Receipts in `store` for the node whose audit files are in `dir` (naming it on first use).
    pub(super) fn new(store: Arc<Store>, dir: &Path) -> io::Result<Receipts> {
        Ok(Receipts {
            store,
            node: node_id(dir)?,
            written: Mutex::new(Written {
                queue: VecDeque::new(),
                oldest: None,
            }),
            run: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
            next: AtomicU64::new(0),
        })
    }

    fn prefix(&self) -> Vec<u8> {
        keys::prefix(&[TAG, self.node.as_bytes()])
    }

    /// The store entry of `record` (made before the answer: see [`AuditRecord::recovered`]). The store
    /// authenticates it like any record (under the root key's record key), so an edited one is refused when read.
    pub(super) fn seal(&self, record: &AuditRecord) -> Option<Entry> {
        // Keys in the order receipts are made (this run's start, then a counter): the store adds them at one end
        // of its index and deletes them from the other, touching few pages, where random keys would touch many.
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}{n:016x}", self.run);
        let key = keys::key(&[TAG, self.node.as_bytes(), id.as_bytes()]);
        Some((key, serde_json::to_vec(record).ok()?))
    }

    /// The record of the receipt `key` is in the file as write number `n`; `synced`: how far the file is on disk.
    /// Deletes the receipts whose records are synced, in batches.
    pub(super) fn written(&self, n: u64, key: Vec<u8>, synced: u64) {
        let Ok(mut w) = self.written.lock() else {
            return;
        };
        w.queue.push_back((n, key));
        let oldest = *w.oldest.get_or_insert_with(Instant::now);
        if w.queue.len() < PRUNE_BATCH && oldest.elapsed() < PRUNE_AFTER {
            return;
        }
        let done = w.queue.iter().take_while(|(n, _)| *n <= synced).count();
        if done == 0 {
            return;
        }
        let keys: Vec<Vec<u8>> = w.queue.drain(..done).map(|(_, k)| k).collect();
        w.oldest = (!w.queue.is_empty()).then(Instant::now);
        drop(w);
        // Not awaited: a receipt left by a lost delete is found in the log at the next start and deleted then.
        self.store.submit(
            move |txn| keys.iter().try_for_each(|k| txn.delete(k)),
            |r: Result<(), StoreError>| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "synced audit receipts could not be deleted (they are at the next start)");
                }
            },
        );
    }

    /// At close, once the file is synced up to `synced`: deletes the receipts whose records are on disk.
    pub(super) fn close(&self, synced: u64) {
        let keys: Vec<Vec<u8>> = match self.written.lock() {
            Ok(mut w) => {
                let done = w.queue.iter().take_while(|(n, _)| *n <= synced).count();
                w.queue.drain(..done).map(|(_, k)| k).collect()
            }
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

    /// Writes to the log, marked recovered, the record of every receipt of this node that is not in the last two
    /// files of `dir` (a receipt outlives its record's sync by a second at most), then deletes this node's receipts.
    /// Returns how many records were written.
    pub(super) async fn recover(
        self: &Arc<Self>,
        shared: &Shared,
        dir: &Path,
    ) -> io::Result<usize> {
        let this = self.clone();
        let entries = tokio::task::spawn_blocking(move || {
            let prefix = this.prefix();
            this.store
                .snapshot()
                .and_then(|s| s.scan(&prefix, &keys::prefix_end(&prefix), usize::MAX))
        })
        .await
        .map_err(io::Error::other)?;
        let entries = match entries {
            Ok(e) => e,
            // A receipt that fails the store's check (edited in the database) is refused with the rest; they stay
            // in the store, and the server starts.
            Err(e) => {
                tracing::error!(error = %e, "the audit receipts in the store could not be read; records of changes made before the last stop may be missing from the log");
                return Ok(0);
            }
        };
        if entries.is_empty() {
            return Ok(0);
        }
        let logged = request_ids_in_last_files(dir)?;
        let mut missing = Vec::new();
        for (key, value) in &entries {
            match serde_json::from_slice::<AuditRecord>(value) {
                Ok(r) if !logged.contains(&r.request_id) => missing.push(r),
                Ok(_) => {}
                Err(e) => tracing::error!(
                    key = %String::from_utf8_lossy(key),
                    error = %e,
                    "an audit receipt in the store does not hold a record; not written to the log"
                ),
            }
        }
        missing.sort_by(|a, b| a.time.cmp(&b.time));
        let recovered = missing.len();
        for mut r in missing {
            r.recovered = true;
            r.seq = 0;
            r.prev.clear();
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
    let tmp = dir.join(format!("{NODE_FILE}.tmp"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(id.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
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
