//! Scheduled whole-vault backups: every `every-secs`, a backup of the vault is written to its directory (temporary
//! name, fsync, rename, fsync of the directory), then old backups beyond `keep-last` or older than
//! `max-age-days` are removed (a schedule with neither keeps what finished backup jobs keep: see
//! [`JobLimits`](crate::JobLimits)). A schedule may name an Azure Blob Storage container instead (`container-url`
//! and `sas-token-file`): each backup goes into a folder of its own there, as Azure's full backup writes it, and
//! retention is left to the storage account's lifecycle rules. The last success and failure are logged and shown
//! by `/healthz`.

use keyhaven_core::{Keyhaven, Principal};
use keyhaven_model::VaultName;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// One `[[backup-schedule]]` of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BackupSchedule {
    /// The vault to back up.
    pub vault: String,
    /// Seconds between backups (the first runs one interval after start).
    pub every_secs: u64,
    /// Where backups go (default: DATA_DIR/scheduled-backups/VAULT).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Keep at most this many backup files, deleting the oldest. With `max_age_days`, absent: the job retention's
    /// count.
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// Delete backup files older than this. With `keep_last`, absent: the job retention's age.
    #[serde(default)]
    pub max_age_days: Option<u64>,
    /// Whether soft-deleted objects go into the backup too.
    #[serde(default)]
    pub include_deleted: bool,
    /// An Azure Blob Storage container to write backups into instead of a directory (its URL; HTTPS, or plain
    /// HTTP to loopback), each in a folder of its own as Azure's full backup writes them.
    #[serde(default)]
    pub container_url: Option<String>,
    /// The file holding the container's SAS token (read at each run, so it can be renewed).
    #[serde(default)]
    pub sas_token_file: Option<PathBuf>,
}

/// Where a schedule's backups go.
pub(crate) enum Target {
    /// A directory (pruned by the schedule's retention).
    Dir(PathBuf),
    /// A Blob Storage container (retention is the storage account's lifecycle rules).
    Container {
        client: crate::blob_storage::StorageClient,
        url: String,
        sas_token_file: PathBuf,
    },
}

/// One backup into a container: its folder URL and how many objects it holds.
async fn run_into_container(
    kh: &Arc<Keyhaven>,
    s: &BackupSchedule,
    client: &crate::blob_storage::StorageClient,
    url: &str,
    sas_token_file: &Path,
) -> Result<(String, u64), String> {
    use crate::blob_storage::{BlockWriter, Container, Folder, BACKUP_BLOB};
    let vault = VaultName::parse(&s.vault).map_err(|e| e.0)?;
    let sas = tokio::fs::read_to_string(sas_token_file)
        .await
        .map_err(|e| format!("reading {}: {e}", sas_token_file.display()))?;
    let container = Container::parse(url, Some(sas.trim())).map_err(|e| e.to_string())?;
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    let folder = Folder::for_backup(vault.as_str(), kh.now(), millis);
    let folder_url = container.folder_url(&folder);
    let (kh, include_deleted, client) = (kh.clone(), s.include_deleted, client.clone());
    let rt = tokio::runtime::Handle::current();
    let objects = tokio::task::spawn_blocking(move || {
        let mut w = BlockWriter::new(client, container, folder, BACKUP_BLOB, rt);
        let system = Principal::system("scheduled-backup");
        match kh.backup_vault(&system, &vault, include_deleted, &mut w, &mut |_| {}) {
            Ok((_, manifest)) => w
                .finish()
                .map(|_| manifest.objects())
                .map_err(|e| e.to_string()),
            Err(e) => Err(w.failure().map_or_else(|| e.to_string(), |f| f.to_string())),
        }
    })
    .await
    .map_err(|e| e.to_string())??;
    Ok((folder_url, objects))
}

/// The outcome of a schedule's last runs.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleStatus {
    pub vault: String,
    pub last_success: Option<i64>,
    pub last_file: Option<String>,
    pub last_failure: Option<i64>,
    pub last_error: Option<String>,
}

pub(crate) type Statuses = Arc<Mutex<Vec<ScheduleStatus>>>;

fn run_once(kh: &Keyhaven, s: &BackupSchedule, dir: &Path) -> Result<(PathBuf, u64), String> {
    let vault = VaultName::parse(&s.vault).map_err(|e| e.0)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let stamp = kh.now();
    let file = dir.join(format!("{}-{stamp:012}.khvs", vault.as_str()));
    let tmp = file.with_extension("khvs.tmp");
    let system = Principal::system("scheduled-backup");
    let out =
        std::fs::File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let result = kh.backup_vault(
        &system,
        &vault,
        s.include_deleted,
        std::io::BufWriter::new(out),
        &mut |_| {},
    );
    let (w, manifest) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.to_string());
        }
    };
    let f = w.into_inner().map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &file).map_err(|e| e.to_string())?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    prune(dir, vault.as_str(), s, stamp);
    Ok((file, manifest.objects()))
}

