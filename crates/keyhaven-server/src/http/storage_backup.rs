//! Azure's full backup and restore through Blob Storage (`backuprestore.json`, what `KeyVaultBackupClient`
//! drives), beside Keyhaven's own streamed form (`vault_backup.rs`):
//!
//! - `POST /backup` with `{storageResourceUri, token}` writes the vault's backup stream into the container as one
//!   blob, `{folder}/keyhaven-vault-backup.khvs`, folder `mhsm-{vault}-{yyyyMMddHHmmssfff}`; the job's status reports
//!   the folder URL in `azureStorageBlobContainerUri`.
//! - `PUT /restore` with `{sasTokenParameters, folderToRestore}` downloads that blob (streamed to disk) and
//!   restores it as the streamed form does; `PUT /keys/{name}/restore` with `{sasTokenParameters, folder}` restores
//!   one key of it.
//! - `POST /prebackup` checks that the container takes writes (one uncommitted block, no blob made);
//!   `PUT /prerestore` downloads the backup and runs the restore as a dry run (conflicts fail it).
//!
//! Every one answers 202 with `Azure-AsyncOperation` (the job's status URL) and `Retry-After`;
//! `GET /{backup|restore}/{job}/pending` answers with Azure's operation document (`status`, `statusDetails`,
//! `startTime`, `endTime`, `jobId`, `error`, and a backup's `azureStorageBlobContainerUri`) plus Keyhaven's counts.

use super::context::Ctx;
use super::error::ApiError;
use super::request::Query;
use super::vault_backup::{job_error, restore_options, spawn_restore};
use crate::blob_storage::{
    BlockWriter, Container, Folder, StorageError, StorageJob, StorageOperation, BACKUP_BLOB,
};
use crate::jobs::{JobError, JobKind, JobState, JobStatus};
use crate::state::AppState;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyhaven_azure_api::storage_backup::{
    RestoreOperationParameters, SasTokenParameter, SelectiveKeyRestoreParameters,
};
use keyhaven_core::{ConflictPolicy, RestoreOptions};
use keyhaven_model::ObjectKind;
use serde_json::Value;
use std::path::PathBuf;

/// Seconds a client should wait before asking about a running job again.
const RETRY_AFTER_SECS: &str = "1";

/// Whether `POST /backup`'s body names a Blob Storage container (Azure's form) rather than Keyhaven's own options.
pub(crate) fn names_container(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| {
        v.get("storageResourceUri").is_some() || v.get("useManagedIdentity").is_some()
    })
}

/// Whether a `PUT …/restore` is Azure's form (a JSON body naming a folder in Blob Storage) rather than Keyhaven's
/// (a streamed backup body, or `backupId` naming a server-side one): `PUT /restore` or `PUT /keys/{name}/restore`
/// with a JSON content type and no `backupId`.
pub(crate) fn is_storage_restore(
    method: &Method,
    segs: &[&str],
    headers: &HeaderMap,
    query: &Query,
) -> bool {
    if query.get("backupId").is_some() {
        return false;
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    method == Method::PUT && json && matches!(segs, ["restore"] | ["keys", _, "restore"])
}

fn storage_error(e: StorageError) -> ApiError {
    if e.is_bad_request() {
        ApiError::bad(e.to_string())
    } else {
        ApiError::new(StatusCode::BAD_GATEWAY, e.code(), e.to_string())
    }
}

fn storage_job_error(e: &StorageError) -> JobError {
    JobError {
        code: e.code().to_string(),
        message: e.to_string(),
    }
}

/// The container of a `SASTokenParameter`.
fn container(p: &SasTokenParameter) -> Result<Container, ApiError> {
    if p.use_managed_identity {
        return Err(ApiError::bad(
            "Keyhaven has no managed identity to reach Blob Storage with: pass a SAS token for the container \
             (token) and leave useManagedIdentity false.",
        ));
    }
    Container::parse(&p.storage_resource_uri, p.token.as_deref()).map_err(storage_error)
}

/// The 202 of a started job: its status document, `Azure-AsyncOperation` and `Retry-After`.
fn accepted(cx: &Ctx, id: &str, kind: JobKind) -> Result<Response, ApiError> {
    let status = job(cx, id, kind)?;
    let api = cx
        .query
        .get("api-version")
        .unwrap_or(keyhaven_azure_api::API_VERSION);
    let url = format!(
        "{}/{}/{id}/pending?api-version={}",
        cx.base,
        kind.as_str(),
        form_urlencoded::byte_serialize(api.as_bytes()).collect::<String>()
    );
    let doc = status_document(status, cx.st.storage.get(id));
    let mut resp = (StatusCode::ACCEPTED, Json(doc)).into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert("azure-asyncoperation", v);
    }
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    Ok(resp)
}

