//! Whole-vault backup and restore over HTTP, shaped after Managed HSM's full backup: `POST /backup` and
//! `PUT /restore` (or `PUT /{kind}/{name}/restore` for one object) start a job and answer 202 with an
//! `Azure-AsyncOperation` URL; `GET /{backup|restore}/{job}/pending` reports its status; `GET /backup/{job}/content`
//! streams the finished backup. A restore takes the backup as the request body (streamed to disk, up to the
//! configured [`max_upload_bytes`](crate::JobLimits::max_upload_bytes)) or names a server-side backup with
//! `backupId`. A vault runs one backup or restore at a time (409 for a second).

use super::context::Ctx;
use super::error::ApiError;
use crate::jobs::{JobError, JobKind, JobState, JobStatus};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use keyhaven_core::{ConflictPolicy, Principal, RestoreOptions};
use keyhaven_model::{ObjectKind, ObjectName, VaultName};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

fn accepted(cx: &Ctx, status: JobStatus) -> Response {
    let api = cx
        .query
        .get("api-version")
        .unwrap_or(keyhaven_azure_api::API_VERSION);
    let url = format!(
        "{}/{}/{}/pending?api-version={}",
        cx.base,
        status.operation.as_str(),
        status.job_id,
        form_urlencoded::byte_serialize(api.as_bytes()).collect::<String>()
    );
    let mut resp = (StatusCode::ACCEPTED, Json(status)).into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert("azure-asyncoperation", v);
    }
    resp
}

pub(crate) fn job_error(e: keyhaven_core::Error) -> JobError {
    let api = ApiError::from(e);
    JobError {
        code: api.code.to_string(),
        message: api.message,
    }
}

fn flag(cx: &Ctx, name: &str) -> Result<bool, ApiError> {
    match cx.query.get(name) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad(format!(
            "{name} must be true or false, not '{}'.",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

fn job(cx: &Ctx, id: &str, operation: JobKind) -> Result<JobStatus, ApiError> {
    cx.st
        .jobs
        .get(id)
        .filter(|j| j.operation == operation && j.vault == cx.vault.as_str())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!(
                    "No {} job '{}' for this vault.",
                    operation.as_str(),
                    id.chars().take(64).collect::<String>()
                ),
            )
        })
}

/// `POST /backup`: starts a whole-vault backup.
pub(crate) async fn start_backup(cx: &Ctx) -> Result<Response, ApiError> {
    let body: serde_json::Value = if cx.body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        cx.json()?
    };
    let include_deleted =
        flag(cx, "includeDeleted")? || body["includeDeleted"].as_bool().unwrap_or(false);
    let id = spawn_backup(&cx.st, &cx.who, &cx.vault, include_deleted)?;
    let status = job(cx, &id, JobKind::Backup)?;
    Ok(accepted(cx, status))
}

/// Starts a whole-vault backup job (authorized first) and returns its id: the API's `POST /backup` and the
/// portal's Back up vault both start one here.
pub(crate) fn spawn_backup(
    st: &AppState,
    who: &Principal,
    vault: &VaultName,
    include_deleted: bool,
) -> Result<String, ApiError> {
    st.kh.authorize_vault_job(who, vault, false)?;
    let id = st
        .jobs
        .start(JobKind::Backup, vault.as_str(), st.kh.now())?;
    let (st, who, vault, job_id) = (st.clone(), who.clone(), vault.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        let final_path = st.jobs.backup_file(&job_id);
        let tmp = final_path.with_extension("khvs.tmp");
        let result = (|| -> Result<keyhaven_core::Manifest, keyhaven_core::Error> {
            let io = |e: std::io::Error| {
                keyhaven_core::Error::Internal(format!("writing the backup file: {e}"))
            };
            let file = std::fs::File::create(&tmp).map_err(io)?;
            let (w, manifest) = st.kh.backup_vault(
                &who,
                &vault,
                include_deleted,
                std::io::BufWriter::with_capacity(1 << 20, file),
                &mut |p| st.jobs.progress(&job_id, p),
            )?;
            let file = w.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            std::fs::rename(&tmp, &final_path).map_err(io)?;
            sync_dir(st.jobs.dir());
            Ok(manifest)
        })();
        let now = st.kh.now();
        let bytes = std::fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
        st.jobs.update(&job_id, |s| {
            s.end_time = Some(now);
            match result {
                Ok(m) => {
                    s.status = JobState::Succeeded;
                    s.bytes = bytes;
                    s.objects = m.objects();
                    s.versions = m.versions;
                    s.manifest = Some(m);
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    s.status = JobState::Failed;
                    s.error = Some(job_error(e));
                }
            }
        });
    });
    Ok(id)
}

