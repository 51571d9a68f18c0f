//! A kind's list (search and paging) and its Deleted view with Recover and Purge.

use super::context::{PageResult, Posted, Signed};
use super::html::{self, esc, query_value, seg};
use super::listing;
use super::nav::{self, collection, plural};
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use keyhaven_core::{Action, ObjectView, Resource};
use keyhaven_model::ObjectKind;
use serde::Deserialize;
use std::fmt::Write;

#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    q: Option<String>,
    after: Option<String>,
    /// What the previous action did, to say so (`deleted`, `recovered`, `purged`).
    done: Option<String>,
    name: Option<String>,
}

fn done_notice(kind: ObjectKind, q: &ListQuery) -> String {
    let (Some(done), Some(name)) = (q.done.as_deref(), q.name.as_deref()) else {
        return String::new();
    };
    let what = match done {
        "deleted" => "deleted; it is in the deleted view until it is purged or recovered",
        "recovered" => "recovered",
        "purged" => "purged for good",
        _ => return String::new(),
    };
    html::notice(false, &format!("{} '{}' was {what}.", kind.title(), name))
}

fn enabled_text(v: &ObjectView) -> &'static str {
    if v.attributes.enabled {
        "Yes"
    } else {
        "No"
    }
}

fn search_form(action: &str, kind: ObjectKind, q: &str) -> String {
    format!(
        r#"<form method="get" action="{}" class="row" role="search">
<label for="q">Search {} by name</label>
<input id="q" name="q" type="search" value="{}" spellcheck="false">
<button type="submit">Search</button>
</form>"#,
        esc(action),
        plural(kind).to_ascii_lowercase(),
        esc(q)
    )
}

fn next_link(base: &str, q: &str, next: Option<&String>) -> String {
    match next {
        Some(n) => format!(
            r#"<p><a href="{}?q={}&amp;after={}" rel="next">Next page</a></p>"#,
            esc(base),
            esc(&query_value(q)),
            esc(&query_value(n))
        ),
        None => String::new(),
    }
}

