//! The lifecycle every kind of object shares: versions, listing, attributes, soft delete, recover, purge.

use crate::paging::{Page, PageRequest};
use crate::records::{self, DeletedRecord, ObjectRecord, VaultRecord, VersionRecord};
use crate::views::ObjectView;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::{AttributesPatch, ObjectKind, ObjectName, Tags, VaultName, Version};
use keyhaven_store::keys::{last_component, prefix_end};
use keyhaven_store::Snapshot;

/// Whether a lookup is of a live or of a deleted object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Live,
    Deleted,
}

pub(crate) struct Found {
    pub vault: VaultRecord,
    pub object: ObjectRecord,
    pub version: VersionRecord,
}

impl Keyhaven {
    /// Looks up a version (the latest when `version` is None) of a live or deleted object.
    pub(crate) fn find(
        &self,
        snap: &dyn Snapshot,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
        version: Option<&Version>,
        state: State,
    ) -> Result<Found> {
        let v = self.vault_record(snap, vault.as_str())?;
        let obj = in_state(
            records::read(snap, &records::object_key(&v.name, kind, &name.key()))?,
            kind,
            name,
            state,
        )?;
        let ver_id = version.unwrap_or(&obj.latest);
        let ver: VersionRecord = records::read(
            snap,
            &records::version_key(&v.name, kind, &name.key(), ver_id.as_str()),
        )?
        .ok_or_else(|| Error::version_not_found(kind, name.as_str(), ver_id.as_str()))?;
        Ok(Found {
            vault: v,
            object: obj,
            version: ver,
        })
    }

    /// Properties of a version (no secret material).
    pub fn get_properties(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
        version: Option<&Version>,
    ) -> Result<ObjectView> {
        who.authorize(Action::read(kind), &Resource::object(vault, kind, name))?;
        let f = self.find_now(vault, kind, name, version, State::Live)?;
        ObjectView::new(kind, &f.vault, &f.object, f.version)
    }

    /// Lists live (or deleted) objects of one kind, showing each one's latest version.
    pub fn list_objects(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        deleted: bool,
        page: &PageRequest,
    ) -> Result<Page<ObjectView>> {
        // With roles on single objects only, the listing shows those objects (as Azure does).
        let visible = who.authorize_listing(Action::read(kind), vault, kind)?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let prefix = records::objects_prefix(&v.name, kind);
        let mut items = Vec::new();
        let next = scan_page(&*snap, &prefix, page, |key, bytes| {
            let obj: ObjectRecord = records::decode(bytes)?;
            if obj.deleted.is_some() != deleted || !visible.shows(&obj.name) {
                return Ok(false);
            }
            let name_key = String::from_utf8_lossy(last_component(key)).into_owned();
            let ver: VersionRecord = records::read(
                &*snap,
                &records::version_key(&v.name, kind, &name_key, obj.latest.as_str()),
            )?
            .ok_or_else(|| {
                Error::corrupt(format!("object '{}' has no latest version", obj.name))
            })?;
            items.push(ObjectView::new(kind, &v, &obj, ver)?);
            Ok(true)
        })?;
        Ok(Page { items, next })
    }

    /// Lists the versions of a live object.
    pub fn list_versions(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
        page: &PageRequest,
    ) -> Result<Page<ObjectView>> {
        who.authorize(Action::read(kind), &Resource::object(vault, kind, name))?;
        let snap = self.snapshot()?;
        let f = self.find(&*snap, vault, kind, name, None, State::Live)?;
        let prefix = records::versions_prefix(&f.vault.name, kind, &name.key());
        let mut items = Vec::new();
        let next = scan_page(&*snap, &prefix, page, |_, bytes| {
            items.push(ObjectView::new(
                kind,
                &f.vault,
                &f.object,
                records::decode(bytes)?,
            )?);
            Ok(true)
        })?;
        Ok(Page { items, next })
    }