/// How many backups a schedule keeps, and for how long (seconds): its own `keep-last` and `max-age-days`, or,
/// when it sets neither (the configuration file fills them in from the job retention), the default job retention.
fn retention(s: &BackupSchedule) -> (Option<usize>, Option<i64>) {
    let days = |d: u64| i64::try_from(d.saturating_mul(86_400)).unwrap_or(i64::MAX);
    if s.keep_last.is_none() && s.max_age_days.is_none() {
        let d = crate::JobLimits::default();
        return (
            Some(d.keep_finished_per_vault),
            Some(i64::try_from(d.keep_finished_secs).unwrap_or(i64::MAX)),
        );
    }
    (s.keep_last, s.max_age_days.map(days))
}

/// Removes backups of `vault` in `dir` beyond `keep_last` (newest kept) or older than `max_age_days`.
fn prune(dir: &Path, vault: &str, s: &BackupSchedule, now: i64) {
    let prefix = format!("{vault}-");
    let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stamp = name
                .strip_prefix(&prefix)?
                .strip_suffix(".khvs")?
                .parse::<i64>()
                .ok()?;
            Some((stamp, e.path()))
        })
        .collect();
    files.sort();
    let (keep_last, max_age_secs) = retention(s);
    let keep_from = keep_last
        .map(|k| files.len().saturating_sub(k.max(1)))
        .unwrap_or(0);
    for (i, (stamp, path)) in files.iter().enumerate() {
        let too_old = max_age_secs.is_some_and(|max| now.saturating_sub(*stamp) > max);
        if i < keep_from || (too_old && i + 1 < files.len()) {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(file = %path.display(), error = %e, "could not remove an old scheduled backup");
            }
        }
    }
}

pub(crate) async fn schedule_loop(
    kh: Arc<Keyhaven>,
    s: BackupSchedule,
    target: Target,
    index: usize,
    statuses: Statuses,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(s.every_secs.max(1)));
    // With several nodes on one database, the node holding this schedule's lease runs it (see `leader`).
    let mut leader = crate::leader::Leadership::new(format!("backup-schedule/{index}/{}", s.vault));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !leader.is_mine(&kh).await {
                    continue;
                }
                let r = match &target {
                    Target::Dir(dir) => {
                        let (k, sc, d) = (kh.clone(), s.clone(), dir.clone());
                        tokio::task::spawn_blocking(move || run_once(&k, &sc, &d))
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()))
                            .map(|(file, objects)| (file.display().to_string(), objects))
                    }
                    Target::Container { client, url, sas_token_file } => {
                        run_into_container(&kh, &s, client, url, sas_token_file).await
                    }
                };
                let now = kh.now();
                if let Ok(mut st) = statuses.lock() {
                    if let Some(status) = st.get_mut(index) {
                        match &r {
                            Ok((file, objects)) => {
                                tracing::info!(vault = %s.vault, file = %file, objects, "scheduled backup written");
                                status.last_success = Some(now);
                                status.last_file = Some(file.clone());
                            }
                            Err(e) => {
                                tracing::error!(vault = %s.vault, error = %e, "scheduled backup failed");
                                status.last_failure = Some(now);
                                status.last_error = Some(e.clone());
                            }
                        }
                    }
                }
            }
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(keep_last: Option<usize>, max_age_days: Option<u64>) -> BackupSchedule {
        BackupSchedule {
            vault: "v".into(),
            every_secs: 60,
            dir: None,
            keep_last,
            max_age_days,
            include_deleted: false,
            container_url: None,
            sas_token_file: None,
        }
    }

    fn stamps(dir: &Path) -> Vec<i64> {
        let mut v: Vec<i64> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("v-")?
                    .strip_suffix(".khvs")?
                    .parse()
                    .ok()
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_schedule_without_retention_of_its_own_keeps_what_jobs_keep() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_000_000;
        for i in 0..15 {
            std::fs::write(
                dir.path().join(format!("v-{:012}.khvs", now - i * 60)),
                b"x",
            )
            .unwrap();
        }
        std::fs::write(
            dir.path().join(format!("v-{:012}.khvs", now - 3 * 86_400)),
            b"x",
        )
        .unwrap();
        // Its own keep-last: that many, whatever their age.
        prune(dir.path(), "v", &schedule(Some(12), None), now);
        assert_eq!(stamps(dir.path()).len(), 12);
        // None of its own: the job retention (10 per vault, a day).
        prune(dir.path(), "v", &schedule(None, None), now);
        let kept = stamps(dir.path());
        assert_eq!(kept.len(), 10);
        assert_eq!(*kept.last().unwrap(), now);
        // An age of its own.
        prune(dir.path(), "v", &schedule(None, Some(1)), now + 86_400 + 1);
        assert_eq!(stamps(dir.path()), vec![now], "the newest is always kept");
    }
}