fn job(cx: &Ctx, id: &str, kind: JobKind) -> Result<JobStatus, ApiError> {
    cx.st
        .jobs
        .get(id)
        .filter(|j| j.operation == kind && j.vault == cx.vault.as_str())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!(
                    "No {} job '{}' for this vault.",
                    kind.as_str(),
                    id.chars().take(64).collect::<String>()
                ),
            )
        })
}

/// Azure's words for where a job stands.
fn status_details(j: &JobStatus, op: Option<StorageOperation>) -> String {
    let what = match (op, j.operation) {
        (Some(StorageOperation::PreBackup), _) => "Pre full backup check",
        (Some(StorageOperation::PreRestore), _) => "Pre full restore check",
        (Some(StorageOperation::SelectiveKeyRestore), _) => "Selective key restore",
        (_, JobKind::Backup) => "Full backup",
        (_, JobKind::Restore) => "Full restore",
    };
    match (j.status, &j.error) {
        (JobState::InProgress, _) => format!("{what} is in progress"),
        (JobState::Succeeded, _) => format!(
            "{what} succeeded: {} objects, {} versions",
            j.objects, j.versions
        ),
        (JobState::Failed, Some(e)) => format!("{what} failed: {}", e.message),
        (JobState::Failed, None) => format!("{what} failed"),
    }
}

/// The status document of any vault job: Azure's operation fields, then Keyhaven's.
fn status_document(j: JobStatus, storage: Option<StorageJob>) -> Value {
    let op = storage.as_ref().map(|s| s.operation);
    let details = status_details(&j, op);
    let end_time = j.end_time;
    let mut doc = serde_json::to_value(&j).unwrap_or(Value::Null);
    if let Some(o) = doc.as_object_mut() {
        o.insert("statusDetails".into(), Value::String(details));
        o.insert("endTime".into(), end_time.map_or(Value::Null, Value::from));
        o.entry("error").or_insert(Value::Null);
        if j.operation == JobKind::Backup {
            // A backup into a container names its folder from the start, as Azure's does (the spec's examples show
            // it while the job is in progress); a failed one wrote none, and other backups have none: no field.
            if let Some(uri) = storage
                .and_then(|s| s.folder_url)
                .filter(|_| j.status != JobState::Failed)
            {
                o.insert("azureStorageBlobContainerUri".into(), Value::String(uri));
            }
        }
    }
    doc
}

