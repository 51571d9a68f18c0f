//! An object's page (its versions, tags and content type; Download Backup, Delete, enable/disable per version,
//! Show value for a secret, a new version of a secret) and those actions.

use super::context::{PageResult, PortalError, Posted, Signed};
use super::html::{self, esc, query_value, seg};
use super::lists::named_button;
use super::nav;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyhaven_core::{Action, Detail, ObjectUpdate, ObjectView, PageRequest, Resource, SetSecret};
use keyhaven_model::{
    AttributesPatch, ObjectKind, ObjectName, SecretValue, Tags, VaultName, Version,
};
use serde::Deserialize;
use std::fmt::Write;

#[derive(Deserialize, Default)]
pub(crate) struct ObjectQuery {
    /// Where the versions table continues.
    vafter: Option<String>,
    done: Option<String>,
}

/// The parsed path of an object's page or action.
struct Target {
    vault: VaultName,
    kind: ObjectKind,
    name: ObjectName,
}

impl Target {
    fn parse(cx: &Signed, vault: &str, col: &str, name: &str) -> Result<Self, PortalError> {
        let t = Target {
            vault: nav::vault_name(vault)?,
            kind: nav::kind_of(col)?,
            name: nav::object_name(name)?,
        };
        cx.in_vault(&t.vault);
        Ok(t)
    }

    fn url(&self) -> String {
        nav::object_url(&self.vault, self.kind, self.name.as_str())
    }

    fn resource(&self) -> Resource {
        Resource::object(&self.vault, self.kind, &self.name)
    }
}

/// The facts only this kind has, as definition-list rows.
fn kind_facts(t: &Target, v: &ObjectView) -> String {
    match &v.detail {
        Detail::Key(k) => {
            let size = match (&k.jwk.crv, k.key_size) {
                (Some(c), _) => format!("<dt>Curve</dt><dd>{}</dd>", esc(c)),
                (None, Some(bits)) => format!("<dt>Key size</dt><dd>{bits} bits</dd>"),
                _ => String::new(),
            };
            let ops: Vec<&str> = k.key_ops.iter().map(|o| o.as_str()).collect();
            format!(
                "<dt>Key type</dt><dd>{}</dd>{size}<dt>Permitted operations</dt><dd>{}</dd>",
                esc(k.kind.as_str()),
                esc(&ops.join(", "))
            )
        }
        Detail::Certificate(c) => {
            let thumb = c
                .x5t
                .as_deref()
                .map(keyhaven_crypto::hex)
                .unwrap_or_else(|| "— (pending)".into());
            format!(
                r#"<dt>Thumbprint (SHA-1)</dt><dd><code>{}</code></dd><dt>Its key and secret</dt><dd><a href="{}">key {n}</a>, <a href="{}">secret {n}</a></dd>"#,
                esc(&thumb.to_ascii_uppercase()),
                esc(&nav::object_url(&t.vault, ObjectKind::Key, t.name.as_str())),
                esc(&nav::object_url(
                    &t.vault,
                    ObjectKind::Secret,
                    t.name.as_str()
                )),
                n = esc(t.name.as_str()),
            )
        }
        Detail::Secret { key_id: Some(_) } => format!(
            r#"<dt>Managed by</dt><dd><a href="{}">certificate {}</a></dd>"#,
            esc(&nav::object_url(
                &t.vault,
                ObjectKind::Certificate,
                t.name.as_str()
            )),
            esc(t.name.as_str())
        ),
        Detail::Secret { key_id: None } => String::new(),
    }
}