/// Marks a job that did not get going as failed (and finished, so that retention deletes it).
fn fail_now(cx: &Ctx, id: &str) {
    let now = cx.st.kh.now();
    cx.st.jobs.update(id, |s| {
        s.status = JobState::Failed;
        s.end_time = Some(now);
    });
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `GET /backup/{job}/content`: the finished backup, streamed.
pub(crate) async fn backup_content(cx: &Ctx, id: &str) -> Result<Response, ApiError> {
    cx.st.kh.authorize_vault_job(&cx.who, &cx.vault, false)?;
    let j = job(cx, id, JobKind::Backup)?;
    if j.status != JobState::Succeeded {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Backup job {id} has status {:?}; its content is not available.",
                j.status
            ),
        ));
    }
    let file = tokio::fs::File::open(cx.st.jobs.backup_file(id))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The backup file is no longer on the server.",
            )
        })?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    Ok(resp)
}

/// 413 for a body over `limit` bytes.
fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!(
            "The backup is larger than this server accepts ({limit} bytes; max-upload-mib in its configuration)."
        ),
    )
}

/// Refuses an upload whose declared length (`Content-Length`) is over the limit, before any of it is read.
pub(crate) fn refuse_declared_oversize(declared: Option<u64>, limit: u64) -> Result<(), ApiError> {
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Streams a request body to a new file (constant memory), fsync'd. A body that passes `limit` bytes is refused
/// with 413 as soon as it does, without reading the rest; the partial file is deleted.
pub(crate) async fn body_to_file(body: Body, path: &Path, limit: u64) -> Result<u64, ApiError> {
    let fail =
        |m: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", m);
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| fail(format!("storing the upload: {e}")))?;
    let mut body = body;
    let mut n = 0u64;
    let result = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ApiError::bad("The request body could not be read."))?;
            if let Ok(data) = frame.into_data() {
                n += data.len() as u64;
                if n > limit {
                    return Err(too_large(limit));
                }
                file.write_all(&data)
                    .await
                    .map_err(|e| fail(format!("storing the upload: {e}")))?;
            }
        }
        file.sync_all()
            .await
            .map_err(|e| fail(format!("storing the upload: {e}")))
    }
    .await;
    match result {
        Ok(()) => Ok(n),
        Err(e) => {
            drop(file);
            let _ = tokio::fs::remove_file(path).await;
            Err(e)
        }
    }
}

pub(crate) fn restore_options(
    cx: &Ctx,
    only: Option<(ObjectKind, ObjectName)>,
) -> Result<RestoreOptions, ApiError> {
    let conflict = match cx.query.get("conflict").unwrap_or("fail") {
        "fail" | "" => ConflictPolicy::Fail,
        "skip" => ConflictPolicy::Skip,
        "new-version" | "newVersion" => ConflictPolicy::NewVersion,
        other => {
            return Err(ApiError::bad(format!(
                "conflict must be fail, skip or new-version, not '{}'.",
                other.chars().take(20).collect::<String>()
            )))
        }
    };
    Ok(RestoreOptions {
        conflict,
        dry_run: flag(cx, "dryRun")?,
        include_deleted: flag(cx, "includeDeleted")?,
        only,
    })
}

