//! The audit log's writer: numbers and chains records, appends them, and rotates files by size without breaking the
//! chain (a new file starts from the last line's hash).
//!
//! A request numbers and chains its record under one lock that is never held across a system call: the line joins
//! a queue. A request that finds nobody writing becomes the writer: it writes the queue outside the lock, again
//! until the queue is empty, so lines of requests that came meanwhile go in the same `write`; the requests whose
//! lines it carries wait for them without blocking their threads. A writer preempted in its system call thus holds
//! up only the requests whose lines it carries — never a thread waiting on a lock — and under load one `write`
//! carries many lines. Every `fdatasync` is done by one of two syncer threads, each covering everything written
//! before it began (group commit); a record written while one sync is under way starts the next at once on the
//! other thread instead of waiting for the first to end. A request that may change state waits, without blocking
//! a runtime thread, until a sync covering its record has ended. A request that changes nothing (a read, a cryptographic operation) is answered
//! once its record is in the file (it survives a crash of the process); the syncer syncs such records within
//! [`SYNC_READS_WITHIN`] (unless configured to wait for the disk too): they do not wait for a disk flush they never
//! needed, as the store's reads do not.

use super::record::GENESIS;
use super::AuditRecord;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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

/// How far writes and syncs have got: every record up to `written` is in the file, every one up to `synced` on
/// disk; a write or a sync covering records up to `failed` failed (such a record is not in the log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Progress {
    written: u64,
    synced: u64,
    failed: u64,
}

impl Progress {
    /// Whether record `n` has reached `until` (`Some(true)`), is lost (`Some(false)`), or neither yet (`None`).
    fn reached(&self, n: u64, until: Until) -> Option<bool> {
        if self.failed >= n {
            return Some(false);
        }
        let at = match until {
            Until::InFile => self.written,
            Until::OnDisk => self.synced,
        };
        (at >= n).then_some(true)
    }

    /// Both progresses at once (each count only grows).
    fn merge(&mut self, other: Progress) -> bool {
        let merged = Progress {
            written: self.written.max(other.written),
            synced: self.synced.max(other.synced),
            failed: self.failed.max(other.failed),
        };
        let changed = merged != *self;
        *self = merged;
        changed
    }
}

/// What a request waits for before it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Until {
    /// Its record is in the file.
    InFile,
    /// Its record is on disk.
    OnDisk,
}

/// The writer's state, shared by the requests that queue and write records and the syncer threads.
pub(super) struct Shared {
    writer: Mutex<Writer>,
    /// Wakes the syncer: a request waits for a sync, a writer finished while the log closes, or the log is closing.
    work: Condvar,
    /// Where writes and syncs have got.
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

