//! A certificate version and its policy as callers read and change them.

use super::policy::CertificatePolicy;
use crate::objects::{object_in_txn, State};
use crate::records::{self, VersionRecord};
use crate::views::ObjectView;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::{ObjectKind, ObjectName, Tags, VaultName, Version};

const KIND: ObjectKind = ObjectKind::Certificate;

/// A certificate version with the policy its certificate is under.
#[derive(Debug, Clone)]
pub struct CertificateView {
    /// The version itself.
    pub object: ObjectView,
    /// The certificate's policy (every certificate has one; none only if a stored record lacks it).
    pub policy: Option<CertificatePolicy>,
}

/// A change to a certificate version (and the policy of the certificate).
#[derive(Debug, Clone, Default)]
pub struct CertificateChange {
    /// Enables or disables the version, with its managed key and secret.
    pub enabled: Option<bool>,
    /// The version's new tags, replacing all of them.
    pub tags: Option<Tags>,
    /// Sections of the policy to replace; the rest stays.
    pub policy: Option<CertificatePolicy>,
}

impl ObjectView {
    /// The policy of the certificate this version belongs to, as stored with it; none for keys and secrets.
    pub fn certificate_policy(&self) -> Result<Option<CertificatePolicy>> {
        self.stored_policy
            .as_ref()
            .map(CertificatePolicy::from_value)
            .transpose()
    }
}

impl Keyhaven {
    /// A certificate version (the latest when `version` is None) with the certificate's policy.
    pub fn get_certificate(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        version: Option<&Version>,
    ) -> Result<CertificateView> {
        who.authorize(
            Action::CertificatesRead,
            &Resource::object(vault, KIND, name),
        )?;
        let f = self.find_now(vault, KIND, name, version, State::Live)?;
        let policy = f
            .object
            .policy
            .as_ref()
            .map(CertificatePolicy::from_value)
            .transpose()?;
        Ok(CertificateView {
            object: ObjectView::new(KIND, &f.vault, &f.object, f.version)?,
            policy,
        })
    }

    /// A certificate's policy.
    pub fn get_certificate_policy(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<CertificatePolicy> {
        let view = self.get_certificate(who, vault, name, None)?;
        view.policy
            .ok_or_else(|| Error::corrupt(format!("certificate '{name}' has no policy")))
    }

    /// Changes a certificate's policy (the sections given replace theirs; the rest stays).
    pub async fn update_certificate_policy(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        patch: CertificatePolicy,
    ) -> Result<CertificatePolicy> {
        let change = CertificateChange {
            policy: Some(patch),
            ..Default::default()
        };
        let view = self
            .update_certificate(who, vault, name, None, change)
            .await?;
        view.policy
            .ok_or_else(|| Error::corrupt(format!("certificate '{name}' has no policy")))
    }

    /// Changes a certificate version's enabled flag and tags (the managed key and secret follow `enabled`), and
    /// optionally the certificate's policy.
    pub async fn update_certificate(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        version: Option<&Version>,
        change: CertificateChange,
    ) -> Result<CertificateView> {
        who.authorize(
            Action::CertificatesUpdate,
            &Resource::object(vault, KIND, name),
        )?;
        let now = self.now();
        let (vault, name, version) = (vault.clone(), name.clone(), version.cloned());
        self.store
            .write(move |txn| {
                let (v, okey, mut obj) = object_in_txn(txn, &vault, KIND, &name, State::Live)?;
                let ver_id = version.unwrap_or_else(|| obj.latest.clone());
                let mut policy = obj
                    .policy
                    .as_ref()
                    .map(CertificatePolicy::from_value)
                    .transpose()?;
                if let Some(patch) = change.policy {
                    let merged = policy
                        .clone()
                        .unwrap_or_default()
                        .merged(patch)
                        .complete(now)?;
                    obj.policy = Some(merged.to_value()?);
                    records::write_txn(txn, &okey, &obj)?;
                    policy = Some(merged);
                }
                let mut cert_ver = None;
                for kind in [KIND, ObjectKind::Key, ObjectKind::Secret] {
                    let vkey = records::version_key(&v.name, kind, &name.key(), ver_id.as_str());
                    let Some(mut ver) = records::read_txn::<VersionRecord>(txn, &vkey)? else {
                        if kind == KIND {
                            return Err(Error::version_not_found(
                                kind,
                                name.as_str(),
                                ver_id.as_str(),
                            ));
                        }
                        continue;
                    };
                    if kind != KIND && !ver.managed {
                        continue;
                    }
                    if change.enabled.is_some() || (kind == KIND && change.tags.is_some()) {
                        if let Some(e) = change.enabled {
                            ver.attributes.enabled = e;
                        }
                        if kind == KIND {
                            if let Some(t) = &change.tags {
                                ver.tags = t.clone();
                            }
                        }
                        ver.attributes.updated = now;
                        records::write_txn(txn, &vkey, &ver)?;
                    }
                    if kind == KIND {
                        cert_ver = Some(ver);
                    }
                }
                let ver = cert_ver
                    .ok_or_else(|| Error::Internal("certificate version vanished".into()))?;
                Ok(CertificateView {
                    object: ObjectView::new(KIND, &v, &obj, ver)?,
                    policy,
                })
            })
            .await
    }
}
