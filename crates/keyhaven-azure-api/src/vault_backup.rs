//! Whole-vault backup and restore jobs (beyond Azure's per-object API): `POST /backup` starts a backup,
//! `PUT /restore` a restore; `GET /{backup|restore}/{job}/pending` reports a job; `POST /_keyhaven/backups/verify`
//! checks a backup file and returns its manifest.

use serde::{Deserialize, Serialize};

/// `POST /backup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultBackupRequest {
    /// Whether soft-deleted objects go into the backup too (default `false`).
    #[serde(default)]
    pub include_deleted: bool,
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultJobError {
    /// A machine-readable code, as in the error envelope.
    pub code: String,
    /// A message for people.
    pub message: String,
}

/// What a whole-vault backup holds (the manifest at its end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultBackupManifest {
    /// The manifest format, `keyhaven.vault-snapshot/1`.
    pub format: String,
    /// The name of the vault the backup was taken of.
    pub vault: String,
    /// The backup's instant, Unix seconds: the backup is the vault as of then.
    pub created: i64,
    /// The number of secrets in the backup, deleted ones and those certificates manage included.
    pub secrets: u64,
    /// The number of keys in the backup, deleted ones and those certificates manage included.
    pub keys: u64,
    /// The number of certificates in the backup (deleted ones included).
    pub certificates: u64,
    /// How many of those objects are soft-deleted.
    pub deleted_objects: u64,
    /// The number of object versions in the backup.
    pub versions: u64,
    /// Vault settings and certificate operations: issuers, contacts, create operations.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub settings: u64,
    /// SHA-256, in hex, over every object's digest and then every setting record's SHA-256, in stream order.
    pub digest: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a restore did (or, in a dry run, would do) to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoredObject {
    /// `secret`, `key` or `certificate`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// `restored`, `restored-deleted`, `skipped`, `new-version`, `conflict`, `excluded-deleted`.
    pub action: String,
    /// The versions written (or, in a dry run, that would be written).
    pub versions: u64,
}

/// What a restore did to one vault setting (`contacts`, `issuer NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoredSetting {
    /// `contacts` or `issuer {name}`.
    pub setting: String,
    /// `restored`, `replaced`, `skipped`, `conflict`.
    pub action: String,
}

/// The report of a finished restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultRestoreReport {
    /// The manifest of the backup restored from.
    pub manifest: VaultBackupManifest,
    /// Whether this was a dry run: nothing was written, the report says what would have been.
    pub dry_run: bool,
    /// Objects written (restored, restored as deleted, or given a new version).
    pub restored: u64,
    /// Objects left out: skipped on a conflict, or deleted in the backup and not asked for.
    pub skipped: u64,
    /// Objects and settings the target vault already has, under the conflict policy `fail` (the restore is
    /// then refused).
    pub conflicts: u64,
    /// Versions written across every restored object.
    pub versions_written: u64,
    /// What happened to each object, at most 10,000 of them (the counts are always complete).
    #[serde(default)]
    pub objects: Vec<RestoredObject>,
    /// Whether `objects` stopped at its limit.
    #[serde(default)]
    pub objects_truncated: bool,
    /// What happened to each vault setting; left out when the backup holds none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<RestoredSetting>,
}

/// A backup or restore job, as `GET /{backup|restore}/{job}/pending` (and the 202 that starts it) returns it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultJobStatus {
    /// The job's id, the `{job}` of its status URL.
    pub job_id: String,
    /// `backup` or `restore`.
    pub operation: String,
    /// The vault backed up or restored into.
    pub vault: String,
    /// `InProgress`, `Succeeded`, `Failed`.
    pub status: String,
    /// When the job started, Unix seconds.
    pub start_time: i64,
    /// When it finished, Unix seconds; absent while in progress.
    pub end_time: Option<i64>,
    /// Objects backed up so far, or, once a restore has finished, the objects it wrote.
    pub objects: u64,
    /// Object versions backed up so far, or, once a restore has finished, the versions it wrote.
    pub versions: u64,
    /// Bytes handled so far: of the backup file written (backup), of the backup's records committed
    /// (restore).
    pub bytes: u64,
    /// Why the job failed; present only when `status` is `Failed`.
    pub error: Option<VaultJobError>,
    /// The backup's manifest once the job has succeeded (for a restore, that of the backup restored from).
    pub manifest: Option<VaultBackupManifest>,
    /// A finished restore's report; absent for backups and while in progress.
    pub report: Option<VaultRestoreReport>,
}

impl VaultJobStatus {
    /// The `status` of a job still running.
    pub const IN_PROGRESS: &'static str = "InProgress";
    /// The `status` of a job that finished successfully.
    pub const SUCCEEDED: &'static str = "Succeeded";

    /// Whether the job is still running.
    pub fn in_progress(&self) -> bool {
        self.status == Self::IN_PROGRESS
    }

    /// Whether the job finished successfully (as opposed to running or failed).
    pub fn succeeded(&self) -> bool {
        self.status == Self::SUCCEEDED
    }
}