    fn lock(&self) -> std::io::Result<MutexGuard<'_, Writer>> {
        self.writer
            .lock()
            .map_err(|_| std::io::Error::other("the audit writer failed earlier"))
    }

    /// Publishes progress (outside the lock: waking waiters may take a system call).
    fn publish(&self, p: Progress) {
        self.progress.send_if_modified(|cur| cur.merge(p));
    }

    /// Publishes `w`'s progress with the lock released, then takes the lock again (`None` if it is poisoned).
    fn publish_and_relock<'a>(
        &'a self,
        w: MutexGuard<'a, Writer>,
    ) -> Option<MutexGuard<'a, Writer>> {
        let p = w.progress();
        drop(w);
        self.publish(p);
        self.lock().ok()
    }

    /// Appends one record and waits, without blocking the thread, until it has reached `until`; returns its write
    /// number (compare with [`Shared::synced`]).
    pub(super) async fn append(
        &self,
        record: &mut AuditRecord,
        until: Until,
    ) -> std::io::Result<u64> {
        let middle = record.middle()?;
        let (n, out) = {
            let mut w = self.lock()?;
            let n = w.queue(&middle, until == Until::OnDisk)?;
            (n, w.out.take())
        };
        if let Some(out) = out {
            // Nobody is writing: this request writes the queue, its own line first of all — after letting the
            // requests ready on this thread queue theirs, so that one `write` takes them all.
            let mut writer = Pending {
                shared: self,
                out: Some(out),
            };
            tokio::task::yield_now().await;
            writer.write();
        }
        // `wait_for` looks at the current progress first: what ended before this line is not missed.
        let mut progress = self.progress.subscribe();
        let reached = progress
            .wait_for(|p| p.reached(n, until).is_some())
            .await
            .map(|p| p.reached(n, until));
        match (reached, until) {
            (Ok(Some(true)), _) => Ok(n),
            (_, Until::InFile) => Err(std::io::Error::other("the audit log could not be written")),
            (_, Until::OnDisk) => Err(std::io::Error::other(
                "the audit log could not be written and synced to disk",
            )),
        }
    }

    /// How far the file is on disk, in write numbers.
    pub(super) fn synced(&self) -> u64 {
        self.progress.borrow().synced
    }

    /// Writes the queue until it is empty, as the one writer (`out` is the file, taken from the writer's state):
    /// each turn takes what is queued, writes it outside the lock and publishes how far it got. A write that fails
    /// takes back everything queued (those records are lost, their requests refused) and the chain goes on from the
    /// last line in the file.
    fn drain<'a>(&'a self, mut w: MutexGuard<'a, Writer>, mut out: Output) {
        loop {
            let chunks = std::mem::take(&mut w.pending);
            if chunks.is_empty() {
                break;
            }
            let written_before = w.written;
            drop(w);
            let before = out.mark();
            let result = out.write(&chunks, written_before);
            if let Err(e) = &result {
                tracing::error!(error = %e, "an audit record could not be written; requests are refused until one can");
                out.undo(before);
            }
            self.healthy.store(result.is_ok(), Ordering::SeqCst);
            w = match self.lock() {
                Ok(g) => g,
                Err(_) => return,
            };
            match result {
                Ok(rotated) => w.wrote(&chunks, rotated, &out, &self.work),
                Err(_) => w.lose(&out),
            }
            w = match self.publish_and_relock(w) {
                Some(g) => g,
                None => return,
            };
        }
        w.out = Some(out);
        if w.closing {
            self.work.notify_all();
        }
    }

    /// Asks the syncer threads to sync what they hold and stop.
    pub(super) fn shut(&self) {
        if let Ok(mut w) = self.lock() {
            w.closing = true;
        }
        self.work.notify_all();
    }

    /// A syncer thread: syncs as soon as a request waits for its record to be on disk, and within
    /// [`SYNC_READS_WITHIN`] records no request waits for; after [`Shared::shut`], syncs a last time and stops.
    pub(super) fn run(&self) {
        let Ok(mut w) = self.lock() else { return };
        // When the oldest written record nobody waits for was first seen unsynced.
        let mut unsynced_since: Option<Instant> = None;
        loop {
            if w.closing {
                break;
            }
            // What is on disk, lost, or in a sync under way (on another syncer thread).
            let covered = w.synced.max(w.failed).max(w.syncing);
            let due = if w.wanted > covered {
                true
            } else if w.written > covered {
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
            let upto = w.written;
            w.syncing = upto;
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
            self.healthy.store(synced.is_ok(), Ordering::SeqCst);
            w = match self.lock() {
                Ok(g) => g,
                Err(_) => return,
            };
            w.end_sync(upto, synced.is_ok());
            w = match self.publish_and_relock(w) {
                Some(g) => g,
                None => return,
            };
        }
        // Closing: nothing more is queued; a writer still at work finishes, then a last sync of the current file
        // (by the first syncer thread here; the lock is held throughout).
        if w.finished {
            return;
        }
        w.closed = true;
        while w.out.is_none() {
            w = match self.work.wait(w) {
                Ok(g) => g,
                Err(_) => return,
            };
        }
        let last = w.written;
        w.file = None;
        let file = w.out.as_mut().and_then(|o| o.file.take());
        let ok = file.is_none_or(|f| f.sync_all().is_ok());
        w.end_sync(last, ok);
        w.finished = true;
        let p = w.progress();
        drop(w);
        self.publish(p);
    }
}

