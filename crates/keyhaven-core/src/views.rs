//! What callers see of an object version: its properties, what its vault promises about deleted objects, and
//! what only its kind has (a secret's value, a key's public key and permitted operations, a certificate's DER
//! certificate and thumbprint). Domain types: the HTTP edge shapes them into Azure's wire format.

use crate::records::{
    self, CertificatePublic, KeyPublic, ManagedSecretPublic, ObjectRecord, VaultRecord,
    VersionRecord,
};
use crate::{Error, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keyhaven_crypto::keys::Jwk;
use keyhaven_model::{Attributes, KeyKind, KeyOp, ObjectKind, SecretValue, Tags, Version};

/// How deleted objects of a vault are kept, as Azure reports it on every object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryLevel {
    /// 90 days, purgeable.
    RecoverablePurgeable,
    /// 90 days, purge protection on.
    Recoverable,
    /// Fewer than 90 days, purgeable.
    CustomizedRecoverablePurgeable,
    /// Fewer than 90 days, purge protection on.
    CustomizedRecoverable,
}

impl RecoveryLevel {
    /// Azure's name: `Recoverable+Purgeable`, `Recoverable`, `CustomizedRecoverable+Purgeable`,
    /// `CustomizedRecoverable`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryLevel::RecoverablePurgeable => "Recoverable+Purgeable",
            RecoveryLevel::Recoverable => "Recoverable",
            RecoveryLevel::CustomizedRecoverablePurgeable => "CustomizedRecoverable+Purgeable",
            RecoveryLevel::CustomizedRecoverable => "CustomizedRecoverable",
        }
    }
}

/// How deleted objects of a vault are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultPolicy {
    /// Azure's summary of the retention and purge protection.
    pub recovery_level: RecoveryLevel,
    /// How many days a deleted object stays recoverable (the vault's retention).
    pub recoverable_days: u32,
}

impl VaultPolicy {
    pub(crate) fn of(v: &VaultRecord) -> Self {
        let recovery_level = match (v.retention_days >= 90, v.purge_protection) {
            (true, false) => RecoveryLevel::RecoverablePurgeable,
            (true, true) => RecoveryLevel::Recoverable,
            (false, false) => RecoveryLevel::CustomizedRecoverablePurgeable,
            (false, true) => RecoveryLevel::CustomizedRecoverable,
        };
        VaultPolicy {
            recovery_level,
            recoverable_days: v.retention_days,
        }
    }
}

/// When an object was deleted and when it will be purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedInfo {
    /// When it was deleted, in Unix seconds.
    pub deleted_date: i64,
    /// When it will be purged automatically (the deletion plus the vault's retention), in Unix seconds.
    pub scheduled_purge_date: i64,
}

/// A key version's public facts.
#[derive(Debug, Clone)]
pub struct KeyFacts {
    /// The key's type as asked for (`RSA-HSM` …).
    pub kind: KeyKind,
    /// The public key (private members never present); its `kty` is the type as asked for.
    pub jwk: Jwk,
    /// The operations the key may be used for.
    pub key_ops: Vec<KeyOp>,
    /// RSA modulus size in bits.
    pub key_size: Option<u32>,
    /// Whether secure key release may export it.
    pub exportable: bool,
    /// Its release policy (exportable keys).
    pub release_policy: Option<ReleasePolicyView>,
}

/// A key version's release policy as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePolicyView {
    /// The policy's content type.
    pub content_type: String,
    /// The policy document as written.
    pub data: Vec<u8>,
    /// Whether the policy can no longer be replaced.
    pub immutable: bool,
}

impl From<records::ReleasePolicyRecord> for ReleasePolicyView {
    fn from(r: records::ReleasePolicyRecord) -> Self {
        ReleasePolicyView {
            content_type: r.content_type,
            data: r.data,
            immutable: r.immutable,
        }
    }
}

/// A certificate version's public facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateFacts {
    /// The DER certificate (none while pending).
    pub cer: Option<Vec<u8>>,
    /// The SHA-1 thumbprint of the certificate.
    pub x5t: Option<Vec<u8>>,
    /// Still waiting for its certificate (created with an outside issuer, not yet merged).
    pub pending: bool,
}

