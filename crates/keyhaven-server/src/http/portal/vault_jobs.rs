//! The whole vault: Back up vault (a job with its progress, then the file to download) and Restore vault (upload,
//! conflict policy, dry run, then the per-object report), through the same jobs as the API's `POST /backup` and
//! `PUT /restore`.

use super::context::{PageResult, PortalError, Posted, Signed, Upload};
use super::html::{self, esc, seg};
use super::nav;
use super::object::compact_time;
use crate::http::vault_backup::{spawn_backup, spawn_restore};
use crate::jobs::{JobKind, JobState, JobStatus};
use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyhaven_core::{ConflictPolicy, ObjectAction, RestoreOptions};
use keyhaven_model::VaultName;
use std::fmt::Write;
use tokio::io::AsyncWriteExt;

fn job_of(cx: &Signed, v: &VaultName, id: &str, kind: JobKind) -> Result<JobStatus, PortalError> {
    cx.st
        .jobs
        .get(id)
        .filter(|j| j.operation == kind && j.vault == v.as_str())
        .ok_or_else(|| {
            PortalError::new(
                StatusCode::NOT_FOUND,
                "There is no such job for this vault.",
            )
        })
}

/// Whether the caller may follow a job of this vault: the right to start one, as the API decides it.
fn may_see(cx: &Signed, v: &VaultName, kind: JobKind) -> Result<(), PortalError> {
    Ok(cx
        .st
        .kh
        .authorize_vault_job(&cx.who, v, kind == JobKind::Restore)?)
}

fn progress(j: &JobStatus) -> String {
    format!(
        "{} objects, {} versions, {} bytes",
        j.objects, j.versions, j.bytes
    )
}

/// `GET /portal/vaults/{vault}/backup`.
pub(crate) async fn backup_form(cx: Signed, Path(vault): Path<String>) -> PageResult {
    let v = nav::vault_name(&vault)?;
    cx.in_vault(&v);
    let body = format!(
        r#"<p>Backs up every object of <strong>{vault}</strong> with all its versions, at one instant, into one file that
<b>Restore vault</b> (or <code>keyhaven vault restore</code>) restores into any vault of the same geography.</p>
<form method="post" action="{}/backup" class="card stack">{}
<div class="check"><input id="include-deleted" name="include_deleted" type="checkbox"><label for="include-deleted">Include deleted objects</label></div>
<button type="submit" class="primary">Back up vault</button>
</form>"#,
        esc(&nav::vault_url(&v)),
        html::csrf_field(cx.csrf()),
        vault = esc(v.as_str()),
    );
    Ok(cx.page(
        "Back up vault",
        &nav::crumbs(Some(&v), &[("Back up vault", None)]),
        &body,
    ))
}

/// `POST /portal/vaults/{vault}/backup`: starts the job and goes to its page.
pub(crate) async fn backup_start(Path(vault): Path<String>, p: Posted) -> PageResult {
    let v = nav::vault_name(&vault)?;
    p.cx.in_vault(&v);
    let id = spawn_backup(&p.cx.st, &p.cx.who, &v, p.form.checked("include_deleted"))?;
    Ok(Redirect::to(&format!("{}/backup/{}", nav::vault_url(&v), seg(&id))).into_response())
}

/// `GET /portal/vaults/{vault}/backup/{job}`: progress, then the file.
pub(crate) async fn backup_status(
    cx: Signed,
    Path((vault, id)): Path<(String, String)>,
) -> PageResult {
    let v = nav::vault_name(&vault)?;
    cx.in_vault(&v);
    may_see(&cx, &v, JobKind::Backup)?;
    let j = job_of(&cx, &v, &id, JobKind::Backup)?;
    let body = match j.status {
        JobState::InProgress => format!(
            r#"<p role="status" data-refresh="1">Backing up… {}</p><progress aria-label="Backup progress"></progress><p class="muted">This page updates by itself.</p>"#,
            progress(&j)
        ),
        JobState::Succeeded => format!(
            r#"{}<p><a class="button primary" href="{}/backup/{}/content" download>Download vault backup</a></p><p class="muted">Restore it with Restore vault on any vault of this geography.</p>"#,
            html::notice(false, &format!("The backup is ready: {}.", progress(&j))),
            esc(&nav::vault_url(&v)),
            seg(&j.job_id)
        ),
        JobState::Failed => html::notice(
            true,
            &format!(
                "The backup failed: {}",
                j.error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .unwrap_or("no reason given")
            ),
        ),
    };
    Ok(cx.page(
        "Back up vault",
        &nav::crumbs(Some(&v), &[("Back up vault", None)]),
        &body,
    ))
}