/// `GET /portal/vaults/{vault}/{kind}`.
pub(crate) async fn list(
    cx: Signed,
    Path((vault, col)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let v = nav::vault_name(&vault)?;
    let kind = nav::kind_of(&col)?;
    cx.in_vault(&v);
    let search = q.q.clone().unwrap_or_default();
    let page = listing::page(
        &cx.st.kh,
        &cx.who,
        &v,
        kind,
        false,
        Some(&search),
        q.after.clone(),
    )?;
    let base = nav::kind_url(&v, kind);
    let mut actions = String::new();
    let create = match kind {
        ObjectKind::Secret => Action::SecretsSetSecret,
        ObjectKind::Key => Action::KeysCreate,
        ObjectKind::Certificate => Action::CertificatesCreate,
    };
    if cx.who.allows(create, &Resource::kind(&v, kind)) {
        let _ = write!(
            actions,
            r#"<a class="button primary" href="{}/new">New {}</a>"#,
            esc(&base),
            kind.as_str()
        );
    }
    if cx
        .who
        .allows(Action::restore(kind), &Resource::kind(&v, kind))
    {
        let _ = write!(
            actions,
            r#"<a class="button" href="{}/restore">Restore Backup</a>"#,
            esc(&base)
        );
    }
    let _ = write!(
        actions,
        r#"<a class="button" href="{}/deleted">Deleted {}</a>"#,
        esc(&base),
        collection(kind)
    );
    let mut rows = String::new();
    for o in &page.items {
        let extra = match kind {
            ObjectKind::Secret => esc(o.content_type.as_deref().unwrap_or("—")),
            _ => String::new(),
        };
        let managed = if o.managed {
            r#" <span class="tag">certificate's</span>"#
        } else {
            ""
        };
        let _ = write!(
            rows,
            r#"<tr><th scope="row"><a href="{}">{}</a>{managed}</th><td>{}</td><td>{}</td><td>{}</td>{}</tr>"#,
            esc(&nav::object_url(&v, kind, &o.name)),
            esc(&o.name),
            enabled_text(o),
            html::time(Some(o.attributes.updated)),
            html::time(o.attributes.exp),
            if kind == ObjectKind::Secret {
                format!("<td>{extra}</td>")
            } else {
                String::new()
            }
        );
    }
    let head_extra = if kind == ObjectKind::Secret {
        r#"<th scope="col">Content type</th>"#
    } else {
        ""
    };
    let table = if page.items.is_empty() {
        format!(
            "<p>No {} {}.</p>",
            plural(kind).to_ascii_lowercase(),
            if search.is_empty() {
                "yet".to_string()
            } else {
                format!("whose name contains '{}'", esc(&search))
            }
        )
    } else {
        format!(
            r#"<div class="table-wrap" role="region" aria-label="{p}" tabindex="0"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Enabled</th><th scope="col">Updated</th><th scope="col">Expires</th>{head_extra}</tr></thead>
<tbody>{rows}</tbody></table></div>"#,
            p = plural(kind)
        )
    };
    let body = format!(
        r#"{}<div class="actions">{actions}</div>{}{table}{}"#,
        done_notice(kind, &q),
        search_form(&base, kind, &search),
        next_link(&base, &search, page.next.as_ref())
    );
    Ok(cx.page(plural(kind), &nav::kind_crumbs(&v, kind, &[]), &body))
}

/// `GET /portal/vaults/{vault}/{kind}/deleted`.
pub(crate) async fn deleted(
    cx: Signed,
    Path((vault, col)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let v = nav::vault_name(&vault)?;
    let kind = nav::kind_of(&col)?;
    cx.in_vault(&v);
    let search = q.q.clone().unwrap_or_default();
    let page = listing::page(
        &cx.st.kh,
        &cx.who,
        &v,
        kind,
        true,
        Some(&search),
        q.after.clone(),
    )?;
    let base = format!("{}/deleted", nav::kind_url(&v, kind));
    let mut rows = String::new();
    for o in &page.items {
        let name = nav::object_name(&o.name)?;
        let object = Resource::object(&v, kind, &name);
        let here = format!("{base}/{}", seg(&o.name));
        let mut buttons = String::new();
        if !o.managed && cx.who.allows(Action::recover(kind), &object) {
            buttons.push_str(&named_button(
                &format!("{here}/recover"),
                cx.csrf(),
                "Recover",
                &o.name,
                "",
            ));
        }
        if !o.managed && cx.who.allows(Action::purge(kind), &object) {
            buttons.push_str(&named_button(
                &format!("{here}/purge"),
                cx.csrf(),
                "Purge",
                &o.name,
                "danger",
            ));
        }
        let (deleted_on, purge_on) = o
            .deleted
            .map(|d| (Some(d.deleted_date), Some(d.scheduled_purge_date)))
            .unwrap_or((None, None));
        let _ = write!(
            rows,
            r#"<tr><th scope="row">{}</th><td>{}</td><td>{}</td><td class="buttons">{buttons}</td></tr>"#,
            esc(&o.name),
            html::time(deleted_on),
            html::time(purge_on),
        );
    }
    let table = if page.items.is_empty() {
        format!("<p>No deleted {}.</p>", plural(kind).to_ascii_lowercase())
    } else {
        format!(
            r#"<div class="table-wrap" role="region" aria-label="Deleted {c}" tabindex="0"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Deleted</th><th scope="col">Scheduled purge</th><th scope="col">Actions</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#,
            c = collection(kind)
        )
    };
    let title = format!("Deleted {}", collection(kind));
    let body = format!(
        "{}{}{table}{}",
        done_notice(kind, &q),
        search_form(&base, kind, &search),
        next_link(&base, &search, page.next.as_ref())
    );
    Ok(cx.page(
        &title,
        &nav::kind_crumbs(&v, kind, &[(&title, None)]),
        &body,
    ))
}

/// A one-button form whose accessible name is the action and the object's name ("Recover db-password").
pub(crate) fn named_button(
    action: &str,
    csrf: &str,
    label: &str,
    name: &str,
    class: &str,
) -> String {
    let confirm = match label {
        "Purge" => format!(
            r#" data-confirm="Purge '{}' for good? It cannot be recovered afterwards.""#,
            esc(name)
        ),
        "Delete" => format!(r#" data-confirm="Delete '{}'?""#, esc(name)),
        _ => String::new(),
    };
    format!(
        r#"<form method="post" action="{}" class="inline"{confirm}>{}<button type="submit" class="{}">{} <span class="vh">{}</span></button></form>"#,
        esc(action),
        html::csrf_field(csrf),
        esc(class),
        esc(label),
        esc(name)
    )
}

/// `POST /portal/vaults/{vault}/{kind}/deleted/{name}/recover`.
pub(crate) async fn recover(
    Path((vault, col, name)): Path<(String, String, String)>,
    p: Posted,
) -> PageResult {
    let (v, kind, n) = (
        nav::vault_name(&vault)?,
        nav::kind_of(&col)?,
        nav::object_name(&name)?,
    );
    p.cx.in_vault(&v);
    p.cx.st.kh.recover_deleted(&p.cx.who, &v, kind, &n).await?;
    Ok(Redirect::to(&format!(
        "{}?done=recovered&name={}",
        nav::kind_url(&v, kind),
        query_value(n.as_str())
    ))
    .into_response())
}

/// `POST /portal/vaults/{vault}/{kind}/deleted/{name}/purge`.
pub(crate) async fn purge(
    Path((vault, col, name)): Path<(String, String, String)>,
    p: Posted,
) -> PageResult {
    let (v, kind, n) = (
        nav::vault_name(&vault)?,
        nav::kind_of(&col)?,
        nav::object_name(&name)?,
    );
    p.cx.in_vault(&v);
    p.cx.st.kh.purge_deleted(&p.cx.who, &v, kind, &n).await?;
    Ok(Redirect::to(&format!(
        "{}/deleted?done=purged&name={}",
        nav::kind_url(&v, kind),
        query_value(n.as_str())
    ))
    .into_response())
}
