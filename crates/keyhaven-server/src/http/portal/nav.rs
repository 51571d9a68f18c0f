//! Where things are in the portal: the URL of each page, the path segment and titles of each kind, breadcrumbs.

use super::context::PortalError;
use super::html::{seg, Crumb};
use axum::http::StatusCode;
use keyhaven_model::{ObjectKind, ObjectName, VaultName};

pub(crate) const KINDS: [ObjectKind; 3] =
    [ObjectKind::Secret, ObjectKind::Key, ObjectKind::Certificate];

/// `secrets`, `keys`, `certificates`: the kind's path segment.
pub(crate) fn collection(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Secret => "secrets",
        ObjectKind::Key => "keys",
        ObjectKind::Certificate => "certificates",
    }
}

/// `Secrets`, `Keys`, `Certificates`.
pub(crate) fn plural(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Secret => "Secrets",
        ObjectKind::Key => "Keys",
        ObjectKind::Certificate => "Certificates",
    }
}

/// The kind of a path segment (404 for anything else).
pub(crate) fn kind_of(collection: &str) -> Result<ObjectKind, PortalError> {
    KINDS
        .into_iter()
        .find(|k| self::collection(*k) == collection)
        .ok_or_else(|| PortalError::new(StatusCode::NOT_FOUND, "There is no such page."))
}

pub(crate) fn vault_name(v: &str) -> Result<VaultName, PortalError> {
    VaultName::parse(v)
        .map_err(|_| PortalError::new(StatusCode::NOT_FOUND, "There is no such vault."))
}

pub(crate) fn object_name(n: &str) -> Result<ObjectName, PortalError> {
    Ok(ObjectName::parse(n)?)
}

pub(crate) fn vault_url(v: &VaultName) -> String {
    format!("/portal/vaults/{}", seg(v.as_str()))
}

pub(crate) fn kind_url(v: &VaultName, kind: ObjectKind) -> String {
    format!("{}/{}", vault_url(v), collection(kind))
}

pub(crate) fn object_url(v: &VaultName, kind: ObjectKind, name: &str) -> String {
    format!("{}/objects/{}", kind_url(v, kind), seg(name))
}

/// Breadcrumbs down to a vault (linked) and then `rest`.
pub(crate) fn crumbs(v: Option<&VaultName>, rest: &[(&str, Option<String>)]) -> Vec<Crumb> {
    let mut c: Vec<Crumb> = vec![("Vaults".into(), Some("/portal/".into()))];
    if let Some(v) = v {
        c.push((v.as_str().to_string(), Some(vault_url(v))));
    }
    c.extend(rest.iter().map(|(t, l)| (t.to_string(), l.clone())));
    // The last crumb is the current page: no link.
    if let Some(last) = c.last_mut() {
        last.1 = None;
    }
    c
}

/// Crumbs down to a kind's list (linked), then `rest`.
pub(crate) fn kind_crumbs(
    v: &VaultName,
    kind: ObjectKind,
    rest: &[(&str, Option<String>)],
) -> Vec<Crumb> {
    let mut all = vec![(plural(kind), Some(kind_url(v, kind)))];
    all.extend(rest.iter().cloned());
    crumbs(Some(v), &all)
}
