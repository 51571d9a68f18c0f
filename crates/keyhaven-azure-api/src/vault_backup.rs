//! Whole-vault backup and restore jobs (beyond Azure's per-object API): `POST /backup` starts a backup,
//! `PUT /restore` a restore; `GET /{backup|restore}/{job}/pending` reports a job; `POST /_keyhaven/backups/verify`
//! checks a backup file and returns its manifest.

use serde::{Deserialize, Serialize};

/// `POST /backup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultBackupRequest {
    #[serde(default)]
    pub include_deleted: bool,
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultJobError {
    pub code: String,
    pub message: String,
}

/// What a whole-vault backup holds (the manifest at its end).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultBackupManifest {
    pub format: String,
    pub vault: String,
    pub created: i64,
    pub secrets: u64,
    pub keys: u64,
    pub certificates: u64,
    pub deleted_objects: u64,
    pub versions: u64,
    /// Vault settings and certificate operations: issuers, contacts, create operations.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub settings: u64,
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
    pub name: String,
    /// `restored`, `restored-deleted`, `skipped`, `new-version`, `conflict`, `excluded-deleted`.
    pub action: String,
    pub versions: u64,
}

/// What a restore did to one vault setting (`contacts`, `issuer NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoredSetting {
    pub setting: String,
    /// `restored`, `replaced`, `skipped`, `conflict`.
    pub action: String,
}

/// The report of a finished restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultRestoreReport {
    pub manifest: VaultBackupManifest,
    pub dry_run: bool,
    pub restored: u64,
    pub skipped: u64,
    pub conflicts: u64,
    pub versions_written: u64,
    #[serde(default)]
    pub objects: Vec<RestoredObject>,
    #[serde(default)]
    pub objects_truncated: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<RestoredSetting>,
}

/// A backup or restore job, as `GET /{backup|restore}/{job}/pending` (and the 202 that starts it) returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultJobStatus {
    pub job_id: String,
    /// `backup` or `restore`.
    pub operation: String,
    pub vault: String,
    /// `InProgress`, `Succeeded`, `Failed`.
    pub status: String,
    pub start_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub objects: u64,
    pub versions: u64,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<VaultJobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<VaultBackupManifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<VaultRestoreReport>,
}

impl VaultJobStatus {
    pub const IN_PROGRESS: &'static str = "InProgress";
    pub const SUCCEEDED: &'static str = "Succeeded";

    pub fn in_progress(&self) -> bool {
        self.status == Self::IN_PROGRESS
    }

    pub fn succeeded(&self) -> bool {
        self.status == Self::SUCCEEDED
    }
}