    /// Changes the attributes, tags or content type of one version (the latest when `version` is None).
    pub async fn update_object(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
        version: Option<&Version>,
        change: ObjectUpdate,
    ) -> Result<ObjectView> {
        who.authorize(Action::update(kind), &Resource::object(vault, kind, name))?;
        self.update_version(vault, kind, name, version, change, |_| Ok(()))
            .await
    }

    /// Applies `change` to one version, then `also` (a kind's own change, e.g. a key's permitted operations).
    pub(crate) async fn update_version(
        &self,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
        version: Option<&Version>,
        change: ObjectUpdate,
        also: impl FnOnce(&mut VersionRecord) -> Result<()> + Send + 'static,
    ) -> Result<ObjectView> {
        change.attributes.validate()?;
        let now = self.now();
        let (vault, name, version) = (vault.clone(), name.clone(), version.cloned());
        let apply_change = move |txn: &mut dyn keyhaven_store::WriteTxn| -> Result<ObjectView> {
            let (v, _, obj) = object_in_txn(txn, &vault, kind, &name, State::Live)?;
            let ver_id = version.unwrap_or_else(|| obj.latest.clone());
            let vkey = records::version_key(&v.name, kind, &name.key(), ver_id.as_str());
            let mut ver: VersionRecord = records::read_txn(txn, &vkey)?
                .ok_or_else(|| Error::version_not_found(kind, name.as_str(), ver_id.as_str()))?;
            if ver.managed && change.from_user {
                return Err(managed_by_certificate(kind, &obj.name, "update"));
            }
            let mut attrs = ver.attributes.clone();
            change.attributes.apply(&mut attrs, now);
            if let (Some(nbf), Some(exp)) = (attrs.nbf, attrs.exp) {
                if exp <= nbf {
                    return Err(Error::BadParameter(
                        "The expiry time (exp) must be later than the not-before time (nbf)."
                            .into(),
                    ));
                }
            }
            ver.attributes = attrs;
            if let Some(tags) = change.tags {
                ver.tags = tags;
            }
            if let Some(ct) = change.content_type {
                ver.content_type = Some(ct);
            }
            also(&mut ver)?;
            records::write_txn(txn, &vkey, &ver)?;
            ObjectView::new(kind, &v, &obj, ver)
        };
        self.store.write(apply_change).await
    }

