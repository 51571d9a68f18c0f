//! Per-object backup and restore (Azure's `backup`/`restore`), for every kind. The payload is documented in
//! docs/backup-format.md; the sealing is keyhaven-blob's.

use crate::geography::subscription_bytes;
use crate::objects::State;
use crate::records::{self, ObjectRecord, VaultRecord, VersionRecord};
use crate::sealing::VaultKey;
use crate::views::ObjectView;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::{Attributes, ObjectKind, ObjectName, Tags, VaultName, Version};
use keyhaven_store::Snapshot;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

const PAYLOAD_FORMAT: &str = "keyhaven.object/1";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ObjectPayload {
    format: String,
    kind: ObjectKind,
    name: ObjectName,
    latest: Version,
    versions: Vec<VersionPayload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<serde_json::Value>,
    /// A certificate's managed key and secret, with all their versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    companions: Vec<ObjectPayload>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VersionPayload {
    pub(crate) version: Version,
    pub(crate) attributes: Attributes,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    tags: Tags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    managed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<Material>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public: Option<serde_json::Value>,
}

/// Secret material inside a payload: zeroized when dropped.
#[derive(Clone)]
pub(crate) struct Material(Zeroizing<String>);

impl Material {
    /// Material from opened bytes (moved, not copied); refused if not UTF-8.
    pub(crate) fn from_plain(mut plain: Zeroizing<Vec<u8>>) -> Result<Self> {
        let text = String::from_utf8(std::mem::take(&mut *plain)).map_err(|e| {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            Error::corrupt("a stored value is not UTF-8")
        })?;
        Ok(Material(Zeroizing::new(text)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Serialize for Material {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Material {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(Material(Zeroizing::new(String::deserialize(d)?)))
    }
}

impl Keyhaven {
    /// A stored version as it travels in a backup: its material opened (re-sealed only inside the backup).
    pub(crate) fn version_payload(
        &self,
        vault: &VaultRecord,
        kind: ObjectKind,
        name: &ObjectName,
        ver: VersionRecord,
    ) -> Result<VersionPayload> {
        version_payload_with(&*self.barrier.vault_key(vault)?, kind, name, ver)
    }

    /// Backs up an object with every version into an opaque, sealed blob (a certificate with its managed key and
    /// secret).
    pub fn backup_object(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
    ) -> Result<Vec<u8>> {
        who.authorize(Action::backup(kind), &Resource::object(vault, kind, name))?;
        let snap = self.snapshot()?;
        let f = self.find(&*snap, vault, kind, name, None, State::Live)?;
        let mut payload = self.object_payload(&*snap, &f.vault, kind, name, &f.object)?;
        if kind == ObjectKind::Certificate {
            for &k in kind.managed_kinds() {
                let okey = records::object_key(&f.vault.name, k, &name.key());
                if let Some(o) = records::read::<ObjectRecord>(&*snap, &okey)? {
                    payload
                        .companions
                        .push(self.object_payload(&*snap, &f.vault, k, name, &o)?);
                }
            }
        }
        let bytes = Zeroizing::new(
            serde_json::to_vec(&payload).map_err(|e| Error::Internal(e.to_string()))?,
        );
        if bytes.len() as u64 > keyhaven_blob::MAX_PAYLOAD_BYTES {
            return Err(Error::BadParameter(format!(
                "{} {name} with all its versions takes {} MiB, more than a per-object backup holds ({} MiB); \
                 back it up with the whole-vault backup (keyhaven vault backup), which has no size limit.",
                kind.title(),
                bytes.len() >> 20,
                keyhaven_blob::MAX_PAYLOAD_BYTES >> 20
            )));
        }
        let (active, _) = self.geography_keys(&*snap, &f.vault.geography)?;
        let sub = subscription_bytes(&self.deployment()?.subscription_id)?;
        Ok(keyhaven_blob::seal_object_blob(
            kind,
            sub,
            &f.vault.geography,
            &active,
            &bytes,
        )?)
    }

    /// An object with every version, its material opened for the backup.
    fn object_payload(
        &self,
        snap: &dyn Snapshot,
        vault: &VaultRecord,
        kind: ObjectKind,
        name: &ObjectName,
        obj: &ObjectRecord,
    ) -> Result<ObjectPayload> {
        let prefix = records::versions_prefix(&vault.name, kind, &name.key());
        let mut versions = Vec::new();
        records::for_each_under(snap, &prefix, 1024, &mut |_, bytes| {
            let ver: VersionRecord = records::decode(&bytes)?;
            versions.push(self.version_payload(vault, kind, name, ver)?);
            Ok(())
        })?;
        Ok(ObjectPayload {
            format: PAYLOAD_FORMAT.into(),
            kind,
            name: ObjectName::parse(&obj.name)?,
            latest: obj.latest.clone(),
            versions,
            policy: obj.policy.clone(),
            companions: Vec::new(),
        })
    }

    /// Restores an object from a blob into `vault`, with its original versions (a certificate with its managed key
    /// and secret). All or nothing: a blob that does not authenticate, belongs elsewhere, or names an object that
    /// exists (live or deleted) writes nothing.
    pub async fn restore_object(
        &self,
        who: &Principal,
        vault: &VaultName,
        kind: ObjectKind,
        blob: Vec<u8>,
    ) -> Result<ObjectView> {
        who.authorize(Action::restore(kind), &Resource::kind(vault, kind))?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let (_, keys) = self.geography_keys(&*snap, &v.geography)?;
        let sub = subscription_bytes(&self.deployment()?.subscription_id)?;
        drop(snap);
        let key = self.barrier.vault_key(&v)?;
        let geography = v.geography.clone();
        // Inflating, parsing and re-sealing every version takes time in proportion to the blob: off the async
        // threads.
        let objects = self
            .heavy
            .run(move || {
                let plain = keyhaven_blob::open_object_blob(&blob, kind, sub, &geography, &keys)?;
                drop(blob);
                restorable_objects(&key, kind, plain)
            })
            .await?;
        let wrapped = v.wrapped_key.clone();
        self.store
            .write(move |txn| {
                let v = Some(crate::restore_journal::vault_in_txn(txn, &v.name)?)
                    .filter(|cur: &VaultRecord| cur.wrapped_key == wrapped)
                    .ok_or_else(|| Error::VaultNotFound(v.name.clone()))?;
                let mut first = None;
                for (kind, obj, recs) in objects {
                    let name = ObjectName::parse(&obj.name)?;
                    let okey = records::object_key(&v.name, kind, &name.key());
                    if let Some(existing) = records::read_txn::<ObjectRecord>(txn, &okey)? {
                        return Err(if existing.deleted.is_some() {
                            Error::deleted_conflict(kind, &existing.name)
                        } else {
                            Error::Conflict(format!(
                                "{} {} already exists in this vault; restore refuses to overwrite it.",
                                kind.title(),
                                existing.name
                            ))
                        });
                    }
                    records::write_txn(txn, &okey, &obj)?;
                    let mut latest_rec = None;
                    for r in recs {
                        records::write_txn(
                            txn,
                            &records::version_key(&v.name, kind, &name.key(), r.version.as_str()),
                            &r,
                        )?;
                        if r.version == obj.latest {
                            latest_rec = Some(r);
                        }
                    }
                    if first.is_none() {
                        let latest_rec = latest_rec
                            .ok_or_else(|| Error::Internal("latest version vanished".into()))?;
                        first = Some(ObjectView::new(kind, &v, &obj, latest_rec)?);
                    }
                }
                first.ok_or_else(|| Error::Internal("nothing to restore".into()))
            })
            .await
    }
}

/// The objects a blob's payload holds (a certificate with its managed key and secret), checked and sealed for the
/// target vault.
fn restorable_objects(
    key: &VaultKey,
    kind: ObjectKind,
    plain: Zeroizing<Vec<u8>>,
) -> Result<Vec<(ObjectKind, ObjectRecord, Vec<VersionRecord>)>> {
    let mut payload: ObjectPayload = serde_json::from_slice(&plain)
        .map_err(|e| Error::BadParameter(format!("The backup blob's content is not valid: {e}")))?;
    drop(plain);
    if payload.format != PAYLOAD_FORMAT || payload.kind != kind {
        return Err(Error::BadParameter(
            "The backup blob's content is not a backup of this kind of object.".into(),
        ));
    }
    let companions = std::mem::take(&mut payload.companions);
    let fits = |c: &ObjectPayload| {
        kind == ObjectKind::Certificate
            && kind.managed_kinds().contains(&c.kind)
            && c.name.key() == payload.name.key()
            && c.companions.is_empty()
    };
    if !companions.iter().all(fits) {
        return Err(Error::BadParameter(
            "The backup blob's content holds objects that do not belong to its object.".into(),
        ));
    }
    let mut objects = vec![restorable(key, payload)?];
    for c in companions {
        objects.push(restorable(key, c)?);
    }
    Ok(objects)
}

/// An object from a backup as it will be stored: its record and its versions sealed for the target vault.
fn restorable(
    key: &VaultKey,
    payload: ObjectPayload,
) -> Result<(ObjectKind, ObjectRecord, Vec<VersionRecord>)> {
    if !payload.versions.iter().any(|p| p.version == payload.latest) {
        return Err(Error::BadParameter(
            "The backup blob's content names a latest version it does not hold.".into(),
        ));
    }
    let (kind, name) = (payload.kind, payload.name);
    let mut recs = Vec::with_capacity(payload.versions.len());
    for p in payload.versions {
        recs.push(version_record(key, kind, &name, p)?);
    }
    let latest_created = recs
        .iter()
        .find(|r| r.version == payload.latest)
        .map(|r| r.attributes.created)
        .unwrap_or(0);
    let obj = ObjectRecord {
        name: name.as_str().to_string(),
        latest: payload.latest,
        latest_created,
        deleted: None,
        policy: payload.policy,
    };
    Ok((kind, obj, recs))
}

/// A stored version as it travels in a backup, its material opened with the vault's key (`key`), which callers
/// backing up many versions fetch once.
pub(crate) fn version_payload_with(
    key: &VaultKey,
    kind: ObjectKind,
    name: &ObjectName,
    ver: VersionRecord,
) -> Result<VersionPayload> {
    let material = match &ver.sealed {
        Some(sealed) => Some(Material::from_plain(key.open_value(
            kind,
            name,
            &ver.version,
            ver.sealed_key,
            sealed,
        )?)?),
        None => None,
    };
    Ok(VersionPayload {
        version: ver.version,
        attributes: ver.attributes,
        tags: ver.tags,
        content_type: ver.content_type,
        managed: ver.managed,
        material,
        public: ver.public,
    })
}

/// A version from a backup, its material sealed under the target vault's key and bound to its new place.
pub(crate) fn version_record(
    key: &VaultKey,
    kind: ObjectKind,
    name: &ObjectName,
    p: VersionPayload,
) -> Result<VersionRecord> {
    let (sealed, sealed_key) = match &p.material {
        Some(m) => {
            let (sealed, id) = key.seal_value(kind, name, &p.version, m.0.as_bytes())?;
            (Some(sealed), id)
        }
        None if kind == ObjectKind::Secret => {
            return Err(Error::BadParameter(
                "The backup holds a secret version without a value.".into(),
            ))
        }
        None => (None, 0),
    };
    Ok(VersionRecord {
        version: p.version,
        attributes: p.attributes,
        tags: p.tags,
        content_type: p.content_type,
        managed: p.managed,
        sealed,
        sealed_key,
        public: p.public,
    })
}
