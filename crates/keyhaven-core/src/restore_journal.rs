//! The state a whole-vault restore keeps in the store while it writes in bounded batches: a mark on the target
//! vault (the vault serves no request while it is there) and an undo journal of every key the restore wrote
//! (`keyhaven_store::undo`). Layout and recovery rules are in docs/vault-backup.md, "Restore journal".
//!
//! - `restore\0mark\0{vault}` → [`MarkRecord`] (JSON). Written in the restore's first transaction, deleted in
//!   its last one (the commit point) or in the last transaction of its rollback.
//! - `restore\0journal\0{job}\0{key}` → the undo entry for `key`.
//!
//! Every domain read or write of a vault goes through [`Keyhaven::vault_record`] (snapshots) or
//! [`vault_in_txn`] (write transactions), which both refuse a marked vault via [`refuse_if_restoring`].
//!
//! Several nodes may share the store: a restore holds the lease [`lease_name`] of its job (see
//! `keyhaven_store::lease`) from before its mark is written until its journal is gone, and the mark names that
//! lease. Recovery (at start-up and periodically) rolls back only restores whose lease it can take — whose node
//! died or stopped mid-restore — and leaves a restore another live node is running alone.

use crate::records::{self, VaultRecord};
use crate::{Error, Keyhaven, Result};
use keyhaven_store::keys::{key, prefix, prefix_end};
use keyhaven_store::{Lease, Snapshot, StepLimits, StoreError, UndoJournal, WriteTxn};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const MARK_FORMAT: u32 = 1;

/// How long the lease of a restore outlives a node that died running it: after that, another node's recovery
/// rolls the restore back.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(30);

/// The lease a restore job holds while it runs.
pub(crate) fn lease_name(job: &str) -> String {
    format!("restore/{job}")
}

pub(crate) fn mark_key(vault: &str) -> Vec<u8> {
    key(&[b"restore", b"mark", vault.as_bytes()])
}
fn marks_prefix() -> Vec<u8> {
    prefix(&[b"restore", b"mark"])
}
fn journals_prefix() -> Vec<u8> {
    prefix(&[b"restore", b"journal"])
}

/// The undo journal of restore job `job` (an id of lowercase hex digits).
pub(crate) fn journal(job: &str) -> Result<UndoJournal> {
    Ok(UndoJournal::new(prefix(&[
        b"restore",
        b"journal",
        job.as_bytes(),
    ]))?)
}

/// Marks a vault as being restored by one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MarkRecord {
    pub format: u32,
    pub vault: String,
    pub job: String,
    pub started: i64,
    /// The vault held no object when the restore began: its writes are not journaled one by one, and undoing
    /// the restore empties the vault again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_target: bool,
    /// The lease the restoring node holds while it runs (absent in marks of earlier versions, which ran on one
    /// node: [`lease_name`] of the job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

impl MarkRecord {
    /// The lease whose holder owns the restore.
    fn owner_lease(&self) -> String {
        self.lease.clone().unwrap_or_else(|| lease_name(&self.job))
    }
}

/// The one check: a vault carrying a restore mark serves nothing.
pub(crate) fn refuse_if_restoring(mark: Option<Vec<u8>>, vault: &str) -> Result<()> {
    match mark {
        None => Ok(()),
        Some(_) => Err(Error::RestoreInProgress {
            vault: vault.to_string(),
        }),
    }
}

pub(crate) fn check_snapshot(snap: &dyn Snapshot, vault: &str) -> Result<()> {
    refuse_if_restoring(snap.get(&mark_key(vault))?, vault)
}

pub(crate) fn check_txn(txn: &mut dyn WriteTxn, vault: &str) -> Result<()> {
    refuse_if_restoring(txn.get(&mark_key(vault))?, vault)
}

/// The vault's record, read in a write transaction; refused while the vault is being restored. A deleted vault
/// is not found.
pub(crate) fn vault_in_txn(txn: &mut dyn WriteTxn, vault: &str) -> Result<VaultRecord> {
    // Both in one read: the mark's key is the vault's name as asked, which the record's name should be.
    let (vault_key, mark) = (records::vault_key(vault), mark_key(vault));
    let mut got = txn.get_many(&[&vault_key, &mark])?.into_iter();
    let v: VaultRecord = got
        .next()
        .flatten()
        .map(|b| records::decode::<VaultRecord>(&b))
        .transpose()?
        .filter(|v| v.deleted.is_none())
        .ok_or_else(|| Error::VaultNotFound(vault.to_string()))?;
    match v.name == vault {
        true => refuse_if_restoring(got.next().flatten(), vault)?,
        false => check_txn(txn, &v.name)?,
    }
    Ok(v)
}