    /// Soft-deletes an object with all its versions.
    pub async fn delete_object(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
    ) -> Result<ObjectView> {
        who.authorize(Action::delete(kind), &Resource::object(vault, kind, name))?;
        let now = self.now();
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let (v, okey, mut obj) = object_in_txn(txn, &vault, kind, &name, State::Live)?;
                let ver = latest_in_txn(txn, &v, kind, &name, &obj)?;
                if ver.managed {
                    return Err(managed_by_certificate(kind, &obj.name, "delete"));
                }
                let deleted = DeletedRecord {
                    deleted_date: now,
                    scheduled_purge_date: now + i64::from(v.retention_days) * 86_400,
                };
                obj.deleted = Some(deleted.clone());
                records::write_txn(txn, &okey, &obj)?;
                for (_, ckey, mut c) in managed_companions(txn, &v, kind, &name)? {
                    if c.deleted.is_none() {
                        c.deleted = Some(deleted.clone());
                        records::write_txn(txn, &ckey, &c)?;
                    }
                }
                ObjectView::new(kind, &v, &obj, ver)
            })
            .await
    }

    /// A deleted object (its latest version's properties).
    pub fn get_deleted(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
    ) -> Result<ObjectView> {
        who.authorize(Action::read(kind), &Resource::object(vault, kind, name))?;
        let f = self.find_now(vault, kind, name, None, State::Deleted)?;
        ObjectView::new(kind, &f.vault, &f.object, f.version)
    }

    /// Brings a deleted object back, with all its versions.
    pub async fn recover_deleted(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
    ) -> Result<ObjectView> {
        who.authorize(Action::recover(kind), &Resource::object(vault, kind, name))?;
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let (v, okey, mut obj) = object_in_txn(txn, &vault, kind, &name, State::Deleted)?;
                let ver = latest_in_txn(txn, &v, kind, &name, &obj)?;
                if ver.managed {
                    return Err(managed_by_certificate(kind, &obj.name, "recover"));
                }
                obj.deleted = None;
                records::write_txn(txn, &okey, &obj)?;
                for (_, ckey, mut c) in managed_companions(txn, &v, kind, &name)? {
                    if c.deleted.is_some() {
                        c.deleted = None;
                        records::write_txn(txn, &ckey, &c)?;
                    }
                }
                ObjectView::new(kind, &v, &obj, ver)
            })
            .await
    }

    /// Removes a deleted object for good. Refused while the vault's purge protection holds it.
    pub async fn purge_deleted(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
    ) -> Result<()> {
        who.authorize(Action::purge(kind), &Resource::object(vault, kind, name))?;
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let (v, okey, obj) = object_in_txn(txn, &vault, kind, &name, State::Deleted)?;
                if v.purge_protection {
                    return Err(Error::Forbidden(format!(
                        "Operation \"purge\" is not allowed because purge protection is enabled for this vault. {} \
                         '{}' will be purged automatically after its scheduled purge date.",
                        kind.title(),
                        obj.name
                    )));
                }
                if latest_in_txn(txn, &v, kind, &name, &obj)?.managed {
                    return Err(managed_by_certificate(kind, &obj.name, "purge"));
                }
                let mut gone = vec![(kind, okey)];
                for (ck, ckey, c) in managed_companions(txn, &v, kind, &name)? {
                    if c.deleted.is_some() {
                        gone.push((ck, ckey));
                    }
                }
                for (k, key) in gone {
                    txn.delete(&key)?;
                    records::delete_range(txn, &records::versions_prefix(&v.name, k, &name.key()))?;
                }
                Ok(())
            })
            .await
    }

    /// Purges every deleted object whose scheduled purge date has passed. Returns how many were purged.
    pub async fn purge_expired(&self) -> Result<usize> {
        let now = self.now();
        let snap = self.snapshot()?;
        let p = b"obj\0".to_vec();
        let mut due = Vec::new();
        for (k, v) in snap.scan(&p, &prefix_end(&p), usize::MAX)? {
            let obj: ObjectRecord = records::decode(&v)?;
            if obj
                .deleted
                .as_ref()
                .is_some_and(|d| d.scheduled_purge_date <= now)
            {
                due.push(k);
            }
        }
        let n = due.len();
        for okey in due {
            self.store
                .write(move |txn| {
                    let Some(obj) = records::read_txn::<ObjectRecord>(txn, &okey)? else {
                        return Ok(());
                    };
                    if !obj.purge_due(now) {
                        return Ok(());
                    }
                    // obj\0vault\0…: a vault being restored is left alone until the restore has finished.
                    let vault = okey[4..].split(|b| *b == 0).next().unwrap_or_default();
                    if crate::restore_journal::check_txn(txn, &String::from_utf8_lossy(vault))
                        .is_err()
                    {
                        return Ok(());
                    }
                    txn.delete(&okey)?;
                    // obj\0vault\0kind\0name → ver\0vault\0kind\0name\0
                    let mut vprefix = b"ver".to_vec();
                    vprefix.extend_from_slice(&okey[3..]);
                    vprefix.push(0);
                    records::delete_range(txn, &vprefix)
                })
                .await?;
        }
        Ok(n)
    }
}

impl Keyhaven {
    /// Stores a new version (already sealed) of an object, creating the object if needed, and makes it the latest.
    /// Refused while the name is deleted-but-recoverable.
    pub(crate) async fn add_version(
        &self,
        vault: &str,
        kind: ObjectKind,
        name: &ObjectName,
        ver: VersionRecord,
    ) -> Result<ObjectView> {
        let object_key = records::object_key(vault, kind, &name.key());
        let hint = self.latest.get(&object_key);
        let written = ver.version.clone();
        let (vault, name) = (vault.to_string(), name.clone());
        let view = self
            .store
            .write(move |txn| put_version_hinted(txn, &vault, kind, &name, ver, hint.as_ref()))
            .await?;
        self.latest.note(&object_key, &written);
        Ok(view)
    }
}

