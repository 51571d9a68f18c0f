//! The audit log's writer: numbers and chains records, appends them, and rotates files by size without breaking the
//! chain (a new file starts from the last line's hash). Every request appends its own record under one lock — no
//! thread hop. Every `fdatasync` is done by one syncer thread, each covering everything written before it began
//! (group commit): a request that may change state wakes it if it sleeps and waits, without blocking a runtime
//! thread, until a sync covering its record has ended. A request that changes nothing (a read, a cryptographic
//! operation) is answered once its record is in the file (it survives a crash of the process); the syncer syncs
//! such records within [`SYNC_READS_WITHIN`] (unless configured to wait for the disk too): they do not wait for a
//! disk flush they never needed, as the store's reads do not.

use super::record::{AuditRecord, GENESIS};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// How long records of reads may stay written but not yet synced.
pub(super) const SYNC_READS_WITHIN: std::time::Duration = std::time::Duration::from_millis(10);

/// The file name of a log file whose first line is `seq` (names sort in log order).
pub(super) fn file_name(seq: u64) -> String {
    format!("audit-{seq:020}.jsonl")
}

/// The log files in `dir`, in log order.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// How far syncs have got: every write up to `synced` is on disk; a sync covering writes up to `failed` failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Progress {
    synced: u64,
    failed: u64,
}

/// The writer's state, shared by the requests that append their own records and the syncer thread.
pub(super) struct Shared {
    writer: Mutex<Writer>,
    /// Wakes the syncer: a request waits for a sync, or the log is closing.
    work: Condvar,
    /// Where syncs have got (sent by the syncer after each one).
    progress: tokio::sync::watch::Sender<Progress>,
    /// Whether the last write (or sync) succeeded.
    pub healthy: AtomicBool,
}