/// Puts the mark on `vault` for `job` (refused if another restore holds it); the job's node holds
/// [`lease_name`]`(job)`. Returns whether the vault was empty (then the restore's writes need no undo entries: see
/// [`MarkRecord`]).
pub(crate) fn begin(txn: &mut dyn WriteTxn, vault: &str, job: &str, now: i64) -> Result<bool> {
    check_txn(txn, vault)?;
    let mut empty_target = true;
    for p in records::vault_contents_prefixes(vault) {
        if !txn.scan(&p, &prefix_end(&p), 1)?.is_empty() {
            empty_target = false;
        }
    }
    let mark = MarkRecord {
        format: MARK_FORMAT,
        vault: vault.to_string(),
        job: job.to_string(),
        started: now,
        empty_target,
        lease: Some(lease_name(job)),
    };
    records::write_txn(txn, &mark_key(vault), &mark)?;
    Ok(empty_target)
}

/// Checks that `job` holds the mark on `vault`.
pub(crate) fn check_owner(txn: &mut dyn WriteTxn, vault: &str, job: &str) -> Result<()> {
    let mark: Option<MarkRecord> = records::read_txn(txn, &mark_key(vault))?;
    match mark {
        Some(m) if m.job == job => Ok(()),
        _ => Err(Error::Internal(format!(
            "the restore mark of vault '{vault}' is not job {job}'s"
        ))),
    }
}

