//! Whole-vault backup and restore jobs: they run on blocking threads; their status is kept in memory and their
//! files under `DIR/backups` (a finished backup is `{job}.khvs`, written to a temporary name, fsync'd, renamed).
//!
//! One backup or restore runs per vault at a time. Finished jobs, and the files of finished backups, are kept for
//! [`JobLimits::keep_finished_secs`] and at most [`JobLimits::keep_finished_per_vault`] per vault, then deleted by
//! this module's own timer (and whenever a job starts); backup files left by an earlier run of the server are
//! deleted once as old. Times are the domain's clock.

use crate::ServerError;
use keyhaven_core::{Manifest, Progress, RestoreReport};
use keyhaven_model::Clock;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

/// Limits on uploads and on what finished jobs leave behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLimits {
    /// The largest whole-vault backup taken as a request body (`PUT /restore`, `/_keyhaven/backups/verify`), in
    /// bytes. A larger one is refused with 413 as soon as its declared length or its bytes pass this.
    pub max_upload_bytes: u64,
    /// Finished jobs, and the files of finished backup jobs, are deleted this long after they finish (seconds).
    pub keep_finished_secs: u64,
    /// At most this many finished jobs (with their files) are kept per vault; the oldest go first.
    pub keep_finished_per_vault: usize,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            max_upload_bytes: 4 << 30,
            keep_finished_secs: 24 * 3600,
            keep_finished_per_vault: 10,
        }
    }
}

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
    /// The server-side backup a restore reads (kept while the restore runs).
    #[serde(skip)]
    pub source: Option<String>,
}

pub(crate) struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    limits: JobLimits,
    clock: Arc<dyn Clock>,
    table: Mutex<HashMap<String, JobStatus>>,
}

impl Jobs {
    /// Jobs with their files in `dir`; expired ones are deleted every `check_every` (on the current tokio runtime,
    /// for as long as these jobs exist).
    pub fn new(
        dir: PathBuf,
        limits: JobLimits,
        clock: Arc<dyn Clock>,
        check_every: Duration,
    ) -> Result<Jobs, ServerError> {
        crate::private_files::create_private_dir(&dir)?;
        // Leftovers of jobs interrupted by a crash are incomplete by definition.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let inner = Arc::new(Inner {
            dir,
            limits,
            clock,
            table: Mutex::new(HashMap::new()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(retention_loop(Arc::downgrade(&inner), check_every));
        }
        Ok(Jobs { inner })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn limits(&self) -> &JobLimits {
        &self.inner.limits
    }

    /// The file of a finished backup job.
    pub fn backup_file(&self, job: &str) -> PathBuf {
        self.inner.backup_file(job)
    }

    /// Starts a job of `operation` for `vault`: [`keyhaven_core::Error::Conflict`], naming the running job, when
    /// one already runs for that vault.
    pub fn start(
        &self,
        operation: JobKind,
        vault: &str,
        now: i64,
    ) -> Result<String, keyhaven_core::Error> {
        self.inner.prune(now);
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
            source: None,
        };
        let mut t = self
            .inner
            .table
            .lock()
            .map_err(|_| keyhaven_core::Error::Internal("the job table is unusable".into()))?;
        if let Some(running) = t
            .values()
            .find(|j| j.vault == vault && j.status == JobState::InProgress)
        {
            return Err(keyhaven_core::Error::Conflict(format!(
                "A {} job ({}) is running for vault '{vault}'; a vault runs one backup or restore at a time. \
                 Retry when it has finished (GET /{}/{}/pending).",
                running.operation.as_str(),
                running.job_id,
                running.operation.as_str(),
                running.job_id
            )));
        }
        t.insert(id.clone(), status);
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<JobStatus> {
        self.inner
            .table
            .lock()
            .ok()
            .and_then(|t| t.get(id).cloned())
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut JobStatus)) {
        if let Ok(mut t) = self.inner.table.lock() {
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

    /// Deletes the finished jobs (and backup files) past their retention at `now`.
    #[cfg(test)]
    fn prune(&self, now: i64) {
        self.inner.prune(now)
    }
}

impl Inner {
    fn backup_file(&self, job: &str) -> PathBuf {
        self.dir.join(format!("{job}.khvs"))
    }

    fn prune(&self, now: i64) {
        let keep_secs = i64::try_from(self.limits.keep_finished_secs).unwrap_or(i64::MAX);
        let (expired, known) = {
            let Ok(mut t) = self.table.lock() else {
                return;
            };
            // A backup a running restore reads stays, whatever its age.
            let in_use: HashSet<String> = t
                .values()
                .filter(|j| j.status == JobState::InProgress)
                .filter_map(|j| j.source.clone())
                .collect();
            let mut by_vault: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
            for j in t.values().filter(|j| j.status != JobState::InProgress) {
                by_vault
                    .entry(j.vault.as_str())
                    .or_default()
                    .push((j.end_time.unwrap_or(j.start_time), j.job_id.as_str()));
            }
            let mut expired: Vec<(String, JobKind)> = Vec::new();
            for finished in by_vault.values_mut() {
                finished.sort_by(|a, b| b.cmp(a));
                for (i, (end, id)) in finished.iter().enumerate() {
                    let too_old = now.saturating_sub(*end) >= keep_secs;
                    let too_many = i >= self.limits.keep_finished_per_vault;
                    if (too_old || too_many) && !in_use.contains(*id) {
                        if let Some(j) = t.get(*id) {
                            expired.push((id.to_string(), j.operation));
                        }
                    }
                }
            }
            for (id, _) in &expired {
                t.remove(id);
            }
            let known: HashSet<String> = t.keys().cloned().chain(in_use).collect();
            (expired, known)
        };
        for (id, kind) in &expired {
            if *kind == JobKind::Backup {
                remove(&self.backup_file(id));
            }
        }
        if !expired.is_empty() {
            tracing::info!(
                jobs = expired.len(),
                "deleted finished backup and restore jobs past their retention"
            );
        }
        // Backups of jobs this server no longer knows (an earlier run's) are deleted once as old by their files'
        // age: the job table does not outlive the process.
        let max_age = Duration::from_secs(self.limits.keep_finished_secs);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".khvs"))
            else {
                continue;
            };
            if known.contains(stem) {
                continue;
            }
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok());
            if age.is_some_and(|a| a >= max_age) {
                remove(&path);
            }
        }
    }
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %e, "could not delete an expired backup file");
        }
    }
}