/// What only one kind of object has.
#[derive(Debug, Clone)]
pub enum Detail {
    /// A secret (on its own, or the one a certificate manages).
    Secret {
        /// For a certificate's secret: its key, as `{name}/{version}`.
        key_id: Option<String>,
    },
    /// A key (on its own, or the one a certificate manages).
    Key(Box<KeyFacts>),
    /// A certificate.
    Certificate(CertificateFacts),
}

/// One version of an object as callers see it.
#[derive(Debug, Clone)]
pub struct ObjectView {
    /// Secret, key or certificate.
    pub kind: ObjectKind,
    /// The object's name, as it was first written.
    pub name: String,
    /// This version's id.
    pub version: Version,
    /// This version's lifecycle attributes.
    pub attributes: Attributes,
    /// This version's tags.
    pub tags: Tags,
    /// This version's content type, as its writer gave it (for a certificate and its secret: the policy's).
    pub content_type: Option<String>,
    /// Managed by a certificate (its key or its secret).
    pub managed: bool,
    /// What only its kind has.
    pub detail: Detail,
    /// A secret's value, only where the operation returns it.
    pub value: Option<SecretValue>,
    /// When it was deleted and will be purged; none for a live object.
    pub deleted: Option<DeletedInfo>,
    /// How its vault keeps deleted objects.
    pub policy: VaultPolicy,
    /// A certificate's policy as stored with it (decoded by [`ObjectView::certificate_policy`]); none for other
    /// kinds.
    pub(crate) stored_policy: Option<serde_json::Value>,
    /// For a get of a certificate's secret: the version made before this one (api-version 2025-07-01's
    /// `previousVersion`); none elsewhere.
    pub previous_version: Option<Version>,
}

impl ObjectView {
    pub(crate) fn new(
        kind: ObjectKind,
        vault: &VaultRecord,
        obj: &ObjectRecord,
        ver: VersionRecord,
    ) -> Result<Self> {
        let detail = detail(kind, &ver.public)?;
        Ok(ObjectView {
            kind,
            name: obj.name.clone(),
            version: ver.version,
            attributes: ver.attributes,
            tags: ver.tags,
            content_type: ver.content_type,
            managed: ver.managed,
            detail,
            value: None,
            deleted: obj.deleted.as_ref().map(|d| DeletedInfo {
                deleted_date: d.deleted_date,
                scheduled_purge_date: d.scheduled_purge_date,
            }),
            policy: VaultPolicy::of(vault),
            stored_policy: match kind {
                ObjectKind::Certificate => obj.policy.clone(),
                _ => None,
            },
            previous_version: None,
        })
    }

    /// A certificate version still waiting for its certificate (created with an outside issuer, not yet merged).
    pub fn is_pending_certificate(&self) -> bool {
        matches!(&self.detail, Detail::Certificate(c) if c.pending)
    }
}

/// The kind's facts, read from a version's clear part.
fn detail(kind: ObjectKind, public: &Option<serde_json::Value>) -> Result<Detail> {
    Ok(match kind {
        ObjectKind::Secret => {
            let p: ManagedSecretPublic = records::public_part(public)?;
            Detail::Secret { key_id: p.kid }
        }
        ObjectKind::Key => {
            let p: KeyPublic = records::public_part_required(public)?;
            Detail::Key(Box::new(KeyFacts {
                kind: p
                    .jwk
                    .kty
                    .parse()
                    .map_err(|_| Error::corrupt("a stored key has an unknown type"))?,
                jwk: p.jwk.clone().public_only(),
                key_ops: p.key_ops,
                key_size: p.key_size,
                exportable: p.exportable,
                release_policy: p.release_policy.map(Into::into),
            }))
        }
        ObjectKind::Certificate => {
            let p: CertificatePublic = records::public_part(public)?;
            let corrupt = |_| Error::corrupt("a stored certificate does not decode");
            Detail::Certificate(CertificateFacts {
                cer: p
                    .cer
                    .map(|c| STANDARD.decode(c))
                    .transpose()
                    .map_err(corrupt)?,
                x5t: p
                    .x5t
                    .map(|c| URL_SAFE_NO_PAD.decode(c))
                    .transpose()
                    .map_err(corrupt)?,
                pending: p.pending,
            })
        }
    })
}