/// The file, taken by the request that is to write the queue. Dropped before it writes (the request was cancelled
/// while it let others queue their lines), it writes then: the queue never waits for a writer that is gone.
struct Pending<'a> {
    shared: &'a Shared,
    out: Option<Output>,
}

impl Pending<'_> {
    fn write(&mut self) {
        if let Some(out) = self.out.take() {
            match self.shared.lock() {
                Ok(w) => self.shared.drain(w, out),
                Err(_) => {
                    tracing::error!("the audit writer failed earlier; the queue was not written")
                }
            }
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.write();
    }
}

/// Lines queued for one file: the first chunk of a file begins it.
struct Chunk {
    /// Begins a new file whose first line is this number.
    new_file: Option<u64>,
    bytes: Vec<u8>,
    /// The last line's write number, sequence number and hash.
    last: u64,
    seq: u64,
    hash: String,
    /// The last write number in it that a request waits to see on disk.
    sync_upto: u64,
}

/// The file being written, owned by whoever writes.
pub(super) struct Output {
    dir: PathBuf,
    file: Option<Arc<File>>,
    path: Option<PathBuf>,
    /// Bytes in the current file.
    size: u64,
    /// Files begun by the write under way.
    created: Vec<PathBuf>,
}

impl Output {
    /// Where the file is now (to go back to if a write fails).
    fn mark(&mut self) -> (Option<PathBuf>, u64) {
        self.created.clear();
        (self.path.clone(), self.size)
    }

    /// Writes chunks in order, one `write` each, beginning files where they say. Returns the last write number
    /// synced by beginning a file (the file before it is synced whole), if one was begun.
    fn write(&mut self, chunks: &[Chunk], written_before: u64) -> std::io::Result<Option<u64>> {
        let mut synced = None;
        let mut before = written_before;
        for c in chunks {
            if let Some(seq) = c.new_file {
                if self.file.is_some() {
                    synced = Some(before);
                }
                self.start_file(seq)?;
            }
            let mut f: &File = self
                .file
                .as_deref()
                .ok_or_else(|| std::io::Error::other("no audit file is open"))?;
            f.write_all(&c.bytes)?;
            self.size += c.bytes.len() as u64;
            before = c.last;
        }
        Ok(synced)
    }

    /// The next file, starting at `seq` (the current one is synced first).
    fn start_file(&mut self, seq: u64) -> std::io::Result<()> {
        if let Some(f) = &self.file {
            f.sync_all()?;
        }
        let path = self.dir.join(file_name(seq));
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        self.created.push(path.clone());
        File::open(&self.dir)?.sync_all()?;
        self.size = f.metadata()?.len();
        self.file = Some(Arc::new(f));
        self.path = Some(path);
        Ok(())
    }