/// Writes a new version and makes it the latest (creating the object if needed), inside a transaction.
pub(crate) fn put_version(
    txn: &mut dyn keyhaven_store::WriteTxn,
    vault: &str,
    kind: ObjectKind,
    name: &ObjectName,
    ver: VersionRecord,
) -> Result<ObjectView> {
    put_version_hinted(txn, vault, kind, name, ver, None)
}

/// [`put_version`], reading the object and the version `hint` says is its latest (see [`crate::point_read`]) in
/// one read; the latest version is read on its own only when the object says another one is.
fn put_version_hinted(
    txn: &mut dyn keyhaven_store::WriteTxn,
    vault: &str,
    kind: ObjectKind,
    name: &ObjectName,
    ver: VersionRecord,
    hint: Option<&Version>,
) -> Result<ObjectView> {
    let v = crate::restore_journal::vault_in_txn(txn, vault)?;
    let okey = records::object_key(&v.name, kind, &name.key());
    let hinted_key = hint.map(|h| records::version_key(&v.name, kind, &name.key(), h.as_str()));
    let mut keys: Vec<&[u8]> = vec![&okey];
    keys.extend(hinted_key.as_deref());
    let mut got = txn.get_many(&keys)?.into_iter();
    let existing: Option<ObjectRecord> = got
        .next()
        .flatten()
        .map(|b| records::decode(&b))
        .transpose()?;
    let hinted = got.next().flatten();
    if existing.as_ref().is_some_and(|o| o.deleted.is_some()) {
        return Err(Error::deleted_conflict(kind, name.as_str()));
    }
    if let Some(o) = &existing {
        let latest: VersionRecord = match (hint, hinted) {
            (Some(h), Some(raw)) if *h == o.latest => records::decode(&raw)?,
            _ => latest_in_txn(txn, &v, kind, name, o)?,
        };
        let latest_managed = latest.managed;
        if latest_managed && !ver.managed {
            return Err(managed_by_certificate(kind, &o.name, "set"));
        }
        if !latest_managed && ver.managed {
            return Err(Error::Conflict(format!(
                "A {} named '{}' exists and is not managed by a certificate; a certificate cannot take its name.",
                kind.as_str(),
                o.name
            )));
        }
    }
    let obj = match existing {
        Some(mut o) => {
            o.latest = ver.version.clone();
            o.latest_created = ver.attributes.created;
            o
        }
        None => ObjectRecord {
            name: name.as_str().to_string(),
            latest: ver.version.clone(),
            latest_created: ver.attributes.created,
            deleted: None,
            policy: None,
        },
    };
    records::write_txn(txn, &okey, &obj)?;
    records::write_txn(
        txn,
        &records::version_key(&v.name, kind, &name.key(), ver.version.as_str()),
        &ver,
    )?;
    ObjectView::new(kind, &v, &obj, ver)
}

/// A change to one version's properties.
#[derive(Debug, Clone, Default)]
pub struct ObjectUpdate {
    /// The attributes that change; the rest stay.
    pub attributes: AttributesPatch,
    /// The version's new tags, replacing all of its tags; none keeps them.
    pub tags: Option<Tags>,
    /// The version's new content type; none keeps it.
    pub content_type: Option<String>,
    /// Set for changes requested by callers (managed objects refuse them); unset for internal changes.
    pub from_user: bool,
}

/// The vault, the object's storage key and the object (live or deleted, as asked), read in a write transaction.
pub(crate) fn object_in_txn(
    txn: &mut dyn keyhaven_store::WriteTxn,
    vault: &VaultName,
    kind: ObjectKind,
    name: &ObjectName,
    state: State,
) -> Result<(VaultRecord, Vec<u8>, ObjectRecord)> {
    let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
    let okey = records::object_key(&v.name, kind, &name.key());
    let obj: ObjectRecord = records::read_txn(txn, &okey)?
        .filter(|o: &ObjectRecord| o.deleted.is_some() == (state == State::Deleted))
        .ok_or_else(|| missing(kind, name, state))?;
    Ok((v, okey, obj))
}

