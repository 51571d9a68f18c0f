//! Whole-vault backup and restore jobs: they run on blocking threads; their status is kept in memory and their
//! files under `DIR/backups` (a finished backup is `{job}.khvs`, written to a temporary name, fsync'd, renamed).

use crate::ServerError;
use keyhaven_core::{Manifest, Progress, RestoreReport};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobError {
    pub code: String,
    pub message: String,
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobKind {
    Backup,
    Restore,
}

impl JobKind {
    /// `backup` or `restore`: also the first segment of the job's status URL.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
        }
    }
}

/// Where a job stands, as Azure's long-running operations say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum JobState {
    InProgress,
    Succeeded,
    Failed,
}

/// A job's status, as `GET /{backup|restore}/{job}/pending` returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobStatus {
    pub job_id: String,
    pub operation: JobKind,
    pub vault: String,
    pub status: JobState,
    pub start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub objects: u64,
    pub versions: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RestoreReport>,
}

pub(crate) struct Jobs {
    dir: PathBuf,
    table: Mutex<HashMap<String, JobStatus>>,
}

impl Jobs {
    pub fn new(dir: PathBuf) -> Result<Jobs, ServerError> {
        crate::bootstrap::create_private_dir(&dir)?;
        // Leftovers of jobs interrupted by a crash are incomplete by definition.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Jobs {
            dir,
            table: Mutex::new(HashMap::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a finished backup job.
    pub fn backup_file(&self, job: &str) -> PathBuf {
        self.dir.join(format!("{job}.khvs"))
    }

    pub fn start(
        &self,
        operation: JobKind,
        vault: &str,
        now: i64,
    ) -> Result<String, keyhaven_core::Error> {
        let id = keyhaven_crypto::random_uuid()?.replace('-', "");
        let status = JobStatus {
            job_id: id.clone(),
            operation,
            vault: vault.to_string(),
            status: JobState::InProgress,
            start_time: now,
            end_time: None,
            objects: 0,
            versions: 0,
            bytes: 0,
            error: None,
            manifest: None,
            report: None,
        };
        if let Ok(mut t) = self.table.lock() {
            t.insert(id.clone(), status);
        }
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<JobStatus> {
        self.table.lock().ok().and_then(|t| t.get(id).cloned())
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut JobStatus)) {
        if let Ok(mut t) = self.table.lock() {
            if let Some(s) = t.get_mut(id) {
                f(s);
            }
        }
    }

    pub fn progress(&self, id: &str, p: Progress) {
        self.update(id, |s| {
            s.objects = p.objects;
            s.versions = p.versions;
            s.bytes = p.bytes;
        });
    }
}