/// `GET /portal/vaults/{vault}/backup/{job}/content`: the finished backup, streamed, named
/// `{vault}-{yyyyMMddHHmmss}.khvs`.
pub(crate) async fn backup_content(
    cx: Signed,
    Path((vault, id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    let v = nav::vault_name(&vault)?;
    cx.in_vault(&v);
    may_see(&cx, &v, JobKind::Backup)?;
    let j = job_of(&cx, &v, &id, JobKind::Backup)?;
    if j.status != JobState::Succeeded {
        return Err(PortalError::new(
            StatusCode::CONFLICT,
            "The backup is not finished.",
        ));
    }
    let file = tokio::fs::File::open(cx.st.jobs.backup_file(&j.job_id))
        .await
        .map_err(|_| {
            PortalError::new(
                StatusCode::NOT_FOUND,
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
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(l) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, l);
    }
    let name = format!("{}-{}.khvs", v.as_str(), compact_time(j.start_time));
    if let Ok(d) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    Ok(resp)
}

fn restore_form_page(cx: &Signed, v: &VaultName, error: Option<&str>) -> Response {
    let body = format!(
        r#"{}<p>Restores a whole-vault backup (a <code>.khvs</code> file from Back up vault or <code>keyhaven vault backup</code>)
into <strong>{vault}</strong>: all of it or nothing. A dry run reports what would happen and changes nothing.</p>
<form method="post" action="{}/restore" enctype="multipart/form-data" class="card stack" data-confirm="Restore this backup into {vault}?">{}
<label for="vault-backup-file">Vault backup file</label>
<input id="vault-backup-file" name="file" type="file" required>
<label for="conflict">Conflict policy</label>
<select id="conflict" name="conflict" aria-describedby="conflict-help">
<option value="fail" selected>fail: refuse the restore if any object exists here</option>
<option value="skip">skip: leave objects that exist here as they are</option>
<option value="new-version">new-version: add the backup's latest version to objects that exist here</option>
</select>
<p id="conflict-help" class="muted">What happens to an object of the backup that this vault has already.</p>
<div class="check"><input id="dry-run" name="dry_run" type="checkbox"><label for="dry-run">Dry run</label></div>
<div class="check"><input id="restore-deleted" name="include_deleted" type="checkbox"><label for="restore-deleted">Include deleted objects</label></div>
<button type="submit" class="primary">Restore vault</button>
</form>"#,
        error.map(|e| html::notice(true, e)).unwrap_or_default(),
        esc(&nav::vault_url(v)),
        html::csrf_field(cx.csrf()),
        vault = esc(v.as_str()),
    );
    cx.page(
        "Restore vault",
        &nav::crumbs(Some(v), &[("Restore vault", None)]),
        &body,
    )
}

/// `GET /portal/vaults/{vault}/restore`.
pub(crate) async fn restore_form(cx: Signed, Path(vault): Path<String>) -> PageResult {
    let v = nav::vault_name(&vault)?;
    cx.in_vault(&v);
    Ok(restore_form_page(&cx, &v, None))
}

/// What the form asked for, with the upload stored at `path`; the file's size. A file over the configured upload
/// limit is refused (413) as soon as its bytes pass it.
async fn receive(
    up: &mut Upload,
    path: &std::path::Path,
) -> Result<(u64, RestoreOptions), PortalError> {
    let fail = |e: std::io::Error| {
        PortalError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("storing the upload: {e}"),
        )
    };
    let limit = up.cx.st.jobs.limits().max_upload_bytes;
    let mut size = 0u64;
    let mut conflict = ConflictPolicy::Fail;
    let (mut dry_run, mut include_deleted) = (false, false);
    loop {
        let field = match up.multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(super::context::unreadable_upload("The form", &e)),
        };
        match field.name().unwrap_or_default() {
            "file" => {
                let mut file = tokio::fs::File::create(path).await.map_err(fail)?;
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            size += c.len() as u64;
                            if size > limit {
                                return Err(PortalError::new(
                                    StatusCode::PAYLOAD_TOO_LARGE,
                                    format!(
                                        "the file is larger than this server accepts ({limit} bytes; \
                                         max-upload-mib in its configuration)."
                                    ),
                                ));
                            }
                            file.write_all(&c).await.map_err(fail)?;
                        }
                        Ok(None) => break,
                        Err(e) => return Err(super::context::unreadable_upload("The file", &e)),
                    }
                }
                file.sync_all().await.map_err(fail)?;
            }
            "conflict" => {
                conflict = match field.text().await.unwrap_or_default().as_str() {
                    "fail" => ConflictPolicy::Fail,
                    "skip" => ConflictPolicy::Skip,
                    "new-version" => ConflictPolicy::NewVersion,
                    _ => {
                        return Err(PortalError::bad(
                            "The conflict policy is fail, skip or new-version.",
                        ))
                    }
                }
            }
            "dry_run" => dry_run = true,
            "include_deleted" => include_deleted = true,
            _ => {}
        }
    }
    Ok((
        size,
        RestoreOptions {
            conflict,
            dry_run,
            include_deleted,
            only: None,
        },
    ))
}

