//! Checking an audit log's chain: every line names the SHA-256 of the line before it and numbers itself one more,
//! so an edited, removed, inserted or reordered line breaks the chain where it happened.

use super::record::{AuditRecord, GENESIS};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// What a good log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked.
    pub lines: u64,
    /// Sequence number of the first line (none for an empty log).
    pub first_seq: Option<u64>,
    /// Sequence number of the last line (none for an empty log).
    pub last_seq: Option<u64>,
    /// Whether the log starts at its very beginning (else it continues an earlier file not given).
    pub from_start: bool,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct Broken {
    /// The file where it breaks.
    pub file: PathBuf,
    /// 1-based line number in that file.
    pub line: u64,
    /// What is wrong there.
    pub problem: String,
}

/// Checks the files, in order, as one chain. With `from_start`, the first line must be the log's first (number 1,
/// chained to nothing): otherwise lines were removed from its beginning. Without it, the files may continue an
/// earlier one that is not given (older files removed by retention).
pub fn verify(files: &[PathBuf], from_start: bool) -> Result<Verified, Broken> {
    let mut v = Verified {
        lines: 0,
        first_seq: None,
        last_seq: None,
        from_start: false,
    };
    // The previous line: its hash, its sequence number, and where it is.
    let mut prev: Option<(String, u64, PathBuf, u64)> = None;
    for file in files {
        let f = std::fs::File::open(file)
            .map_err(|e| broken(file, 0, format!("cannot be read: {e}")))?;
        let mut reader = std::io::BufReader::new(f);
        let mut n = 0u64;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| broken(file, n + 1, format!("cannot be read: {e}")))?;
            if read == 0 {
                break;
            }
            n += 1;
            if buf.last() != Some(&b'\n') {
                return Err(broken(
                    file,
                    n,
                    "the line is incomplete (no newline at its end)",
                ));
            }
            let line = &buf[..buf.len() - 1];
            let rec: AuditRecord = serde_json::from_slice(line).map_err(|_| {
                broken(
                    file,
                    n,
                    "the line is not an audit record (edited or damaged)",
                )
            })?;
            match &prev {
                None => {
                    v.from_start = rec.prev == GENESIS;
                    if (v.from_start || from_start) && (rec.seq != 1 || rec.prev != GENESIS) {
                        return Err(broken(
                            file,
                            n,
                            format!(
                                "the log begins at line number {}, not at its first line: lines were removed from its \
                                 beginning",
                                rec.seq
                            ),
                        ));
                    }
                }
                Some((hash, seq, pfile, pline)) => {
                    let at = |p: &PathBuf, l: &u64| format!("{}:{l}", p.display());
                    if rec.seq <= *seq {
                        return Err(broken(
                            file,
                            n,
                            format!(
                                "line number {} comes after number {seq}: a line was inserted or the lines were reordered",
                                rec.seq
                            ),
                        ));
                    }
                    if rec.seq > seq + 1 {
                        return Err(broken(
                            file,
                            n,
                            format!(
                                "line number {} follows number {seq}: {} line(s) before it were removed or moved",
                                rec.seq,
                                rec.seq - seq - 1
                            ),
                        ));
                    }
                    if rec.prev != *hash {
                        return Err(Broken {
                            file: pfile.clone(),
                            line: *pline,
                            problem: format!(
                                "the line was edited: the next line ({}) names another hash of it",
                                at(&file.to_path_buf(), &n)
                            ),
                        });
                    }
                }
            }
            v.lines += 1;
            v.first_seq.get_or_insert(rec.seq);
            v.last_seq = Some(rec.seq);
            prev = Some((
                keyhaven_crypto::hex(&keyhaven_crypto::sha256(line)),
                rec.seq,
                file.to_path_buf(),
                n,
            ));
        }
    }
    Ok(v)
}

fn broken(file: &Path, line: u64, problem: impl Into<String>) -> Broken {
    Broken {
        file: file.to_path_buf(),
        line,
        problem: problem.into(),
    }
}
