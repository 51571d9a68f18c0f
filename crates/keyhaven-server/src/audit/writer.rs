//! The audit log's writer: one thread that numbers and chains records, appends them in batches with one
//! `fdatasync` per batch, and rotates files by size without breaking the chain (a new file starts from the last
//! line's hash). A request that may change state waits until its record is on disk. One that changes nothing (a
//! read, a cryptographic operation) waits until its record is in the file — it survives a crash of the process —
//! and the file is synced within [`SYNC_READS_WITHIN`] (unless configured to wait for the disk too): such requests
//! then do not wait for a disk flush they never needed, as the store's reads do not.

use super::record::{AuditRecord, GENESIS};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Records one batch carries at most.
const MAX_BATCH: usize = 4096;

/// How long records of reads may stay written but not yet synced.
pub(super) const SYNC_READS_WITHIN: std::time::Duration = std::time::Duration::from_millis(10);

/// A record waiting to be written, and who waits for it.
pub(super) struct Pending {
    pub record: AuditRecord,
    pub done: tokio::sync::oneshot::Sender<Result<(), String>>,
    /// Whether the request waits until its record is on disk (else: until it is in the file).
    pub durable: bool,
}

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

pub(super) struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    file: Option<File>,
    path: Option<PathBuf>,
    size: u64,
    seq: u64,
    prev: String,
    /// Since when records are in the file but not synced.
    unsynced: Option<std::time::Instant>,
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
            unsynced: None,
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
            w.file = Some(f);
            w.path = Some(last);
        }
        Ok(w)
    }

    /// The next file, starting at `seq`.
    fn start_file(&mut self, seq: u64) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        let path = self.dir.join(file_name(seq));
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        File::open(&self.dir)?.sync_all()?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        self.path = Some(path);
        Ok(())
    }

    /// Writes a batch: numbered, chained, appended, synced. On failure nothing of the batch stays.
    fn write_batch(&mut self, batch: &mut [Pending], sync: bool) -> std::io::Result<()> {
        let (seq0, prev0, size0, path0) =
            (self.seq, self.prev.clone(), self.size, self.path.clone());
        let result = self.try_write(batch, sync);
        if result.is_err() {
            self.seq = seq0;
            self.prev = prev0;
            if self.path != path0 {
                // A file this batch began: it goes, and the one before is current again.
                if let Some(p) = self.path.take() {
                    let _ = std::fs::remove_file(p);
                }
                self.file = path0
                    .as_ref()
                    .and_then(|p| OpenOptions::new().append(true).open(p).ok());
                self.path = path0;
            }
            if let Some(f) = &self.file {
                let _ = f.set_len(size0);
            }
            self.size = size0;
        }
        result
    }

    fn try_write(&mut self, batch: &mut [Pending], sync: bool) -> std::io::Result<()> {
        let mut out: Vec<u8> = Vec::with_capacity(batch.len() * 320);
        for p in batch.iter_mut() {
            self.seq += 1;
            p.record.seq = self.seq;
            p.record.prev = std::mem::take(&mut self.prev);
            let line = serde_json::to_vec(&p.record).map_err(std::io::Error::other)?;
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
        if sync {
            self.sync()?;
        } else if self.unsynced.is_none() {
            self.unsynced = Some(std::time::Instant::now());
        }
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if let Some(f) = &self.file {
            f.sync_data()?;
        }
        self.unsynced = None;
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no audit file is open"))?;
        f.write_all(out)?;
        self.size += out.len() as u64;
        out.clear();
        Ok(())
    }

    /// Writes whatever arrives, until every sender is gone.
    pub(super) fn run(
        mut self,
        rx: mpsc::Receiver<Pending>,
        healthy: &std::sync::atomic::AtomicBool,
    ) {
        use std::sync::atomic::Ordering;
        loop {
            let next = match self.unsynced {
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(since) => rx.recv_timeout(SYNC_READS_WITHIN.saturating_sub(since.elapsed())),
            };
            let first = match next {
                Ok(p) => p,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.sync() {
                        // Answered reads' records may be lost with the machine: refuse requests until it works.
                        healthy.store(false, Ordering::SeqCst);
                        tracing::error!(error = %e, "the audit log could not be synced; requests are refused until it can");
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let sync = batch.iter().any(|p| p.durable);
            match self.write_batch(&mut batch, sync) {
                Ok(()) => {
                    healthy.store(true, Ordering::SeqCst);
                    for p in batch {
                        let _ = p.done.send(Ok(()));
                    }
                }
                Err(e) => {
                    healthy.store(false, Ordering::SeqCst);
                    tracing::error!(error = %e, "the audit log could not be written; requests are refused until it can");
                    let msg = e.to_string();
                    for p in batch {
                        let _ = p.done.send(Err(msg.clone()));
                    }
                }
            }
        }
        if let Some(f) = self.file.take() {
            let _ = f.sync_all();
        }
    }
}