fn tags_html(v: &ObjectView) -> String {
    let tags = v.tags.as_map();
    if tags.is_empty() {
        return "—".into();
    }
    let mut out = String::from(r#"<ul class="plain">"#);
    for (k, val) in tags {
        let _ = write!(
            out,
            "<li><code>{}</code> = <code>{}</code></li>",
            esc(k),
            esc(val)
        );
    }
    out.push_str("</ul>");
    out
}

/// The object's page, with the value of one secret version shown when asked for.
async fn render(
    cx: &Signed,
    t: &Target,
    q: &ObjectQuery,
    shown: Option<(&Version, &SecretValue)>,
) -> PageResult {
    let kh = &cx.st.kh;
    let latest = kh.get_properties(&cx.who, &t.vault, t.kind, &t.name, None)?;
    let versions = kh.list_versions(
        &cx.who,
        &t.vault,
        t.kind,
        &t.name,
        &PageRequest {
            max: None,
            after: q.vafter.clone(),
        },
    )?;
    // Newest first: the latest version, then by creation time (versions made in the same second keep the
    // listing's order).
    let mut items = versions.items;
    let latest_id = latest.version.as_str();
    items.sort_by_key(|v| {
        (
            v.version.as_str() != latest_id,
            std::cmp::Reverse(v.attributes.created),
        )
    });
    let res = t.resource();
    let can = |a: Action| cx.who.allows(a, &res);
    let base = t.url();
    let csrf = cx.csrf();

    let mut actions = String::new();
    if can(Action::backup(t.kind)) {
        let _ = write!(
            actions,
            r#"<form method="post" action="{}/backup" class="inline">{}<button type="submit" class="primary">Download Backup</button></form>"#,
            esc(&base),
            html::csrf_field(csrf)
        );
    }
    if !latest.managed && can(Action::delete(t.kind)) {
        let _ = write!(
            actions,
            r#"<form method="post" action="{}/delete" class="inline" data-confirm="Delete '{}'? It can be recovered from the deleted view until it is purged.">{}<button type="submit" class="danger">Delete</button></form>"#,
            esc(&base),
            esc(t.name.as_str()),
            html::csrf_field(csrf)
        );
    }
    let may_update = !latest.managed && can(Action::update(t.kind));
    let may_read_value = t.kind == ObjectKind::Secret && can(Action::SecretsGetSecret);

    let mut rows = String::new();
    for v in &items {
        let ver = v.version.as_str();
        let mut buttons = String::new();
        if may_update {
            let (label, to) = if v.attributes.enabled {
                ("Disable", "false")
            } else {
                ("Enable", "true")
            };
            let _ = write!(
                buttons,
                r#"<form method="post" action="{}/versions/{}/enabled" class="inline">{}<input type="hidden" name="enabled" value="{to}"><button type="submit">{label} <span class="vh">version {}</span></button></form>"#,
                esc(&base),
                seg(ver),
                html::csrf_field(csrf),
                esc(ver)
            );
        }
        if may_read_value {
            buttons.push_str(&named_button(
                &format!("{base}/versions/{}/value", seg(ver)),
                csrf,
                "Show value",
                &format!("of version {ver}"),
                "",
            ));
        }
        let _ = write!(
            rows,
            r#"<tr><th scope="row"><code>{}</code></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="buttons">{buttons}</td></tr>"#,
            esc(ver),
            if v.attributes.enabled { "Yes" } else { "No" },
            html::time(Some(v.attributes.created)),
            html::time(Some(v.attributes.updated)),
            html::time(v.attributes.nbf),
            html::time(v.attributes.exp),
        );
    }
    let more = match &versions.next {
        Some(n) => format!(
            r#"<p><a href="{}?vafter={}" rel="next">More versions</a></p>"#,
            esc(&base),
            esc(&query_value(n))
        ),
        None => String::new(),
    };
    let value = match shown {
        Some((ver, val)) => format!(
            r#"<section class="card" aria-labelledby="value-title"><h2 id="value-title">Value of version <code>{}</code></h2><pre class="value" tabindex="0"><output>{}</output></pre></section>"#,
            esc(ver.as_str()),
            esc(val.expose())
        ),
        None => String::new(),
    };
    let new_version = if t.kind == ObjectKind::Secret
        && !latest.managed
        && can(Action::SecretsSetSecret)
    {
        format!(
            r#"<section class="card"><h2>New version</h2><form method="post" action="{}/versions" class="stack">{}
<label for="new-value">New value</label><textarea id="new-value" name="value" rows="3" required spellcheck="false" autocomplete="off"></textarea>
<button type="submit">Add version</button></form></section>"#,
            esc(&base),
            html::csrf_field(csrf)
        )
    } else {
        String::new()
    };
    let notice = match q.done.as_deref() {
        Some("version") => html::notice(false, "A new version was added."),
        Some("enabled") => html::notice(false, "The version was changed."),
        _ => String::new(),
    };
    let managed = if latest.managed {
        r#"<p class="muted">This object belongs to a certificate of the same name: it changes, is deleted and is backed up with it.</p>"#
    } else {
        ""
    };
    let body = format!(
        r#"{notice}{managed}<div class="actions">{actions}</div>
<dl class="facts"><dt>Kind</dt><dd>{kind}</dd><dt>Content type</dt><dd>{ct}</dd><dt>Tags</dt><dd>{tags}</dd>{facts}</dl>
{value}
<h2>Versions</h2>
<div class="table-wrap" role="region" aria-label="Versions" tabindex="0"><table>
<thead><tr><th scope="col">Version</th><th scope="col">Enabled</th><th scope="col">Created</th><th scope="col">Updated</th><th scope="col">Not before</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
<tbody>{rows}</tbody></table></div>{more}{new_version}"#,
        kind = t.kind.title(),
        ct = esc(latest.content_type.as_deref().unwrap_or("—")),
        tags = tags_html(&latest),
        facts = kind_facts(t, &latest),
    );
    Ok(cx.page(
        t.name.as_str(),
        &nav::kind_crumbs(&t.vault, t.kind, &[(t.name.as_str(), None)]),
        &body,
    ))
}

/// `GET /portal/vaults/{vault}/{kind}/objects/{name}`.
pub(crate) async fn show(
    cx: Signed,
    Path((vault, col, name)): Path<(String, String, String)>,
    Query(q): Query<ObjectQuery>,
) -> PageResult {
    let t = Target::parse(&cx, &vault, &col, &name)?;
    render(&cx, &t, &q, None).await
}

/// `POST …/versions/{version}/value`: the page with that version's value shown (an audited read of the value).
pub(crate) async fn show_value(
    Path((vault, col, name, ver)): Path<(String, String, String, String)>,
    p: Posted,
) -> PageResult {
    let t = Target::parse(&p.cx, &vault, &col, &name)?;
    if t.kind != ObjectKind::Secret {
        return Err(PortalError::bad("Only a secret has a value to show."));
    }
    let ver = Version::parse(&ver)?;
    let v =
        p.cx.st
            .kh
            .get_secret(&p.cx.who, &t.vault, &t.name, Some(&ver))?;
    let value = v.value.ok_or_else(|| {
        PortalError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The value could not be read.",
        )
    })?;
    render(&p.cx, &t, &ObjectQuery::default(), Some((&ver, &value))).await
}

