//! The vault list (the portal's home) and a vault's own page.

use super::context::{PageResult, PortalError, Signed};
use super::html::{esc, seg};
use super::listing;
use super::nav::{self, KINDS};
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use keyhaven_core::{Action, Resource, VaultInfo};
use keyhaven_model::VaultName;
use serde::Deserialize;
use std::fmt::Write;

/// The vaults a caller may see: every vault for one that may read the deployment's vaults, else those its roles
/// are assigned in (their settings are the deployment's to show).
fn visible(cx: &Signed) -> Result<Vec<(VaultName, Option<VaultInfo>)>, PortalError> {
    if cx.who.allows(Action::VaultsRead, &Resource::Deployment) {
        let mut out = Vec::new();
        for v in cx.st.kh.list_vaults(&cx.who)? {
            if let Ok(name) = VaultName::parse(&v.name) {
                out.push((name, Some(v)));
            }
        }
        return Ok(out);
    }
    let mut names: Vec<VaultName> = cx
        .who
        .grants()
        .iter()
        .filter_map(|g| g.scope.vault_name().cloned())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup_by(|a, b| a.as_str() == b.as_str());
    Ok(names.into_iter().map(|n| (n, None)).collect())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

/// `GET /portal/`.
pub(crate) async fn list(cx: Signed) -> PageResult {
    let vaults = visible(&cx)?;
    let mut rows = String::new();
    for (name, info) in &vaults {
        let counts: Vec<String> = KINDS
            .iter()
            .map(|k| listing::count(&cx.st.kh, &cx.who, name, *k).unwrap_or_else(|| "—".into()))
            .collect();
        let (location, retention, purge) = match info {
            Some(i) => (
                format!("{} ({})", esc(&i.location), esc(&i.geography)),
                i.retention_days.to_string(),
                yes_no(i.purge_protection).to_string(),
            ),
            None => ("—".into(), "—".into(), "—".into()),
        };
        let _ = write!(
            rows,
            r#"<tr><th scope="row"><a href="{url}">{name}</a></th><td>{location}</td><td>{retention}</td><td>{purge}</td><td>{s}</td><td>{k}</td><td>{c}</td></tr>"#,
            url = esc(&nav::vault_url(name)),
            name = esc(name.as_str()),
            s = esc(&counts[0]),
            k = esc(&counts[1]),
            c = esc(&counts[2]),
        );
    }
    let table = if vaults.is_empty() {
        "<p>No vault is visible to you: no role is assigned to you in any vault.</p>".to_string()
    } else {
        format!(
            r#"<div class="table-wrap" role="region" aria-label="Vaults" tabindex="0"><table>
<thead><tr><th scope="col">Name</th><th scope="col">Location (geography)</th><th scope="col">Retention days</th><th scope="col">Purge protection</th><th scope="col">Secrets</th><th scope="col">Keys</th><th scope="col">Certificates</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#
        )
    };
    let body = format!(
        r#"{table}
<form method="get" action="/portal/open" class="row">
<label for="open-vault">Vault name</label>
<input id="open-vault" name="vault" required pattern="[A-Za-z0-9-]{{3,24}}" spellcheck="false">
<button type="submit">Open vault</button>
</form>"#
    );
    Ok(cx.page("Vaults", &[], &body))
}

#[derive(Deserialize)]
pub(crate) struct Open {
    vault: String,
}

/// `GET /portal/open?vault=NAME`: to a vault by name.
pub(crate) async fn open(_cx: Signed, Query(q): Query<Open>) -> PageResult {
    let v = nav::vault_name(q.vault.trim())?;
    Ok(Redirect::to(&nav::vault_url(&v)).into_response())
}

/// `GET /portal/vaults/{vault}`.
pub(crate) async fn show(cx: Signed, Path(vault): Path<String>) -> PageResult {
    let v = nav::vault_name(&vault)?;
    cx.in_vault(&v);
    let mut settings = String::new();
    if cx.who.allows(Action::VaultsRead, &Resource::vault(&v)) {
        let i = cx.st.kh.get_vault(&cx.who, &v)?;
        let _ = write!(
            settings,
            r#"<dl class="facts"><dt>Location</dt><dd>{} ({})</dd><dt>Retention days</dt><dd>{}</dd><dt>Purge protection</dt><dd>{}</dd></dl>"#,
            esc(&i.location),
            esc(&i.geography),
            i.retention_days,
            yes_no(i.purge_protection)
        );
    }
    let mut kinds = String::new();
    for k in KINDS {
        let count = listing::count(&cx.st.kh, &cx.who, &v, k);
        let note = match &count {
            Some(n) => format!(r#"<span class="count">{}</span>"#, esc(n)),
            None => r#"<span class="muted">not visible to you</span>"#.to_string(),
        };
        let _ = write!(
            kinds,
            r#"<li><a class="tile" href="{}">{}</a> {note}</li>"#,
            esc(&nav::kind_url(&v, k)),
            nav::plural(k)
        );
    }
    let mut whole = String::new();
    if cx.who.allows(Action::VaultBackup, &Resource::vault(&v)) {
        let _ = write!(
            whole,
            r#"<li><a href="{}/backup">Back up vault</a></li>"#,
            esc(&nav::vault_url(&v))
        );
    }
    if cx.who.allows(Action::VaultRestore, &Resource::vault(&v)) {
        let _ = write!(
            whole,
            r#"<li><a href="{}/restore">Restore vault</a></li>"#,
            esc(&nav::vault_url(&v))
        );
    }
    if !whole.is_empty() {
        whole = format!(r#"<h2>The whole vault</h2><ul class="links">{whole}</ul>"#);
    }
    let body = format!(
        r#"{settings}<h2>Objects</h2><ul class="tiles">{kinds}</ul>{whole}<p class="muted">Vault URL: <code>https://{}.{}</code></p>"#,
        seg(v.as_str()),
        esc(&cx.st.vault_host_suffix())
    );
    Ok(cx.page(v.as_str(), &nav::crumbs(Some(&v), &[]), &body))
}
