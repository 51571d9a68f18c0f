//! Secrets: the operations specific to them (set, read the value). Lifecycle is shared, in `objects`.

use crate::objects::State;
use crate::records::{self, VaultRecord, VersionRecord};
use crate::views::ObjectView;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::{
    Attributes, AttributesPatch, ObjectKind, ObjectName, SecretValue, Tags, VaultName, Version,
};
use keyhaven_store::Snapshot;

const KIND: ObjectKind = ObjectKind::Secret;

/// A new secret version.
#[derive(Debug, Clone)]
pub struct SetSecret {
    /// The value, sealed under the vault's key before it is stored.
    pub value: SecretValue,
    /// What the value is (free text, e.g. `text/plain`), kept for callers.
    pub content_type: Option<String>,
    /// Attributes other than the defaults (enabled, no `nbf`, no `exp`).
    pub attributes: AttributesPatch,
    /// The version's tags.
    pub tags: Tags,
}

/// A change to a secret version's properties.
pub type SecretUpdate = crate::ObjectUpdate;

impl Keyhaven {
    /// Writes a new version of a secret (creating the secret if needed) and returns it, value included.
    pub async fn set_secret(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        req: SetSecret,
    ) -> Result<ObjectView> {
        who.authorize(
            Action::SecretsSetSecret,
            &Resource::object(vault, KIND, name),
        )?;
        let v = self.vault_now(vault)?;
        let ver = self.secret_version(&v, name, &req)?;
        let value = req.value;
        let mut view = self.add_version(&v.name, KIND, name, ver).await?;
        view.value = Some(value);
        Ok(view)
    }

    /// Writes new versions of several secrets in one transaction: all of them or none.
    pub async fn set_secrets(
        &self,
        who: &Principal,
        vault: &VaultName,
        items: Vec<(ObjectName, SetSecret)>,
    ) -> Result<Vec<ObjectView>> {
        for (name, _) in &items {
            who.authorize(
                Action::SecretsSetSecret,
                &Resource::object(vault, KIND, name),
            )?;
        }
        let v = self.vault_now(vault)?;
        let mut versions = Vec::with_capacity(items.len());
        for (name, req) in items {
            versions.push((name.clone(), self.secret_version(&v, &name, &req)?));
        }
        let vault = v.name.clone();
        self.store
            .write(move |txn| {
                versions
                    .into_iter()
                    .map(|(name, ver)| crate::objects::put_version(txn, &vault, KIND, &name, ver))
                    .collect()
            })
            .await
    }

    fn secret_version(
        &self,
        v: &VaultRecord,
        name: &ObjectName,
        req: &SetSecret,
    ) -> Result<VersionRecord> {
        req.attributes.validate()?;
        let version = keyhaven_crypto::random_version()?;
        let (sealed, sealed_key) = self.barrier.vault_key(v)?.seal_value(
            KIND,
            name,
            &version,
            req.value.expose().as_bytes(),
        )?;
        let now = self.now();
        let mut attributes = Attributes::new(now);
        req.attributes.apply(&mut attributes, now);
        Ok(VersionRecord {
            version,
            attributes,
            tags: req.tags.clone(),
            content_type: req.content_type.clone(),
            managed: false,
            sealed: Some(sealed),
            sealed_key,
            public: None,
        })
    }

    /// A secret version with its value. Disabled, not-yet-valid and expired versions refuse to give it.
    pub fn get_secret(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        version: Option<&Version>,
    ) -> Result<ObjectView> {
        who.authorize(
            Action::SecretsGetSecret,
            &Resource::object(vault, KIND, name),
        )?;
        let f = self.find_now(vault, KIND, name, version, State::Live)?;
        // A certificate's secret also names its previous version, found by a scan: read it all on one snapshot.
        let (f, previous) = match f.version.managed {
            false => (f, None),
            true => {
                let snap = self.snapshot()?;
                let f = self.find(&*snap, vault, KIND, name, version, State::Live)?;
                let previous = match f.version.managed {
                    true => previous_version(&*snap, &f.vault, name, &f.version)?,
                    false => None,
                };
                (f, previous)
            }
        };
        if let Some(reason) = f.version.attributes.unusable_reason(self.now()) {
            return Err(Error::Forbidden(match reason {
                "disabled" => "Operation get is not allowed on a disabled secret.".to_string(),
                other => format!("Operation get is not allowed: the secret version is {other}."),
            }));
        }
        let value = self.open_value(&f.vault, KIND, name, &f.version)?;
        let mut view = ObjectView::new(KIND, &f.vault, &f.object, f.version)?;
        view.value = Some(value);
        view.previous_version = previous;
        Ok(view)
    }

    /// Opens the sealed value of a version.
    pub(crate) fn open_value(
        &self,
        v: &VaultRecord,
        kind: ObjectKind,
        name: &ObjectName,
        ver: &VersionRecord,
    ) -> Result<SecretValue> {
        let sealed = ver
            .sealed
            .as_deref()
            .ok_or_else(|| Error::corrupt("a secret version has no value"))?;
        let plain = self.barrier.vault_key(v)?.open_value(
            kind,
            name,
            &ver.version,
            ver.sealed_key,
            sealed,
        )?;
        Ok(SecretValue::from_stored(plain)?)
    }
}

/// The version of a secret made just before `ver` (by creation time, then version id): a certificate's previous
/// certificate, for `previousVersion`. Reads every version's record, so it is only asked for certificates' secrets,
/// which have a version per issued certificate.
fn previous_version(
    snap: &dyn Snapshot,
    vault: &VaultRecord,
    name: &ObjectName,
    ver: &VersionRecord,
) -> Result<Option<Version>> {
    let this = (ver.attributes.created, ver.version.as_str().to_string());
    let mut best: Option<(i64, String)> = None;
    let prefix = records::versions_prefix(&vault.name, KIND, &name.key());
    records::for_each_under(snap, &prefix, 1024, &mut |_, bytes| {
        let other: VersionRecord = records::decode(&bytes)?;
        let key = (other.attributes.created, other.version.as_str().to_string());
        if key < this && best.as_ref().is_none_or(|b| key > *b) {
            best = Some(key);
        }
        Ok(())
    })?;
    best.map(|(_, v)| Version::parse(&v).map_err(Error::from))
        .transpose()
}