/// `PUT /restore` and `PUT /{secrets|keys|certificates}/{name}/restore`; `declared` is the body's
/// `Content-Length`, if given.
pub(crate) async fn start_restore(
    cx: &Ctx,
    body: Body,
    declared: Option<u64>,
    only: Option<(ObjectKind, ObjectName)>,
) -> Result<Response, ApiError> {
    cx.st.kh.authorize_vault_job(&cx.who, &cx.vault, true)?;
    let options = restore_options(cx, only)?;
    let source = cx.query.get("backupId").filter(|b| !b.is_empty()).map(|b| {
        (
            b,
            b.chars()
                .filter(|c| c.is_ascii_hexdigit())
                .collect::<String>(),
        )
    });
    let limit = cx.st.jobs.limits().max_upload_bytes;
    if source.is_none() {
        refuse_declared_oversize(declared, limit)?;
    }
    let id = cx
        .st
        .jobs
        .start(JobKind::Restore, cx.vault.as_str(), cx.st.kh.now())?;
    let (path, uploaded): (PathBuf, bool) = match source {
        Some((b, backup)) => {
            cx.st.jobs.update(&id, |s| s.source = Some(backup.clone()));
            let p = cx.st.jobs.backup_file(&backup);
            if !p.exists() {
                fail_now(cx, &id);
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!(
                        "No server-side backup '{}'.",
                        b.chars().take(64).collect::<String>()
                    ),
                ));
            }
            (p, false)
        }
        None => {
            let p = cx.st.jobs.dir().join(format!("upload-{id}.khvs.tmp"));
            match body_to_file(body, &p, limit).await {
                Ok(0) => {
                    let _ = std::fs::remove_file(&p);
                    fail_now(cx, &id);
                    return Err(ApiError::bad("Send the vault backup as the request body, or name a server-side backup with backupId."));
                }
                Ok(_) => (p, true),
                Err(e) => {
                    let _ = std::fs::remove_file(&p);
                    fail_now(cx, &id);
                    return Err(e);
                }
            }
        }
    };
    spawn_restore(&cx.st, &cx.who, &cx.vault, &id, path, uploaded, options);
    let status = job(cx, &id, JobKind::Restore)?;
    Ok(accepted(cx, status))
}

/// Runs restore job `id` (already started and authorized) from the backup at `path`, removed afterwards when
/// `uploaded`: the API's `PUT /restore` and the portal's Restore vault both run one here.
pub(crate) fn spawn_restore(
    st: &AppState,
    who: &Principal,
    vault: &VaultName,
    id: &str,
    path: PathBuf,
    uploaded: bool,
    options: RestoreOptions,
) {
    let (st, who, vault, job_id) = (st.clone(), who.clone(), vault.clone(), id.to_string());
    // A restore reads and writes for as long as the backup is large: on a blocking thread, so that the runtime's
    // workers keep serving (other vaults, job status, and the 503s of the vault being restored).
    tokio::task::spawn_blocking(move || {
        let open_path = path.clone();
        let result = st.kh.restore_vault(
            &who,
            &vault,
            move || {
                std::fs::File::open(&open_path)
                    .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            },
            options,
            &mut |p| {
                st.jobs.update(&job_id, |s| s.bytes = p.bytes);
                Ok(())
            },
        );
        if uploaded {
            let _ = std::fs::remove_file(&path);
        }
        let now = st.kh.now();
        st.jobs.update(&job_id, |s| {
            s.end_time = Some(now);
            match result {
                Ok(r) => {
                    s.status = JobState::Succeeded;
                    s.objects = r.restored;
                    s.versions = r.versions_written;
                    s.manifest = Some(r.manifest.clone());
                    s.report = Some(r);
                }
                Err(e) => {
                    s.status = JobState::Failed;
                    s.error = Some(job_error(e));
                }
            }
        });
    });
}