/// The latest version of an object, read in a write transaction.
pub(crate) fn latest_in_txn(
    txn: &mut dyn keyhaven_store::WriteTxn,
    v: &VaultRecord,
    kind: ObjectKind,
    name: &ObjectName,
    obj: &ObjectRecord,
) -> Result<VersionRecord> {
    records::read_txn(
        txn,
        &records::version_key(&v.name, kind, &name.key(), obj.latest.as_str()),
    )?
    .ok_or_else(|| Error::corrupt(format!("object '{}' has no latest version", obj.name)))
}

/// The refusal of a direct change to an object a certificate manages.
pub(crate) fn managed_by_certificate(kind: ObjectKind, name: &str, what: &str) -> Error {
    Error::Forbidden(format!(
        "{} '{name}' is managed by certificate '{name}'; {what} the certificate instead.",
        kind.title()
    ))
}

/// The objects an object manages (a certificate's key and secret, live or deleted; see
/// [`ObjectKind::managed_kinds`]), with their storage keys.
pub(crate) fn managed_companions(
    txn: &mut dyn keyhaven_store::WriteTxn,
    v: &VaultRecord,
    kind: ObjectKind,
    name: &ObjectName,
) -> Result<Vec<(ObjectKind, Vec<u8>, ObjectRecord)>> {
    let mut out = Vec::new();
    for &k in kind.managed_kinds() {
        let key = records::object_key(&v.name, k, &name.key());
        let Some(o) = records::read_txn::<ObjectRecord>(txn, &key)? else {
            continue;
        };
        if latest_in_txn(txn, v, k, name, &o)?.managed {
            out.push((k, key, o));
        }
    }
    Ok(out)
}

/// The object as read, if it is there in the state asked for (live or deleted); otherwise the error that says it
/// is missing.
pub(crate) fn in_state(
    obj: Option<ObjectRecord>,
    kind: ObjectKind,
    name: &ObjectName,
    state: State,
) -> Result<ObjectRecord> {
    match obj {
        Some(o) if o.deleted.is_some() == (state == State::Deleted) => Ok(o),
        _ => Err(missing(kind, name, state)),
    }
}

pub(crate) fn missing(kind: ObjectKind, name: &ObjectName, state: State) -> Error {
    match state {
        State::Live => Error::not_found(kind, name.as_str()),
        State::Deleted => Error::deleted_not_found(kind, name.as_str()),
    }
}

/// Walks the entries under `prefix` after the continuation in `page`, feeding each to `take` (which says whether
/// it counted), until a page is full. Returns the continuation for the next page, if more entries remain.
pub(crate) fn scan_page(
    snap: &dyn Snapshot,
    prefix: &[u8],
    page: &PageRequest,
    mut take: impl FnMut(&[u8], &[u8]) -> Result<bool>,
) -> Result<Option<String>> {
    let end = prefix_end(prefix);
    let mut start = prefix.to_vec();
    if let Some(after) = &page.after {
        start.extend_from_slice(after.as_bytes());
        start.push(0);
    }
    let want = page.size();
    let mut taken = 0;
    let mut last: Option<Vec<u8>> = None;
    loop {
        let chunk = snap.scan(&start, &end, 256)?;
        if chunk.is_empty() {
            return Ok(None);
        }
        for (k, v) in &chunk {
            if taken == want {
                // More entries remain: continue after the last one taken.
                return Ok(last.map(|l| String::from_utf8_lossy(last_component(&l)).into_owned()));
            }
            if take(k, v)? {
                taken += 1;
            }
            last = Some(k.clone());
        }
        if let Some((k, _)) = chunk.last() {
            start = k.clone();
            start.push(0);
        }
    }
}