fn status(cx: &Ctx, id: &str, kind: JobKind) -> Result<Response, ApiError> {
    cx.st
        .kh
        .authorize_vault_job(&cx.who, &cx.vault, kind == JobKind::Restore)?;
    let j = job(cx, id, kind)?;
    let running = j.status == JobState::InProgress;
    let mut resp = Json(status_document(j, cx.st.storage.get(id))).into_response();
    if running {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    Ok(resp)
}

/// `GET /backup/{job}/pending`: any backup job (streamed or into Blob Storage).
pub(crate) fn backup_status(cx: &Ctx, id: &str) -> Result<Response, ApiError> {
    status(cx, id, JobKind::Backup)
}

/// `GET /restore/{job}/pending`: any restore job.
pub(crate) fn restore_status(cx: &Ctx, id: &str) -> Result<Response, ApiError> {
    status(cx, id, JobKind::Restore)
}

fn fail_job(st: &AppState, id: &str, error: JobError) {
    let now = st.kh.now();
    st.jobs.update(id, |s| {
        s.status = JobState::Failed;
        s.end_time = Some(now);
        s.error = Some(error);
    });
}

fn succeed_job(st: &AppState, id: &str, f: impl FnOnce(&mut JobStatus)) {
    let now = st.kh.now();
    st.jobs.update(id, |s| {
        s.status = JobState::Succeeded;
        s.end_time = Some(now);
        f(s);
    });
}

/// `POST /backup` naming a container: the vault's backup stream, uploaded block by block as it is made.
pub(crate) async fn start_backup(cx: &Ctx) -> Result<Response, ApiError> {
    let p: SasTokenParameter = cx.json()?;
    cx.st.kh.authorize_vault_job(&cx.who, &cx.vault, false)?;
    let container = container(&p)?;
    let include_deleted = cx.query.get("includeDeleted") == Some("true");
    let now = cx.st.kh.now();
    let id = cx.st.jobs.start(JobKind::Backup, cx.vault.as_str(), now)?;
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    let folder = Folder::for_backup(cx.vault.as_str(), now, millis);
    cx.st.storage.note(
        &id,
        StorageJob {
            operation: StorageOperation::FullBackup,
            folder_url: Some(container.folder_url(&folder)),
        },
    );
    let (st, who, vault, job_id) = (cx.st.clone(), cx.who.clone(), cx.vault.clone(), id.clone());
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut w = BlockWriter::new(
            st.storage.client.clone(),
            container,
            folder,
            BACKUP_BLOB,
            rt,
        );
        let made = st
            .kh
            .backup_vault(&who, &vault, include_deleted, &mut w, &mut |p| {
                st.jobs.progress(&job_id, p)
            });
        match made {
            Ok((_, manifest)) => match w.finish() {
                Ok(bytes) => succeed_job(&st, &job_id, |s| {
                    s.bytes = bytes;
                    s.objects = manifest.objects();
                    s.versions = manifest.versions;
                    s.manifest = Some(manifest);
                }),
                Err(e) => fail_job(&st, &job_id, storage_job_error(&e)),
            },
            Err(e) => {
                let error = match w.failure() {
                    Some(s) => storage_job_error(s),
                    None => job_error(e),
                };
                fail_job(&st, &job_id, error);
            }
        }
    });
    accepted(cx, &id, JobKind::Backup)
}

/// `POST /prebackup`: whether a backup could be written into the container (one uncommitted block is put; no
/// blob appears).
pub(crate) async fn pre_backup(cx: &Ctx) -> Result<Response, ApiError> {
    let p: SasTokenParameter = cx.json()?;
    cx.st.kh.authorize_vault_job(&cx.who, &cx.vault, false)?;
    let container = container(&p)?;
    let id = cx
        .st
        .jobs
        .start(JobKind::Backup, cx.vault.as_str(), cx.st.kh.now())?;
    cx.st.storage.note(
        &id,
        StorageJob {
            operation: StorageOperation::PreBackup,
            folder_url: None,
        },
    );
    let (st, job_id) = (cx.st.clone(), id.clone());
    let folder = Folder::for_backup(cx.vault.as_str(), cx.st.kh.now(), 0);
    tokio::spawn(async move {
        let probe = st
            .storage
            .client
            .put_block(
                &container,
                &folder,
                "keyhaven-prebackup-check",
                0,
                bytes::Bytes::from_static(b"\0"),
            )
            .await;
        match probe {
            Ok(()) => succeed_job(&st, &job_id, |_| {}),
            Err(e) => fail_job(&st, &job_id, storage_job_error(&e)),
        }
    });
    accepted(cx, &id, JobKind::Backup)
}

/// What a restore request names: the container, the folder and (selective restore) the key.
struct RestoreSource {
    container: Container,
    folder: Folder,
}

fn restore_source(
    sas: Option<SasTokenParameter>,
    folder: Option<String>,
    field: &str,
) -> Result<RestoreSource, ApiError> {
    let sas = sas.ok_or_else(|| {
        ApiError::bad("sasTokenParameters (the container and its SAS token) is required.")
    })?;
    let folder = folder
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| ApiError::bad(format!("{field} (the backup's folder) is required.")))?;
    Ok(RestoreSource {
        container: container(&sas)?,
        folder: Folder::parse(&folder).map_err(storage_error)?,
    })
}

