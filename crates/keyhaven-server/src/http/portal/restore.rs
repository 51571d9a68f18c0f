//! Restore Backup on a kind's list: upload a backup file (as Download Backup, `az keyvault … backup --file` or an
//! SDK's backup wrote it), and see the restored object or the server's reason for refusing it.

use super::context::{PageResult, PortalError, Signed, Upload};
use super::html::{self, esc};
use super::nav;
use crate::http::request::MAX_RESTORE_BODY;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keyhaven_model::{ObjectKind, VaultName};

fn form_page(cx: &Signed, v: &VaultName, kind: ObjectKind, error: Option<&str>) -> Response {
    let body = format!(
        r#"{}<p>Restores a {k} with all its versions from a backup file: one made by Download Backup, by
<code>az keyvault {k} backup --file</code> or <code>keyhaven {k} backup --file</code>, or an SDK's backup saved to a
file. It must come from a vault of this deployment's subscription and of this vault's geography, and no {k} of
that name may exist here (nor be deleted).</p>
<form method="post" action="{}/restore" enctype="multipart/form-data" class="card stack" data-confirm="Restore the {k} in this file into {vault}?">{}
<label for="backup-file">Backup file</label>
<input id="backup-file" name="file" type="file" required>
<button type="submit" class="primary">Restore</button>
</form>"#,
        error.map(|e| html::notice(true, e)).unwrap_or_default(),
        esc(&nav::kind_url(v, kind)),
        html::csrf_field(cx.csrf()),
        k = kind.as_str(),
        vault = esc(v.as_str()),
    );
    cx.page(
        &format!("Restore Backup ({})", kind.as_str()),
        &nav::kind_crumbs(v, kind, &[("Restore Backup", None)]),
        &body,
    )
}

/// `GET /portal/vaults/{vault}/{kind}/restore`.
pub(crate) async fn show(cx: Signed, Path((vault, col)): Path<(String, String)>) -> PageResult {
    let v = nav::vault_name(&vault)?;
    let kind = nav::kind_of(&col)?;
    cx.in_vault(&v);
    Ok(form_page(&cx, &v, kind, None))
}

/// The blob in a backup file: the raw bytes (as `--file` writes them), or the API's `{"value": "<base64url>"}` or
/// bare base64 text saved by hand.
pub(crate) fn blob_of(file: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(file).map(str::trim).unwrap_or_default();
    let encoded = if text.starts_with('{') {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|j| j.get("value").and_then(|v| v.as_str()).map(str::to_string))
    } else if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='))
    {
        Some(text.to_string())
    } else {
        None
    };
    encoded
        .and_then(|e| {
            let e = e.trim_end_matches('=');
            URL_SAFE_NO_PAD
                .decode(e)
                .or_else(|_| STANDARD.decode(format!("{e}{}", "=".repeat((4 - e.len() % 4) % 4))))
                .ok()
        })
        .unwrap_or_else(|| file.to_vec())
}

async fn read_file(up: &mut Upload) -> Result<Vec<u8>, PortalError> {
    while let Some(mut field) = up
        .multipart
        .next_field()
        .await
        .map_err(|e| super::context::unreadable_upload("The form", &e))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let mut data = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    if data.len() + c.len() > MAX_RESTORE_BODY {
                        return Err(PortalError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "The file is larger than any object backup.",
                        ));
                    }
                    data.extend_from_slice(&c);
                }
                Ok(None) => return Ok(data),
                Err(e) => return Err(super::context::unreadable_upload("The file", &e)),
            }
        }
    }
    Err(PortalError::bad("Choose a backup file."))
}

/// `POST /portal/vaults/{vault}/{kind}/restore`.
pub(crate) async fn submit(
    Path((vault, col)): Path<(String, String)>,
    mut up: Upload,
) -> PageResult {
    let v = nav::vault_name(&vault)?;
    let kind = nav::kind_of(&col)?;
    up.cx.in_vault(&v);
    let outcome = match read_file(&mut up).await {
        Ok(file) if file.is_empty() => Err(PortalError::bad("The backup file is empty.")),
        Ok(file) => up
            .cx
            .st
            .kh
            .restore_object(&up.cx.who, &v, kind, blob_of(&file))
            .await
            .map_err(PortalError::from),
        Err(e) => Err(e),
    };
    let cx = &up.cx;
    match outcome {
        Ok(o) => {
            let body = format!(
                r#"{}<p><a href="{}">Open {} {}</a></p>"#,
                html::notice(
                    false,
                    &format!(
                        "Restored {} '{}' with all its versions.",
                        kind.as_str(),
                        o.name
                    )
                ),
                esc(&nav::object_url(&v, kind, &o.name)),
                kind.as_str(),
                esc(&o.name)
            );
            Ok(cx.page(
                &format!("Restored {}", o.name),
                &nav::kind_crumbs(&v, kind, &[("Restore Backup", None)]),
                &body,
            ))
        }
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(e),
        Err(e) => {
            let mut resp = form_page(
                cx,
                &v,
                kind,
                Some(&format!("Nothing was restored: {}", e.message)),
            );
            *resp.status_mut() = e.status;
            Ok(resp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::blob_of;

    #[test]
    fn raw_json_and_base64_files_give_the_same_blob() {
        let raw = vec![0x4b, 0x48, 0x4f, 0x42, 1, 1, 1, 0, 0xff, 0x00];
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &raw);
        assert_eq!(blob_of(&raw), raw);
        assert_eq!(blob_of(b64.as_bytes()), raw);
        assert_eq!(
            blob_of(format!("{{\"value\": \"{b64}\"}}\n").as_bytes()),
            raw
        );
        // Not base64 and not the API's JSON: passed on as it is, for the domain to refuse.
        assert_eq!(blob_of(b"{not json"), b"{not json");
    }
}
