//! The audit log: one JSON line per request — allowed, denied or failed, token requests included — under
//! `DATA_DIR/audit/` (configurable), each carrying the SHA-256 of the line before it, so that `keyhaven audit verify`
//! finds any edited, removed, inserted or reordered line. Never a secret value, key material, token or client
//! secret; object names may be written as keyed hashes. Fail closed: a request whose record cannot be written is
//! answered 503, and while the log cannot be written requests are refused before they do anything.

mod receipts;
mod record;
mod verify;
mod writer;

pub use record::{AuditRecord, Caller, Outcome, GENESIS};
pub use verify::{verify, Broken, Verified};
pub use writer::log_files;

use keyhaven_store::Store;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use zeroize::Zeroizing;

/// Syncer threads: a record that comes while one flush is under way starts the next at once on the other,
/// instead of waiting for the first to end.
const SYNCERS: usize = 2;

/// How the audit log is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Off only when explicitly configured (not recommended).
    pub enabled: bool,
    /// Where the files go (default `DATA_DIR/audit`).
    pub dir: PathBuf,
    /// A file is closed and a new one begun once it reaches this size.
    pub max_file_bytes: u64,
    /// Write object names as keyed hashes (`hmac:…`, under a key derived from the root key) instead of plainly.
    pub hash_names: bool,
    /// Requests that change nothing (GET, HEAD, cryptographic operations) wait until their record is on disk too,
    /// not only in the file (default: no; the file is synced within 10 ms).
    pub sync_reads: bool,
}

/// The audit log (cheap to share).
#[derive(Clone)]
pub struct AuditLog(Arc<Inner>);

struct Inner {
    /// The writer (none when the log is off).
    shared: Option<Arc<writer::Shared>>,
    sync_reads: bool,
    name_key: Option<Zeroizing<[u8; 32]>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Where the files are.
    dir: PathBuf,
    /// Copies of changes' records kept by the changes' own commits, once [`AuditLog::keep_receipts`] was called.
    receipts: OnceLock<Arc<receipts::Receipts>>,
}

/// Where a request's receipt went, as its record is appended: the store entries holding a copy of the record (key,
/// copies in all) from the commits of its writes. Empty: no write that carried it is durable (then the record must
/// be on disk before the answer).
pub type ReceiptState = Vec<(Vec<u8>, usize)>;

/// Why a record was not written.
#[derive(Debug, thiserror::Error)]
#[error("the audit log could not be written: {0}")]
pub struct AuditError(String);

impl AuditLog {
    /// Opens the log (continuing the last file) and starts its writer.
    pub fn open(
        settings: &AuditSettings,
        name_key: Option<Zeroizing<[u8; 32]>>,
    ) -> std::io::Result<AuditLog> {
        if !settings.enabled {
            return Ok(AuditLog::disabled());
        }
        let w = writer::Writer::open(&settings.dir, settings.max_file_bytes)?;
        let shared = Arc::new(writer::Shared::new(w));
        let mut threads = Vec::new();
        for _ in 0..SYNCERS {
            let syncer = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("keyhaven-audit".into())
                    .spawn(move || syncer.run())?,
            );
        }
        Ok(AuditLog(Arc::new(Inner {
            shared: Some(shared),
            sync_reads: settings.sync_reads,
            name_key: if settings.hash_names { name_key } else { None },
            threads: Mutex::new(threads),
            dir: settings.dir.clone(),
            receipts: OnceLock::new(),
        })))
    }

    /// A log that records nothing.
    pub fn disabled() -> AuditLog {
        AuditLog(Arc::new(Inner {
            shared: None,
            sync_reads: false,
            name_key: None,
            threads: Mutex::new(Vec::new()),
            dir: PathBuf::new(),
            receipts: OnceLock::new(),
        }))
    }

    /// From now on, changes made through `store` keep a copy of their records in it ([`receipts`]), so their
    /// records need no flush of their own; first writes to the log the records of changes made before the last
    /// stop whose records did not reach the disk. Returns how many such records were written.
    pub async fn keep_receipts(&self, store: Arc<Store>) -> std::io::Result<usize> {
        let Some(shared) = &self.0.shared else {
            return Ok(0);
        };
        let r = Arc::new(receipts::Receipts::new(store, &self.0.dir)?);
        let recovered = r.recover(shared, &self.0.dir).await?;
        r.start();
        let _ = self.0.receipts.set(r);
        Ok(recovered)
    }

    /// Whether changes keep copies of their records in the store.
    pub fn keeps_receipts(&self) -> bool {
        self.0.receipts.get().is_some()
    }

    /// The receipt part that keeps a copy of `record` (see [`keep_receipts`](AuditLog::keep_receipts)).
    pub fn receipt(&self, record: &AuditRecord) -> Option<Vec<u8>> {
        self.0.receipts.get()?;
        receipts::Receipts::part(record)
    }

    /// Whether records are kept.
    pub fn enabled(&self) -> bool {
        self.0.shared.is_some()
    }

    /// Whether the last write succeeded (requests are refused up front while it did not).
    pub fn healthy(&self) -> bool {
        self.0
            .shared
            .as_ref()
            .is_none_or(|s| s.healthy.load(Ordering::SeqCst))
    }

    /// An object's name as records write it.
    pub fn name(&self, vault: &str, kind: &str, name: &str) -> String {
        match &self.0.name_key {
            Some(key) => {
                let data = format!("{vault}|{kind}|{}", name.to_ascii_lowercase());
                match keyhaven_crypto::hmac_sha256(&key[..], data.as_bytes()) {
                    Ok(mac) => format!("hmac:{}", keyhaven_crypto::hex(&mac[..16])),
                    Err(_) => "hmac:?".into(),
                }
            }
            None => name.to_string(),
        }
    }

    /// Appends a record and waits until it is on disk — or, for a request that changed nothing (`changes_nothing`:
    /// a read or a cryptographic operation) and unless `sync_reads`, or one whose change kept a copy of its record
    /// in the store (`receipt` committed), appends it at once, without waiting for a disk flush (it is synced
    /// within 10 ms; then the copy is deleted).
    pub async fn append(
        &self,
        mut record: AuditRecord,
        changes_nothing: bool,
        receipt: Option<ReceiptState>,
    ) -> Result<(), AuditError> {
        let Some(shared) = &self.0.shared else {
            return Ok(());
        };
        let receipt = receipt.filter(|at| !at.is_empty());
        let until = if (changes_nothing && !self.0.sync_reads) || receipt.is_some() {
            writer::Until::InFile
        } else {
            writer::Until::OnDisk
        };
        let n = shared
            .append(&mut record, until)
            .await
            .map_err(|e| AuditError(e.to_string()))?;
        if let (Some(at), Some(receipts)) = (receipt, self.0.receipts.get()) {
            receipts.written(n, at, shared.synced());
        }
        Ok(())
    }

    /// Stops the writer after it has written what it holds.
    pub fn close(&self) {
        if let Some(shared) = &self.0.shared {
            shared.shut();
        }
        let threads = self
            .0
            .threads
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default();
        for h in threads {
            let _ = h.join();
        }
        if let (Some(shared), Some(receipts)) = (&self.0.shared, self.0.receipts.get()) {
            receipts.close(shared.synced());
        }
    }
}

impl Drop for Inner {
    /// A log dropped without [`AuditLog::close`] still stops its syncer threads (after a last sync).
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.shut();
        }
    }
}

#[cfg(test)]
mod tests;
