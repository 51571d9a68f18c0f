//! The audit log's writer: numbers and chains records, appends them, and rotates files by size without breaking the
//! chain (a new file starts from the last line's hash). Every request appends its own record under one lock — no
//! thread hop. A request that may change state then waits until its record is on disk: it joins a `fdatasync` that
//! began after its record was written, or begins one (a few at once, outside the lock, so that appends go on
//! meanwhile and concurrent syncs — the store's group commits included — are joined by the file system into one
//! journal commit). A request that changes nothing (a read, a cryptographic operation) is answered once its record
//! is in the file (it survives a crash of the process); the syncer thread syncs such records within
//! [`SYNC_READS_WITHIN`] (unless configured to wait for the disk too): they do not wait for a disk flush they never
//! needed, as the store's reads do not.

use super::record::{AuditRecord, GENESIS};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// Syncs running at once, at most (a record written while they run waits for the next).
const MAX_SYNCS_IN_FLIGHT: u32 = 4;

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

/// The writer's state, shared by the requests that append their own records and the syncer thread.
pub(super) struct Shared {
    writer: Mutex<Writer>,
    /// Woken whenever a sync ends.
    sync_ended: tokio::sync::Notify,
    /// Whether the last write (or sync) succeeded.
    pub healthy: AtomicBool,
}

/// What a request waiting for its record to reach the disk does next.
enum Step {
    Done,
    Failed,
    Wait,
    Sync(u64, Arc<File>),
}

impl Shared {
    pub(super) fn new(writer: Writer) -> Shared {
        Shared {
            writer: Mutex::new(writer),
            sync_ended: tokio::sync::Notify::new(),
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
        let result = self.lock().and_then(|mut w| w.write_records([record]));
        self.note(&result);
        result
    }

    /// Appends one record and waits until it is on disk.
    pub(super) async fn append_synced(
        self: &Arc<Self>,
        record: &mut AuditRecord,
    ) -> std::io::Result<()> {
        let write = self.append_unsynced(record)?;
        loop {
            let ended = self.sync_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            let step = self.lock()?.step(write);
            match step {
                Step::Done => return Ok(()),
                Step::Failed => {
                    return Err(std::io::Error::other(
                        "the audit log could not be synced to disk",
                    ))
                }
                Step::Wait => ended.await,
                Step::Sync(upto, file) => {
                    // The sync records its own end, so that a request dropped while it runs (its client gone)
                    // cannot leave it begun and never ended, which would stall every write after it.
                    let shared = Arc::clone(self);
                    let sync = tokio::task::spawn_blocking(move || {
                        let synced = file.sync_data();
                        let _ = shared.end_sync(upto, synced);
                    });
                    if let Err(e) = sync.await {
                        return Err(std::io::Error::other(e));
                    }
                }
            }
        }
    }

    /// Records how a sync covering writes up to `upto` ended, and wakes whoever waits for one.
    fn end_sync(&self, upto: u64, synced: std::io::Result<()>) -> std::io::Result<()> {
        if let Err(e) = &synced {
            // Answered reads' records may be lost with the machine: refuse requests until it works.
            tracing::error!(error = %e, "the audit log could not be synced; requests are refused until it can");
        }
        let ended = self.lock().map(|mut w| w.end_sync(upto, synced.is_ok()));
        self.note(&synced);
        self.sync_ended.notify_waiters();
        ended
    }

    /// Every [`SYNC_READS_WITHIN`], syncs the records requests appended without waiting; stops (after a last sync)
    /// once every sender of `stop` is gone.
    pub(super) fn run(&self, stop: mpsc::Receiver<()>) {
        while !matches!(
            stop.recv_timeout(SYNC_READS_WITHIN),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ) {
            let next = self.lock().map(|mut w| {
                let all = w.writes;
                w.step(all)
            });
            if let Ok(Step::Sync(upto, file)) = next {
                let _ = self.end_sync(upto, file.sync_data());
            }
        }
        if let Ok(mut w) = self.lock() {
            w.closed = true;
            if let Some(f) = w.file.take() {
                let _ = f.sync_all();
            }
        }
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
    /// Writes done; the last of them known to be on disk; the last a sync failed for; the last a running sync
    /// covers, and how many run.
    writes: u64,
    synced: u64,
    failed: u64,
    sync_started: u64,
    syncs_in_flight: u32,
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
            sync_started: 0,
            syncs_in_flight: 0,
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

    /// Appends records: numbered, chained, written (not synced); returns the write's number. On failure nothing of
    /// them stays.
    fn write_records<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a mut AuditRecord>,
    ) -> std::io::Result<u64> {
        let (seq0, prev0, size0, path0) =
            (self.seq, self.prev.clone(), self.size, self.path.clone());
        let result = self.try_write(records);
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

    fn try_write<'a>(
        &mut self,
        records: impl IntoIterator<Item = &'a mut AuditRecord>,
    ) -> std::io::Result<u64> {
        if self.closed {
            return Err(std::io::Error::other("the audit log is closed"));
        }
        let mut out: Vec<u8> = Vec::with_capacity(512);
        for record in records {
            self.seq += 1;
            record.seq = self.seq;
            record.prev = std::mem::take(&mut self.prev);
            let line = serde_json::to_vec(&*record).map_err(std::io::Error::other)?;
            self.prev = keyhaven_crypto::hex(&keyhaven_crypto::sha256(&line));
            if self.file.is_none()
                || (self.size + out.len() as u64 > 0
                    && self.size + (out.len() + line.len() + 1) as u64 > self.max_file_bytes)
            {
                self.flush(&mut out)?;
                self.start_file(self.seq)?;
            }
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
        self.flush(&mut out)?;
        self.writes += 1;
        Ok(self.writes)
    }

    /// What to do for write number `write` to be on disk: nothing more, fail, wait for a running sync, or begin a
    /// sync (of everything written so far).
    fn step(&mut self, write: u64) -> Step {
        if self.synced >= write {
            return Step::Done;
        }
        if self.failed >= write {
            return Step::Failed;
        }
        if self.sync_started >= write || self.syncs_in_flight >= MAX_SYNCS_IN_FLIGHT {
            return Step::Wait;
        }
        let Some(file) = self.file.clone() else {
            // No file is open (closed): nothing is written any more, so nothing waits.
            return Step::Failed;
        };
        self.sync_started = self.writes;
        self.syncs_in_flight += 1;
        Step::Sync(self.writes, file)
    }

    fn end_sync(&mut self, upto: u64, ok: bool) {
        self.syncs_in_flight = self.syncs_in_flight.saturating_sub(1);
        if ok {
            self.synced = self.synced.max(upto);
        } else {
            self.failed = self.failed.max(upto);
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
