//! Certificates: creation under a policy (self-signed, or a signing request merged later), import of PKCS#12 and
//! PEM, the policy, and the key and secret every certificate version manages. Lifecycle (list, versions, delete,
//! recover, purge, backup) is shared, in `objects` and `backup`, which carry the managed objects along.
//!
//! A certificate version keeps its DER certificate and thumbprint in the clear. Its private key lives in the managed
//! key of the same name and version (sealed like any key), and the certificate with its chain (and, when the policy
//! lets the key be exported, the private key) in the managed secret, as PKCS#12 or PEM per the policy.

mod contacts;
mod import;
mod issuance;
mod issuers;
mod lifetime;
mod operation;
mod pending;
mod policy;

pub use contacts::Contact;
pub(crate) use issuers::IssuerRecord;
pub use issuers::{AdministratorDetails, Issuer, IssuerChange};
pub(crate) use operation::OperationRecord;
pub use operation::{
    CertificateOperation, OperationError, STATUS_CANCELLED, STATUS_COMPLETED, STATUS_FAILED,
    STATUS_IN_PROGRESS,
};
pub use policy::{
    ActionSpec, CertificatePolicy, IssuerRef, KeyProps, LifetimeActionSpec, PolicyAttributes, Sans,
    SecretProps, Trigger, X509Props, CONTENT_TYPE_PEM, CONTENT_TYPE_PKCS12, ISSUER_SELF,
    ISSUER_UNKNOWN,
};

use crate::keys::{crypto_error, generate};
use crate::objects::{object_in_txn, put_version, ObjectView, State};
use crate::records::{self, ObjectRecord, VaultRecord, VersionRecord};
use crate::secrets::deleted_conflict;
use crate::{Action, Error, KeySpec, Keyhaven, Principal, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keyhaven_crypto::keys::{KeyType, PrivateKey};
use keyhaven_crypto::x509;
use keyhaven_model::{
    Attributes, AttributesPatch, ObjectKind, ObjectName, SecretValue, Tags, VaultName, Version,
};
use keyhaven_store::Snapshot;
use std::sync::Arc;
use zeroize::Zeroizing;

use issuance::{Completion, Material};
use pending::in_progress;

const KIND: ObjectKind = ObjectKind::Certificate;

/// The objects a certificate manages: its key and its secret, under its name, with its versions.
pub(crate) const MANAGED_KINDS: [ObjectKind; 2] = [ObjectKind::Key, ObjectKind::Secret];

/// A certificate version with the policy its certificate is under.
#[derive(Debug, Clone)]
pub struct CertificateView {
    pub object: ObjectView,
    pub policy: Option<CertificatePolicy>,
}

/// A certificate to create.
#[derive(Debug, Clone, Default)]
pub struct CreateCertificate {
    pub policy: CertificatePolicy,
    pub enabled: Option<bool>,
    pub tags: Tags,
}

/// A certificate to import: a PKCS#12 (base64) or PEM text with the private key and the chain.
#[derive(Debug, Clone)]
pub struct ImportCertificate {
    pub value: SecretValue,
    pub password: Option<SecretValue>,
    pub policy: Option<CertificatePolicy>,
    pub enabled: Option<bool>,
    pub tags: Tags,
}

/// A change to a certificate version (and the policy of the certificate).
#[derive(Debug, Clone, Default)]
pub struct CertificateChange {
    pub enabled: Option<bool>,
    pub tags: Option<Tags>,
    pub policy: Option<CertificatePolicy>,
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
        who.authorize(Action::ReadObjects)?;
        let f = self.find(&*self.snapshot()?, vault, KIND, name, version, State::Live)?;
        let policy = f
            .object
            .policy
            .as_ref()
            .map(CertificatePolicy::from_value)
            .transpose()?;
        Ok(CertificateView {
            object: ObjectView::new(KIND, &f.vault, &f.object, f.version),
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
        who.authorize(Action::WriteObjects)?;
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
                    object: ObjectView::new(KIND, &v, &obj, ver),
                    policy,
                })
            })
            .await
    }
}

/// Refuses a certificate name that a deleted certificate holds, or that a key or secret not managed by a
/// certificate holds (live or deleted).
pub(super) fn names_free(snap: &dyn Snapshot, v: &VaultRecord, name: &ObjectName) -> Result<()> {
    if let Some(o) =
        records::read::<ObjectRecord>(snap, &records::object_key(&v.name, KIND, &name.key()))?
    {
        if o.deleted.is_some() {
            return Err(deleted_conflict(KIND, &o.name));
        }
    }
    for kind in MANAGED_KINDS {
        let Some(o) =
            records::read::<ObjectRecord>(snap, &records::object_key(&v.name, kind, &name.key()))?
        else {
            continue;
        };
        if o.deleted.is_some() {
            return Err(deleted_conflict(kind, &o.name));
        }
        let latest: Option<VersionRecord> = records::read(
            snap,
            &records::version_key(&v.name, kind, &name.key(), o.latest.as_str()),
        )?;
        if !latest.is_some_and(|l| l.managed) {
            return Err(Error::Conflict(format!(
                "A {} named '{}' exists and is not managed by a certificate; a certificate cannot take its name.",
                kind.as_str(),
                o.name
            )));
        }
    }
    Ok(())
}
