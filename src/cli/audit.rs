//! `keyhaven audit verify|show`: checking and reading the audit log's files (local files; no server needed).

use super::output;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use keyhaven_server::audit::{self, AuditRecord};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Checks the hash chain of audit log files (in the order given, or every file of a directory); exits non-zero
    /// naming the first edited, removed, inserted or reordered line.
    ///
    /// Example: keyhaven audit verify keyhaven-data/audit
    Verify {
        /// Audit files, or a directory holding them (default ./keyhaven-data/audit).
        paths: Vec<PathBuf>,
        /// The files continue an earlier one that is not given (older files were removed).
        #[arg(long)]
        continues: bool,
    },
    /// Prints audit records as a table (or JSON with -o json).
    ///
    /// Example: keyhaven audit show --since 2026-12-07T00:00:00Z --principal 6f1c…
    Show {
        /// Audit files, or a directory holding them (default ./keyhaven-data/audit).
        paths: Vec<PathBuf>,
        /// Only records at or after this time (RFC 3339, e.g. 2026-12-07 or 2026-12-07T13:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only records of this principal (client id or object id).
        #[arg(long)]
        principal: Option<String>,
    },
}

/// The files named, directories expanded to their log files in order.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("keyhaven-data/audit")]
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            out.extend(audit::log_files(&p).with_context(|| format!("reading {}", p.display()))?);
        } else {
            out.push(p);
        }
    }
    if out.is_empty() {
        bail!("no audit files found");
    }
    Ok(out)
}

pub fn run(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify { paths, continues } => {
            let files = files(&paths)?;
            match audit::verify(&files, !continues) {
                Ok(v) => {
                    println!(
                        "ok: {} line(s) in {} file(s), numbers {}–{}{}",
                        v.lines,
                        files.len(),
                        v.first_seq.unwrap_or(0),
                        v.last_seq.unwrap_or(0),
                        if v.from_start {
                            ""
                        } else {
                            " (continuing an earlier file)"
                        }
                    );
                    Ok(())
                }
                Err(broken) => bail!("the audit log is not intact: {broken}"),
            }
        }
        AuditCommand::Show {
            paths,
            since,
            principal,
        } => {
            let since = match since {
                Some(s) => Some(
                    keyhaven_model::time::parse_rfc3339(&s)
                        .with_context(|| format!("--since '{s}' is not an RFC 3339 time"))?,
                ),
                None => None,
            };
            let mut shown: Vec<AuditRecord> = Vec::new();
            for f in files(&paths)? {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?;
                for (i, line) in text.lines().enumerate() {
                    let rec: AuditRecord = serde_json::from_str(line).with_context(|| {
                        format!("{}:{}: not an audit record", f.display(), i + 1)
                    })?;
                    let at = keyhaven_model::time::parse_rfc3339(&rec.time).unwrap_or(0);
                    if since.is_some_and(|s| at < s) {
                        continue;
                    }
                    if let Some(p) = &principal {
                        let mine = rec.principal.as_ref().is_some_and(|c| {
                            c.client_id.eq_ignore_ascii_case(p)
                                || c.object_id
                                    .as_deref()
                                    .is_some_and(|o| o.eq_ignore_ascii_case(p))
                        });
                        if !mine {
                            continue;
                        }
                    }
                    shown.push(rec);
                }
            }
            output::print(&shown)
        }
    }
}
