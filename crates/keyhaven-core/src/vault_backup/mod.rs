//! Whole-vault backup and restore: one operation, one store snapshot (a single instant), streamed record by
//! record (no object or version count limit), in the snapshot format of `keyhaven_blob::vault_snapshot`.
//!
//! Stream records (JSON, one per record): for each object an `object` record, one `version` record per version
//! (material opened from the vault and sealed again by the stream), and an `end` record carrying the SHA-256 of
//! the object's records. The manifest (final chunk) holds counts and a digest over all object digests.
//!
//! Restore reads the stream twice: a first pass checks every chunk, record and digest and plans each object
//! (restore, skip, conflict) without writing; a second pass writes it in bounded batches, one transaction each,
//! under a restore mark that keeps every other request out of the vault and with an undo journal
//! (`restore_journal`), so that the restore stays all or nothing — also across a crash — in constant memory.

mod apply;
mod read;
mod report;
mod restore;
mod stream;
mod write;

#[cfg(test)]
mod tests;

pub use read::VerifyTarget;
pub use report::{ObjectAction, ObjectOutcome, RestoreReport, SettingAction, SettingOutcome};

use keyhaven_model::{ObjectKind, ObjectName};
use serde::{Deserialize, Serialize};

const MANIFEST_FORMAT: &str = "keyhaven.vault-snapshot/1";

/// The manifest at the end of a vault backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The backup format and its version (`keyhaven.vault-snapshot/1`).
    pub format: String,
    /// The vault backed up.
    pub vault: String,
    /// When the backup was taken, in Unix seconds.
    pub created: i64,
    /// Secrets in the backup, a certificate's own secret and deleted ones included.
    pub secrets: u64,
    /// Keys in the backup, a certificate's own key and deleted ones included.
    pub keys: u64,
    /// Certificates in the backup, deleted ones included.
    pub certificates: u64,
    /// How many of the objects counted above are soft-deleted.
    pub deleted_objects: u64,
    /// Versions of all objects together.
    pub versions: u64,
    /// Vault settings and certificate operations in the backup: issuers, contacts, create operations.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub settings: u64,
    /// SHA-256 over every object's digest and then every setting record's SHA-256, in stream order.
    pub digest: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Manifest {
    /// Objects of every kind in the backup.
    pub fn objects(&self) -> u64 {
        self.secrets + self.keys + self.certificates
    }
}

/// Progress of a running whole-vault backup, reported after each object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Objects written so far.
    pub objects: u64,
    /// Versions written so far.
    pub versions: u64,
    /// Bytes of backup written so far.
    pub bytes: u64,
}

/// What to do when an object of the backup already exists (live or deleted) in the target vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Refuse the whole restore (nothing is written).
    #[default]
    Fail,
    /// Leave the existing object as it is.
    Skip,
    /// Write the backup's latest version on top of the existing object as a new version (fresh version id, created
    /// at restore time); the existing versions stay.
    NewVersion,
}

/// How to restore a whole-vault backup.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// What to do with objects and settings the target vault already has.
    pub conflict: ConflictPolicy,
    /// Check the backup and report what a restore would do, writing nothing.
    pub dry_run: bool,
    /// Restore soft-deleted objects of the backup (as deleted, with their purge dates); otherwise they are left out.
    pub include_deleted: bool,
    /// Restore only this object (selective restore).
    pub only: Option<(ObjectKind, ObjectName)>,
}

impl Manifest {
    /// A manifest with nothing counted yet.
    fn empty() -> Self {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            vault: String::new(),
            created: 0,
            secrets: 0,
            keys: 0,
            certificates: 0,
            deleted_objects: 0,
            versions: 0,
            settings: 0,
            digest: String::new(),
        }
    }
}

/// How far a restore's writing pass has come, reported after each committed batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreProgress {
    /// Batches committed so far.
    pub batches: u64,
    /// Stream bytes read by the writing pass so far.
    pub bytes: u64,
}

impl crate::Keyhaven {
    /// Authorizes work on a whole-vault backup (`restore` false) or restore job of `vault`, which must exist:
    /// starting one, reading its status, downloading a finished backup.
    pub fn authorize_vault_job(
        &self,
        who: &crate::Principal,
        vault: &keyhaven_model::VaultName,
        restore: bool,
    ) -> crate::Result<()> {
        let action = if restore {
            crate::Action::VaultRestore
        } else {
            crate::Action::VaultBackup
        };
        who.authorize(action, &crate::Resource::vault(vault))?;
        // The vault must exist; a restore running in it does not stop its jobs from being asked about.
        crate::records::read::<crate::records::VaultRecord>(
            &*self.snapshot()?,
            &crate::records::vault_key(vault.as_str()),
        )?
        .ok_or_else(|| crate::Error::VaultNotFound(vault.as_str().to_string()))?;
        Ok(())
    }
}