/// Starts a restore job that first downloads the backup, then restores it (`dry_run`: as a check only).
async fn start_restore_job(
    cx: &Ctx,
    source: RestoreSource,
    options: RestoreOptions,
    operation: StorageOperation,
) -> Result<Response, ApiError> {
    let id = cx
        .st
        .jobs
        .start(JobKind::Restore, cx.vault.as_str(), cx.st.kh.now())?;
    cx.st.storage.note(
        &id,
        StorageJob {
            operation,
            folder_url: None,
        },
    );
    let (st, who, vault, job_id) = (cx.st.clone(), cx.who.clone(), cx.vault.clone(), id.clone());
    tokio::spawn(async move {
        let path: PathBuf = st.jobs.dir().join(format!("download-{job_id}.khvs.tmp"));
        let downloaded = st
            .storage
            .client
            .download(&source.container, &source.folder, BACKUP_BLOB, &path)
            .await;
        if let Err(e) = downloaded {
            let _ = tokio::fs::remove_file(&path).await;
            fail_job(&st, &job_id, storage_job_error(&e));
            return;
        }
        if options.dry_run {
            check_restore(st, who, vault, job_id, path, options).await;
        } else {
            spawn_restore(&st, &who, &vault, &job_id, path, true, options);
        }
    });
    accepted(cx, &id, JobKind::Restore)
}

/// A pre-restore check: the downloaded backup restored as a dry run; any conflict the policy does not settle
/// fails the check, as it would fail the restore.
async fn check_restore(
    st: AppState,
    who: keyhaven_core::Principal,
    vault: keyhaven_model::VaultName,
    job_id: String,
    path: PathBuf,
    options: RestoreOptions,
) {
    let (kh, p) = (st.kh.clone(), path.clone());
    let fail_on_conflict = options.conflict == ConflictPolicy::Fail;
    let result = tokio::task::spawn_blocking(move || {
        kh.restore_vault(
            &who,
            &vault,
            move || std::fs::File::open(&p).map(|f| std::io::BufReader::with_capacity(1 << 20, f)),
            options,
            &mut |_| Ok(()),
        )
    })
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    match result {
        Ok(Ok(r)) if fail_on_conflict && r.conflicts > 0 => fail_job(
            &st,
            &job_id,
            JobError {
                code: "Conflict".into(),
                message: format!(
                    "{} objects or settings of the backup already exist in the vault (or are deleted there); \
                     a restore would be refused.",
                    r.conflicts
                ),
            },
        ),
        Ok(Ok(r)) => succeed_job(&st, &job_id, |s| {
            s.objects = r.restored;
            s.manifest = Some(r.manifest.clone());
            s.report = Some(r);
        }),
        Ok(Err(e)) => fail_job(&st, &job_id, job_error(e)),
        Err(_) => fail_job(
            &st,
            &job_id,
            JobError {
                code: "InternalServerError".into(),
                message: "The restore check stopped unexpectedly.".into(),
            },
        ),
    }
}

/// `PUT /restore` (and `PUT /keys/{name}/restore`) naming a backup folder in Blob Storage.
pub(crate) async fn start_restore(cx: &Ctx, segs: &[&str]) -> Result<Response, ApiError> {
    cx.st.kh.authorize_vault_job(&cx.who, &cx.vault, true)?;
    match segs {
        ["keys", name, "restore"] => {
            let p: SelectiveKeyRestoreParameters = cx.json()?;
            let source = restore_source(p.sas_token_parameters, p.folder, "folder")?;
            let only = Some((ObjectKind::Key, super::objects::name(name)?));
            let options = restore_options(cx, only)?;
            start_restore_job(cx, source, options, StorageOperation::SelectiveKeyRestore).await
        }
        _ => {
            let p: RestoreOperationParameters = cx.json()?;
            let source = restore_source(
                p.sas_token_parameters,
                p.folder_to_restore,
                "folderToRestore",
            )?;
            let options = restore_options(cx, None)?;
            start_restore_job(cx, source, options, StorageOperation::FullRestore).await
        }
    }
}

/// `PUT /prerestore`: whether the folder's backup would restore into this vault.
pub(crate) async fn pre_restore(cx: &Ctx) -> Result<Response, ApiError> {
    cx.st.kh.authorize_vault_job(&cx.who, &cx.vault, true)?;
    let p: RestoreOperationParameters = cx.json()?;
    let source = restore_source(
        p.sas_token_parameters,
        p.folder_to_restore,
        "folderToRestore",
    )?;
    let mut options = restore_options(cx, None)?;
    options.dry_run = true;
    start_restore_job(cx, source, options, StorageOperation::PreRestore).await
}