impl Shared {
    pub(super) fn new(writer: Writer) -> Shared {
        Shared {
            writer: Mutex::new(writer),
            work: Condvar::new(),
            progress: tokio::sync::watch::Sender::new(Progress::default()),
            healthy: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> std::io::Result<std::sync::MutexGuard<'_, Writer>> {
        self.writer
            .lock()
            .map_err(|_| std::io::Error::other("the audit writer failed earlier"))
    }

    fn note<T>(&self, result: &std::io::Result<T>) {
        self.healthy.store(result.is_ok(), Ordering::SeqCst);
    }

    /// Appends one record now (in the file; synced later by the syncer thread). Returns the write's number.
    pub(super) fn append_unsynced(&self, record: &mut AuditRecord) -> std::io::Result<u64> {
        let middle = record.middle()?;
        let result = self
            .lock()
            .and_then(|mut w| self.write(&mut w, record, &middle));
        self.note(&result);
        result
    }

    /// Writes one record under the lock; a write that began a file (which syncs the one before) says so to those
    /// who wait.
    fn write(
        &self,
        w: &mut Writer,
        record: &mut AuditRecord,
        middle: &[u8],
    ) -> std::io::Result<u64> {
        let synced = w.synced;
        let write = w.write_record(record, middle);
        if w.synced != synced {
            self.progress.send_replace(w.progress());
        }
        write
    }

    /// Appends one record and waits until it is on disk.
    pub(super) async fn append_synced(&self, record: &mut AuditRecord) -> std::io::Result<()> {
        let middle = record.middle()?;
        let write = {
            let mut w = self.lock()?;
            let written = self.write(&mut w, record, &middle);
            self.note(&written);
            let write = written?;
            if w.wanted < write {
                w.wanted = write;
                // The syncer, if asleep, takes it at once; if it is syncing, it takes it when that sync ends.
                self.work.notify_one();
            }
            write
        };
        // `wait_for` looks at the current progress first: a sync that ended before this line is not missed.
        let mut progress = self.progress.subscribe();
        let reached = progress
            .wait_for(|p| p.synced >= write || p.failed >= write)
            .await
            .map(|p| *p);
        match reached {
            Ok(p) if p.synced >= write => Ok(()),
            _ => Err(std::io::Error::other(
                "the audit log could not be synced to disk",
            )),
        }
    }

    /// Asks the syncer thread to sync what it holds and stop.
    pub(super) fn shut(&self) {
        if let Ok(mut w) = self.lock() {
            w.closing = true;
        }
        self.work.notify_one();
    }

    /// The syncer thread: syncs as soon as a request waits for its record to be on disk, and within
    /// [`SYNC_READS_WITHIN`] records no request waits for; after [`Shared::shut`], syncs a last time and stops.
    pub(super) fn run(&self) {
        let Ok(mut w) = self.lock() else { return };
        // When the oldest write nobody waits for was first seen unsynced.
        let mut unsynced_since: Option<Instant> = None;
        loop {
            if w.closing {
                break;
            }
            let covered = w.synced.max(w.failed);
            let due = if w.wanted > covered {
                true
            } else if w.writes > covered {
                let since = *unsynced_since.get_or_insert_with(Instant::now);
                let waited = since.elapsed();
                if waited < SYNC_READS_WITHIN {
                    w = match self.work.wait_timeout(w, SYNC_READS_WITHIN - waited) {
                        Ok((g, _)) => g,
                        Err(_) => return,
                    };
                    continue;
                }
                true
            } else {
                false
            };
            if !due {
                unsynced_since = None;
                w = match self.work.wait(w) {
                    Ok(g) => g,
                    Err(_) => return,
                };
                continue;
            }
            unsynced_since = None;
            let upto = w.writes;
            let Some(file) = w.file.clone() else {
                // No file is open: nothing was written since the last one was closed.
                w.synced = w.synced.max(upto);
                continue;
            };
            drop(w);
            let synced = file.sync_data();
            if let Err(e) = &synced {
                // Answered reads' records may be lost with the machine: refuse requests until it works.
                tracing::error!(error = %e, "the audit log could not be synced; requests are refused until it can");
            }
            self.note(&synced);
            w = match self.lock() {
                Ok(g) => g,
                Err(_) => return,
            };
            w.end_sync(upto, synced.is_ok());
            self.progress.send_replace(w.progress());
        }
        // Closing: a last sync of the current file; nothing is written after it.
        w.closed = true;
        let last = w.writes;
        let ok = w.file.take().is_none_or(|f| f.sync_all().is_ok());
        w.end_sync(last, ok);
        self.progress.send_replace(w.progress());
    }
}

pub(super) struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    /// The current file (shared with a sync running outside the lock).
    file: Option<Arc<File>>,
    path: Option<PathBuf>,
    size: u64,
    seq: u64,
    prev: String,
    /// Writes done; the last of them known to be on disk; the last a sync failed for; the last a request waits
    /// to see on disk.
    writes: u64,
    synced: u64,
    failed: u64,
    wanted: u64,
    /// Set when the log is asked to close: the syncer syncs a last time.
    closing: bool,
    /// Set when the log is closed: nothing more is written.
    closed: bool,
}