    /// Back to where [`Output::mark`] was: files begun since go, the file is cut back to its size then.
    fn undo(&mut self, (path0, size0): (Option<PathBuf>, u64)) {
        if self.path != path0 {
            for p in self.created.drain(..) {
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
}

pub(super) struct Writer {
    max_file_bytes: u64,
    /// The chain as numbered so far (lines queued included): the last line's number and hash, the current file's
    /// size with them, and whether a file is begun.
    seq: u64,
    prev: String,
    size: u64,
    has_file: bool,
    /// The last line in the file: its number and hash.
    good_seq: u64,
    good_prev: String,
    /// Lines numbered, not yet written.
    pending: Vec<Chunk>,
    /// The file, when nobody is writing (a writer takes it).
    out: Option<Output>,
    /// The current file, for the syncer.
    file: Option<Arc<File>>,
    /// Records queued; the last one in the file; on disk; lost; the last a request waits to see on disk.
    writes: u64,
    written: u64,
    synced: u64,
    failed: u64,
    wanted: u64,
    /// Set when the log is asked to close: the syncer syncs a last time.
    closing: bool,
    /// Set when the log is closed: nothing more is queued.
    closed: bool,
    /// Set once the last sync is done.
    finished: bool,
    /// The last write number a sync under way covers.
    syncing: u64,
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
            max_file_bytes: max_file_bytes.max(4096),
            seq: 0,
            prev: GENESIS.to_string(),
            size: 0,
            has_file: false,
            good_seq: 0,
            good_prev: GENESIS.to_string(),
            pending: Vec::new(),
            out: None,
            file: None,
            writes: 0,
            written: 0,
            synced: 0,
            failed: 0,
            wanted: 0,
            closing: false,
            closed: false,
            finished: false,
            syncing: 0,
        };
        let mut out = Output {
            dir: dir.to_path_buf(),
            file: None,
            path: None,
            size: 0,
            created: Vec::new(),
        };
        if let Some(last) = log_files(dir)?.pop() {
            // Appending: after a failed write is cut off, the next one goes at the end again.
            let mut f = OpenOptions::new().read(true).append(true).open(&last)?;
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
            let f = Arc::new(f);
            w.size = keep;
            w.has_file = true;
            w.file = Some(f.clone());
            out.size = keep;
            out.file = Some(f);
            out.path = Some(last);
        }
        w.good_seq = w.seq;
        w.good_prev.clone_from(&w.prev);
        w.out = Some(out);
        Ok(w)
    }

    /// Numbers, chains and queues a record whose [`AuditRecord::middle`] is `middle`; `sync` if its request waits
    /// for it on disk. Returns its write number.
    fn queue(&mut self, middle: &[u8], sync: bool) -> std::io::Result<u64> {
        if self.closed {
            return Err(std::io::Error::other("the audit log is closed"));
        }
        let seq = self.seq + 1;
        let len = super::record::line_len(seq, middle, &self.prev) as u64 + 1;
        let rotate = !self.has_file || (self.size > 0 && self.size + len > self.max_file_bytes);
        if rotate || self.pending.is_empty() {
            self.pending.push(Chunk {
                new_file: rotate.then_some(seq),
                bytes: Vec::new(),
                last: 0,
                seq: 0,
                hash: String::new(),
                sync_upto: 0,
            });
            if rotate {
                self.size = 0;
                self.has_file = true;
            }
        }
        let Some(c) = self.pending.last_mut() else {
            return Err(std::io::Error::other("no audit chunk"));
        };
        let at = c.bytes.len();
        super::record::line_into(&mut c.bytes, seq, middle, &self.prev);
        self.prev = keyhaven_crypto::hex(&keyhaven_crypto::sha256(&c.bytes[at..]));
        c.bytes.push(b'\n');
        self.seq = seq;
        self.size += len;
        self.writes += 1;
        c.last = self.writes;
        c.seq = seq;
        c.hash.clone_from(&self.prev);
        if sync {
            c.sync_upto = self.writes;
        }
        Ok(self.writes)
    }

    /// `chunks` are in the file (`synced` up to a write number when a new file was begun).
    fn wrote(&mut self, chunks: &[Chunk], synced: Option<u64>, out: &Output, work: &Condvar) {
        if let Some(last) = chunks.last() {
            self.good_seq = last.seq;
            self.good_prev.clone_from(&last.hash);
            self.written = self.written.max(last.last);
        }
        if let Some(s) = synced {
            self.synced = self.synced.max(s);
        }
        self.file = out.file.clone();
        let want = chunks.iter().map(|c| c.sync_upto).max().unwrap_or(0);
        if want > self.wanted {
            self.wanted = want;
            // The syncer, if asleep, takes it at once; if it is syncing, it takes it when that sync ends.
            work.notify_one();
        }
    }

    /// A write failed: everything queued is lost, and the chain goes on from the last line in the file.
    fn lose(&mut self, out: &Output) {
        self.pending.clear();
        self.failed = self.failed.max(self.writes);
        self.seq = self.good_seq;
        self.prev.clone_from(&self.good_prev);
        self.size = out.size;
        self.has_file = out.file.is_some();
        self.file = out.file.clone();
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
            written: self.written,
            synced: self.synced,
            failed: self.failed,
        }
    }
}