/// `POST …/versions/{version}/enabled`: enables or disables one version.
pub(crate) async fn set_enabled(
    Path((vault, col, name, ver)): Path<(String, String, String, String)>,
    p: Posted,
) -> PageResult {
    let t = Target::parse(&p.cx, &vault, &col, &name)?;
    let ver = Version::parse(&ver)?;
    let enabled = match p.form.get("enabled") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return Err(PortalError::bad(
                "Say whether the version is to be enabled.",
            ))
        }
    };
    let change = ObjectUpdate {
        attributes: AttributesPatch {
            enabled: Some(enabled),
            ..Default::default()
        },
        tags: None,
        content_type: None,
        from_user: true,
    };
    p.cx.st
        .kh
        .update_object(&p.cx.who, &t.vault, t.kind, &t.name, Some(&ver), change)
        .await?;
    Ok(Redirect::to(&format!("{}?done=enabled", t.url())).into_response())
}

/// `POST …/versions` (secrets): a new version with a new value.
pub(crate) async fn new_version(
    Path((vault, col, name)): Path<(String, String, String)>,
    mut p: Posted,
) -> PageResult {
    let t = Target::parse(&p.cx, &vault, &col, &name)?;
    if t.kind != ObjectKind::Secret {
        return Err(PortalError::bad(
            "New versions are added here to secrets only.",
        ));
    }
    let value = p
        .form
        .take("value")
        .ok_or_else(|| PortalError::bad("Enter the new value."))?;
    // The latest version's content type and tags carry over, as a new version made with the CLI keeps none:
    // people adding a version here expect the object to stay as it was.
    let latest =
        p.cx.st
            .kh
            .get_properties(&p.cx.who, &t.vault, t.kind, &t.name, None)?;
    let req = SetSecret {
        value: SecretValue::new(value.to_string())?,
        content_type: latest.content_type.clone(),
        attributes: AttributesPatch::default(),
        tags: Tags::new(latest.tags.as_map().clone())?,
    };
    p.cx.st
        .kh
        .set_secret(&p.cx.who, &t.vault, &t.name, req)
        .await?;
    Ok(Redirect::to(&format!("{}?done=version", t.url())).into_response())
}

/// `POST …/delete`.
pub(crate) async fn delete(
    Path((vault, col, name)): Path<(String, String, String)>,
    p: Posted,
) -> PageResult {
    let t = Target::parse(&p.cx, &vault, &col, &name)?;
    p.cx.st
        .kh
        .delete_object(&p.cx.who, &t.vault, t.kind, &t.name)
        .await?;
    Ok(Redirect::to(&format!(
        "{}?done=deleted&name={}",
        nav::kind_url(&t.vault, t.kind),
        query_value(t.name.as_str())
    ))
    .into_response())
}

/// `yyyyMMddHHmmss` (UTC) of a Unix time.
pub(crate) fn compact_time(unix: i64) -> String {
    keyhaven_model::time::rfc3339_millis(unix.saturating_mul(1000))
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect()
}

/// A download of `bytes` as `filename`.
pub(crate) fn attachment(bytes: Vec<u8>, filename: &str) -> Response {
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `POST …/backup`: Download Backup — the same blob bytes as the API's backup (and `az keyvault … backup --file`),
/// named `{vault}-{name}-{yyyyMMddHHmmss}.{kind}backup`.
pub(crate) async fn backup(
    Path((vault, col, name)): Path<(String, String, String)>,
    p: Posted,
) -> PageResult {
    let t = Target::parse(&p.cx, &vault, &col, &name)?;
    let (kh, who) = (p.cx.st.kh.clone(), p.cx.who.clone());
    let (v, kind, n) = (t.vault.clone(), t.kind, t.name.clone());
    let blob = tokio::task::spawn_blocking(move || kh.backup_object(&who, &v, kind, &n))
        .await
        .map_err(|_| {
            PortalError::new(StatusCode::INTERNAL_SERVER_ERROR, "The backup task failed.")
        })??;
    let filename = format!(
        "{}-{}-{}.{}backup",
        t.vault.as_str(),
        t.name.as_str(),
        compact_time(p.cx.st.kh.now()),
        t.kind.as_str()
    );
    Ok(attachment(blob, &filename))
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_times_are_utc_digits() {
        assert_eq!(super::compact_time(0), "19700101000000");
        assert_eq!(super::compact_time(1_767_225_599), "20251231235959");
    }
}