impl Writer {
    /// Opens the log in `dir`, continuing its last file (a line torn by a crash is cut off: its request was never
    /// answered).
    pub(super) fn open(dir: &Path, max_file_bytes: u64) -> std::io::Result<Writer> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mut w = Writer {
            dir: dir.to_path_buf(),
            max_file_bytes: max_file_bytes.max(4096),
            file: None,
            path: None,
            size: 0,
            seq: 0,
            prev: GENESIS.to_string(),
            writes: 0,
            synced: 0,
            failed: 0,
            wanted: 0,
            closing: false,
            closed: false,
        };
        if let Some(last) = log_files(dir)?.pop() {
            let mut f = OpenOptions::new().read(true).write(true).open(&last)?;
            let len = f.metadata()?.len();
            // The last complete line: read the tail.
            let tail_len = len.min(1 << 20);
            f.seek(SeekFrom::Start(len - tail_len))?;
            let mut tail = Vec::with_capacity(tail_len as usize);
            f.read_to_end(&mut tail)?;
            let complete = tail.iter().rposition(|b| *b == b'\n').map(|i| i + 1);
            let keep = match complete {
                Some(end) => len - tail_len + end as u64,
                None if len == tail_len => 0,
                None => {
                    return Err(std::io::Error::other(format!(
                        "the last line of {} is longer than 1 MiB",
                        last.display()
                    )))
                }
            };
            if keep < len {
                tracing::warn!(file = %last.display(), cut = len - keep, "audit log: cutting off a torn last line");
                f.set_len(keep)?;
                f.sync_all()?;
            }
            if let Some(end) = complete {
                let body = &tail[..end - 1];
                let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let line = &body[start..];
                if !line.is_empty() {
                    let rec: AuditRecord = serde_json::from_slice(line).map_err(|e| {
                        std::io::Error::other(format!(
                            "the last line of {} is not an audit record: {e}",
                            last.display()
                        ))
                    })?;
                    w.seq = rec.seq;
                    w.prev = keyhaven_crypto::hex(&keyhaven_crypto::sha256(line));
                }
            }
            f.seek(SeekFrom::End(0))?;
            w.size = keep;
            w.file = Some(Arc::new(f));
            w.path = Some(last);
        }
        Ok(w)
    }

    /// The next file, starting at `seq`.
    fn start_file(&mut self, seq: u64) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
            // Every write so far was to that file.
            self.synced = self.synced.max(self.writes);
        }
        let path = self.dir.join(file_name(seq));
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        File::open(&self.dir)?.sync_all()?;
        self.size = f.metadata()?.len();
        self.file = Some(Arc::new(f));
        self.path = Some(path);
        Ok(())
    }

    /// Appends a record (its [`AuditRecord::middle`] made beforehand): numbered, chained, written (not synced);
    /// returns the write's number. On failure nothing of it stays.
    fn write_record(&mut self, record: &mut AuditRecord, middle: &[u8]) -> std::io::Result<u64> {
        let (seq0, prev0, size0, path0) =
            (self.seq, self.prev.clone(), self.size, self.path.clone());
        let result = self.try_write(record, middle);
        if result.is_err() {
            self.seq = seq0;
            self.prev = prev0;
            if self.path != path0 {
                // A file these records began: it goes, and the one before is current again.
                if let Some(p) = self.path.take() {
                    let _ = std::fs::remove_file(p);
                }
                self.file = path0
                    .as_ref()
                    .and_then(|p| OpenOptions::new().append(true).open(p).ok())
                    .map(Arc::new);
                self.path = path0;
            }
            if let Some(f) = &self.file {
                let _ = f.set_len(size0);
            }
            self.size = size0;
        }
        result
    }

    fn try_write(&mut self, record: &mut AuditRecord, middle: &[u8]) -> std::io::Result<u64> {
        if self.closed {
            return Err(std::io::Error::other("the audit log is closed"));
        }
        self.seq += 1;
        record.seq = self.seq;
        let mut line = super::record::line(self.seq, middle, &self.prev);
        record.prev = std::mem::take(&mut self.prev);
        self.prev = keyhaven_crypto::hex(&keyhaven_crypto::sha256(&line));
        if self.file.is_none()
            || (self.size > 0 && self.size + (line.len() + 1) as u64 > self.max_file_bytes)
        {
            self.start_file(self.seq)?;
        }
        line.push(b'\n');
        self.flush(&mut line)?;
        self.writes += 1;
        Ok(self.writes)
    }

    fn end_sync(&mut self, upto: u64, ok: bool) {
        if ok {
            self.synced = self.synced.max(upto);
        } else {
            self.failed = self.failed.max(upto);
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            synced: self.synced,
            failed: self.failed,
        }
    }

    fn flush(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let mut f: &File = self
            .file
            .as_deref()
            .ok_or_else(|| std::io::Error::other("no audit file is open"))?;
        f.write_all(out)?;
        self.size += out.len() as u64;
        out.clear();
        Ok(())
    }
}