/// Deletes expired jobs every `every`, until the jobs are dropped.
async fn retention_loop(jobs: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = jobs.upgrade() else {
            return;
        };
        let now = inner.clock.now();
        // File deletions block: off the async threads.
        let _ = tokio::task::spawn_blocking(move || inner.prune(now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_model::ManualClock;

    fn jobs(dir: &Path, keep_secs: u64, keep_per_vault: usize) -> (Jobs, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::starting_now());
        let limits = JobLimits {
            keep_finished_secs: keep_secs,
            keep_finished_per_vault: keep_per_vault,
            ..JobLimits::default()
        };
        let j = Jobs::new(
            dir.to_path_buf(),
            limits,
            clock.clone(),
            Duration::from_secs(3600),
        )
        .unwrap();
        (j, clock)
    }

    fn finish(j: &Jobs, id: &str, at: i64) {
        j.update(id, |s| {
            s.status = JobState::Succeeded;
            s.end_time = Some(at);
        });
    }

    #[test]
    fn one_running_job_per_vault() {
        let dir = tempfile::tempdir().unwrap();
        let (j, clock) = jobs(dir.path(), 3600, 10);
        let now = clock.now();
        let a = j.start(JobKind::Backup, "v", now).unwrap();
        let e = j.start(JobKind::Restore, "v", now).unwrap_err().to_string();
        assert!(e.contains(&a) && e.contains("backup job"), "{e}");
        j.start(JobKind::Backup, "w", now).unwrap();
        finish(&j, &a, now);
        j.start(JobKind::Restore, "v", now).unwrap();
    }

    #[test]
    fn finished_jobs_and_their_files_expire_by_age_and_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let (j, clock) = jobs(dir.path(), 100, 2);
        let t0 = clock.now();
        let mut ids = Vec::new();
        for i in 0..3 {
            let id = j.start(JobKind::Backup, "v", t0).unwrap();
            std::fs::write(j.backup_file(&id), b"backup").unwrap();
            finish(&j, &id, t0 + i);
            ids.push(id);
        }
        let running = j.start(JobKind::Restore, "v", t0).unwrap();
        j.update(&running, |s| s.source = Some(ids[2].clone()));
        j.prune(t0 + 10);
        // Three finished, two kept: the oldest went, with its file.
        assert!(j.get(&ids[0]).is_none());
        assert!(!j.backup_file(&ids[0]).exists());
        assert!(j.get(&ids[1]).is_some() && j.backup_file(&ids[1]).exists());
        // Past the age: all finished ones go but the one the running restore reads; never the running job.
        j.prune(t0 + 500);
        assert!(j.get(&ids[1]).is_none() && !j.backup_file(&ids[1]).exists());
        assert!(j.get(&ids[2]).is_some() && j.backup_file(&ids[2]).exists());
        assert!(j.get(&running).is_some());
        finish(&j, &running, t0 + 500);
        j.prune(t0 + 1000);
        assert!(j.get(&ids[2]).is_none() && !j.backup_file(&ids[2]).exists());
        assert!(j.get(&running).is_none());
    }

    #[test]
    fn backup_files_of_an_earlier_run_are_deleted_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("0123456789abcdef0123456789abcdef.khvs");
        std::fs::write(&old, b"backup").unwrap();
        let (j, clock) = jobs(dir.path(), 3600, 10);
        j.prune(clock.now());
        assert!(old.exists(), "younger than the retention");
        let (j, clock) = jobs(dir.path(), 0, 10);
        j.prune(clock.now());
        assert!(!old.exists());
    }
}