/// Whether a restore mark names `job` (its restore is running or must be rolled back: its journal stays).
fn job_has_mark(txn: &mut dyn WriteTxn, job: &str) -> Result<bool> {
    let p = marks_prefix();
    for (_, bytes) in txn.scan(&p, &prefix_end(&p), usize::MAX)? {
        let m: MarkRecord = records::decode(&bytes)?;
        if m.job == job {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes the mark of `job` from `vault` (the restore's commit point, or the end of its rollback).
pub(crate) fn end(txn: &mut dyn WriteTxn, vault: &str, job: &str) -> Result<()> {
    check_owner(txn, vault, job)?;
    Ok(txn.delete(&mark_key(vault))?)
}

impl Keyhaven {
    /// The vault's record; refused while the vault is being restored (see `restore_journal`). A deleted vault is
    /// not found.
    pub(crate) fn vault_record(&self, snap: &dyn Snapshot, vault: &str) -> Result<VaultRecord> {
        let v: VaultRecord = records::read(snap, &records::vault_key(vault))?
            .filter(|v: &VaultRecord| v.deleted.is_none())
            .ok_or_else(|| Error::VaultNotFound(vault.to_string()))?;
        check_snapshot(snap, &v.name)?;
        Ok(v)
    }

    /// Undoes every write of restore `job` into `vault` in bounded transactions, then removes the mark.
    pub(crate) fn roll_back_restore(&self, vault: &str, job: &str) -> Result<()> {
        let mark: Option<MarkRecord> = records::read(&*self.snapshot()?, &mark_key(vault))?;
        if mark.is_some_and(|m| m.job == job && m.empty_target) {
            // The vault was empty: everything in it now is the restore's.
            for p in records::vault_contents_prefixes(vault) {
                loop {
                    let p = p.clone();
                    let (v, id) = (vault.to_string(), job.to_string());
                    let done = self.store.write_exclusive_blocking(move |txn| {
                        check_owner(txn, &v, &id)?;
                        let chunk = txn.scan(&p, &prefix_end(&p), 8192)?;
                        for (k, _) in &chunk {
                            txn.delete(k)?;
                        }
                        Ok::<_, Error>(chunk.is_empty())
                    })?;
                    if done {
                        break;
                    }
                }
            }
        }
        let journal = journal(job)?;
        loop {
            let (j, v, id) = (journal.clone(), vault.to_string(), job.to_string());
            let done = self.store.write_exclusive_blocking(move |txn| {
                // Only while the mark is this job's: a journal without a mark is a committed restore's.
                check_owner(txn, &v, &id)?;
                let done = j.undo_step(txn, StepLimits::default())?;
                if done {
                    end(txn, &v, &id)?;
                }
                Ok::<_, Error>(done)
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// Removes the journal of a restore that succeeded (its keys keep their new values).
    pub(crate) fn discard_restore_journal(&self, job: &str) -> Result<()> {
        let journal = journal(job)?;
        loop {
            let j = journal.clone();
            let limits = StepLimits {
                entries: 8192,
                ..StepLimits::default()
            };
            let id = job.to_string();
            if self.store.write_exclusive_blocking(move |txn| {
                // The journal of a restore still marked is needed to roll it back (or by its running node).
                if job_has_mark(txn, &id)? {
                    return Ok::<_, Error>(true);
                }
                Ok(j.discard_step(txn, limits)?)
            })? {
                return Ok(());
            }
        }
    }

    /// Rolls back every restore whose node is gone — a mark whose lease no node holds (a crash, or a stop in the
    /// middle of a restore) — and removes the journals that restores which did commit had not finished removing.
    /// A restore another live node is running is left alone, and so is everything during read-only failover.
    /// Run at start-up and periodically (several nodes). Returns how many restores were rolled back. Blocking.
    pub fn recover_interrupted_restores(&self) -> Result<usize> {
        let snap = self.snapshot()?;
        let marks = marks_prefix();
        let found = snap.scan(&marks, &prefix_end(&marks), usize::MAX)?;
        drop(snap);
        let mut rolled_back = 0;
        for (_, bytes) in &found {
            let m: MarkRecord = records::decode(bytes)?;
            if m.format != MARK_FORMAT || !is_job_id(&m.job) {
                return Err(Error::corrupt(format!(
                    "the restore mark of vault '{}' is not understood (format {})",
                    m.vault, m.format
                )));
            }
            let Some(_owner) = self.take_abandoned(&m)? else {
                continue;
            };
            tracing::warn!(vault = %m.vault, job = %m.job, "rolling back a vault restore whose node stopped or crashed");
            self.roll_back_restore(&m.vault, &m.job)?;
            tracing::info!(vault = %m.vault, job = %m.job, "interrupted vault restore rolled back");
            rolled_back += 1;
        }
        // A journal whose job has no mark belongs to a restore that committed (one with a mark is skipped).
        let journals = journals_prefix();
        let mut from = journals.clone();
        loop {
            let snap = self.snapshot()?;
            let Some((k, _)) = snap
                .scan(&from, &prefix_end(&journals), 1)?
                .into_iter()
                .next()
            else {
                break;
            };
            let job = k[journals.len()..]
                .split(|b| *b == 0)
                .next()
                .map(|j| String::from_utf8_lossy(j).into_owned())
                .unwrap_or_default();
            if !is_job_id(&job) {
                return Err(Error::corrupt("a restore journal entry names no job"));
            }
            match self.discard_restore_journal(&job) {
                Ok(()) => {}
                Err(Error::ReadOnly) => break,
                Err(e) => return Err(e),
            }
            from = prefix_end(&prefix(&[b"restore", b"journal", job.as_bytes()]));
        }
        Ok(rolled_back)
    }

    /// The lease of an interrupted restore, taken: `None` while its node (or another recovering node) holds it,
    /// during read-only failover, or when the mark went away meanwhile.
    fn take_abandoned(&self, m: &MarkRecord) -> Result<Option<Lease>> {
        let lease = match self.store.try_lease(&m.owner_lease(), LEASE_TTL) {
            Ok(Some(l)) => l,
            Ok(None) => {
                tracing::debug!(vault = %m.vault, job = %m.job, "a vault restore is running on a live node; left alone");
                return Ok(None);
            }
            Err(StoreError::ReadOnly) => {
                tracing::warn!(vault = %m.vault, job = %m.job,
                    "an interrupted vault restore waits for read-write access to be rolled back");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        // Under the lease, the mark is what it was: its node finished (or rolled back) just before, or not.
        let now: Option<MarkRecord> = records::read(&*self.snapshot()?, &mark_key(&m.vault))?;
        Ok(now.filter(|n| n.job == m.job).map(|_| lease))
    }
}

/// A restore job id: 32 lowercase hex digits.
pub(crate) fn is_job_id(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