/// `POST /portal/vaults/{vault}/restore`: stores the upload, starts the restore job and goes to its page.
pub(crate) async fn restore_start(Path(vault): Path<String>, mut up: Upload) -> PageResult {
    let v = nav::vault_name(&vault)?;
    up.cx.in_vault(&v);
    up.cx.st.kh.authorize_vault_job(&up.cx.who, &v, true)?;
    let id = up
        .cx
        .st
        .jobs
        .start(JobKind::Restore, v.as_str(), up.cx.st.kh.now())?;
    let path = up.cx.st.jobs.dir().join(format!("upload-{id}.khvs.tmp"));
    let received = receive(&mut up, &path).await;
    let failed = |msg: String, status: StatusCode| {
        let _ = std::fs::remove_file(&path);
        up.cx.st.jobs.update(&id, |s| s.status = JobState::Failed);
        let mut resp = restore_form_page(&up.cx, &v, Some(&format!("Nothing was restored: {msg}")));
        *resp.status_mut() = status;
        Ok(resp)
    };
    let options = match received {
        Ok((0, _)) => {
            return failed(
                "choose a vault backup file.".into(),
                StatusCode::BAD_REQUEST,
            )
        }
        Ok((_, o)) => o,
        Err(e) => return failed(e.message, e.status),
    };
    spawn_restore(&up.cx.st, &up.cx.who, &v, &id, path, true, options);
    Ok(Redirect::to(&format!("{}/restore/{}", nav::vault_url(&v), seg(&id))).into_response())
}

fn action_text(a: ObjectAction) -> &'static str {
    match a {
        ObjectAction::Restored => "restored",
        ObjectAction::RestoredDeleted => "restored (deleted)",
        ObjectAction::Skipped => "skipped",
        ObjectAction::NewVersion => "new version",
        ObjectAction::Conflict => "conflict",
        ObjectAction::ExcludedDeleted => "left out (deleted)",
    }
}

/// `GET /portal/vaults/{vault}/restore/{job}`: progress, then the per-object report.
pub(crate) async fn restore_status(
    cx: Signed,
    Path((vault, id)): Path<(String, String)>,
) -> PageResult {
    let v = nav::vault_name(&vault)?;
    cx.in_vault(&v);
    may_see(&cx, &v, JobKind::Restore)?;
    let j = job_of(&cx, &v, &id, JobKind::Restore)?;
    let body = match (&j.status, &j.report) {
        (JobState::InProgress, _) => format!(
            r#"<p role="status" data-refresh="1">Restoring… {} bytes read</p><progress aria-label="Restore progress"></progress><p class="muted">This page updates by itself.</p>"#,
            j.bytes
        ),
        (JobState::Failed, _) => format!(
            r#"{}<p><a href="{}/restore">Restore vault</a></p>"#,
            html::notice(
                true,
                &format!(
                    "Nothing was restored: {}",
                    j.error
                        .as_ref()
                        .map(|e| e.message.as_str())
                        .unwrap_or("the restore failed")
                )
            ),
            esc(&nav::vault_url(&v))
        ),
        (JobState::Succeeded, None) => html::notice(false, "The restore finished."),
        (JobState::Succeeded, Some(r)) => {
            let mut rows = String::new();
            for o in &r.objects {
                let _ = write!(
                    rows,
                    r#"<tr><td>{}</td><th scope="row">{}</th><td>{}</td><td>{}</td></tr>"#,
                    o.kind.as_str(),
                    esc(&o.name),
                    action_text(o.action),
                    o.versions
                );
            }
            let summary = format!(
                "{}{} objects restored, {} skipped, {} conflicts, {} versions written.",
                if r.dry_run {
                    "Dry run — nothing was changed. It would be: "
                } else {
                    "Restored: "
                },
                r.restored,
                r.skipped,
                r.conflicts,
                r.versions_written
            );
            format!(
                r#"{}<div class="table-wrap" role="region" aria-label="Restore report" tabindex="0"><table>
<thead><tr><th scope="col">Kind</th><th scope="col">Name</th><th scope="col">Outcome</th><th scope="col">Versions</th></tr></thead>
<tbody>{rows}</tbody></table></div>{}<p><a href="{}">Open {}</a></p>"#,
                html::notice(false, &summary),
                if r.objects_truncated {
                    "<p class=\"muted\">The report lists the first objects only; the counts are complete.</p>"
                } else {
                    ""
                },
                esc(&nav::vault_url(&v)),
                esc(v.as_str())
            )
        }
    };
    Ok(cx.page(
        "Restore vault",
        &nav::crumbs(Some(&v), &[("Restore vault", None)]),
        &body,
    ))
}
