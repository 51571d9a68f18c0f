//! Issuing a certificate version under its policy: the key (new, or the previous one when the policy reuses it),
//! the certificate (signed here for issuer Self, or a signing request to be merged for issuer Unknown), and the
//! managed key and secret that go with it, written in one transaction.

use super::operation::{
    in_progress, CertificateOperation, OperationError, OperationRecord, OperationStatus,
};
use super::policy::{CertificatePolicy, CONTENT_TYPE_PEM, ISSUER_SELF, ISSUER_UNKNOWN};
use crate::objects::{put_version, State};
use crate::records::{
    self, CertificatePublic, ManagedSecretPublic, ObjectRecord, VaultRecord, VersionRecord,
};
use crate::views::ObjectView;
use crate::{Action, Error, KeySpec, Keyhaven, Principal, Resource, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keyhaven_crypto::keys::{KeyType, PrivateKey};
use keyhaven_crypto::x509;
use keyhaven_model::{
    Attributes, AttributesPatch, KeyKind, KeyOp, ObjectKind, ObjectName, Tags, VaultName, Version,
};
use keyhaven_store::Snapshot;
use std::sync::Arc;
use zeroize::Zeroizing;

const KIND: ObjectKind = ObjectKind::Certificate;

/// A certificate to create.
#[derive(Debug, Clone, Default)]
pub struct CreateCertificate {
    /// The policy to issue under; it replaces the certificate's policy (keeping its creation time).
    pub policy: CertificatePolicy,
    /// Whether the new version is enabled once it has its certificate (default: enabled).
    pub enabled: Option<bool>,
    /// The new version's tags.
    pub tags: Tags,
}

/// A private key with the certificate chain (leaf first) that becomes a certificate version.
pub(super) struct Material {
    pub(super) key: Arc<PrivateKey>,
    pub(super) chain: Vec<Vec<u8>>,
}

/// What else a new certificate version must do when it is stored.
pub(super) struct Completion {
    /// The operation that made it, marked completed in the same transaction.
    pub(super) operation: Option<OperationRecord>,
    /// Only store while the certificate's operation is still this request (a merge).
    pub(super) expected_request: Option<String>,
    /// The version to complete (a merge completes the pending version); a new one when None.
    pub(super) version: Option<Version>,
}

/// The X.509 request a policy describes, valid from `now`.
pub(super) fn certificate_request(
    policy: &CertificatePolicy,
    now: i64,
) -> x509::CertificateRequest {
    let x = policy.x509();
    let sans = x.sans.unwrap_or_default();
    x509::CertificateRequest {
        subject: x.subject.unwrap_or_default(),
        dns_names: sans.dns_names,
        emails: sans.emails,
        upns: sans.upns,
        key_usage: x.key_usage.unwrap_or_default(),
        ekus: x.ekus.unwrap_or_default(),
        validity_months: x.validity_months.unwrap_or(12),
        not_before: now,
    }
}

/// The operations a certificate's key permits, from the certificate's key usage.
pub(super) fn key_ops_for(policy: &CertificatePolicy, t: KeyType) -> Vec<KeyOp> {
    let usage = policy.x509().key_usage.unwrap_or_default();
    let has = |u: &str| usage.iter().any(|x| x == u);
    let mut ops: Vec<KeyOp> = Vec::new();
    if has("digitalSignature") || has("nonRepudiation") || has("keyCertSign") || has("cRLSign") {
        ops.extend([KeyOp::Sign, KeyOp::Verify]);
    }
    if t == KeyType::Rsa {
        if has("keyEncipherment") {
            ops.extend([
                KeyOp::WrapKey,
                KeyOp::UnwrapKey,
                KeyOp::Encrypt,
                KeyOp::Decrypt,
            ]);
        }
        if has("dataEncipherment") {
            ops.extend([KeyOp::Encrypt, KeyOp::Decrypt]);
        }
    }
    if ops.is_empty() {
        ops.extend([KeyOp::Sign, KeyOp::Verify]);
    }
    let mut out: Vec<KeyOp> = Vec::new();
    for o in ops {
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

/// The key type a policy asks for (RSA when it names none).
pub(super) fn policy_key_kind(policy: &CertificatePolicy) -> Result<KeyKind> {
    Ok(policy
        .key()
        .kty
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or(KeyKind::Rsa))
}

pub(super) fn key_spec(policy: &CertificatePolicy) -> Result<KeySpec> {
    let k = policy.key();
    Ok(KeySpec {
        kty: policy_key_kind(policy)?,
        key_size: if k.crv.is_none() { k.key_size } else { None },
        public_exponent: None,
        curve: k.crv,
    })
}

/// Whether `key` is of the type and size (or curve) the policy asks for.
pub(super) fn key_fits(key: &PrivateKey, policy: &CertificatePolicy) -> bool {
    let k = policy.key();
    let ec = k.kty.as_deref().is_some_and(|t| t.starts_with("EC"));
    match key.key_type() {
        KeyType::Rsa => !ec && k.key_size == key.key_size(),
        KeyType::Ec => ec && k.crv.as_deref() == key.curve().map(|c| c.as_str()),
        KeyType::Oct => false,
    }
}

impl Keyhaven {
    /// Renews a self-issued certificate under its policy (the lifetime action AutoRenew).
    pub(crate) async fn renew_certificate(
        &self,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<ObjectView> {
        let now = self.now();
        let snap = self.snapshot()?;
        let f = self.find(&*snap, vault, KIND, name, None, State::Live)?;
        let policy = f
            .object
            .policy
            .as_ref()
            .map(CertificatePolicy::from_value)
            .transpose()?
            .ok_or_else(|| Error::corrupt(format!("certificate '{name}' has no policy")))?;
        let reuse = self.reusable_key(&*snap, &f.vault, name, &policy)?;
        let key = self.key_for(reuse, &policy).await?;
        let cert = x509::self_signed(&key, &certificate_request(&policy, now))?;
        self.store_certificate(
            &f.vault,
            name,
            &policy,
            Material {
                key,
                chain: vec![cert],
            },
            None,
            f.version.tags.clone(),
            Completion {
                operation: None,
                expected_request: None,
                version: None,
            },
        )
        .await
    }

    /// Starts creating a certificate (or a new version of one) under `req.policy`. Issuer `Self`: issued at once,
    /// the operation comes back completed. Issuer `Unknown`: the operation stays in progress with a signing request
    /// to be signed elsewhere and merged. Any other issuer must be configured in the vault; Keyhaven cannot reach
    /// public authorities, so the operation comes back failed, saying so.
    pub async fn create_certificate(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        req: CreateCertificate,
    ) -> Result<CertificateOperation> {
        who.authorize(
            Action::CertificatesCreate,
            &Resource::object(vault, KIND, name),
        )?;
        let now = self.now();
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let policy = match records::read::<ObjectRecord>(
            &*snap,
            &records::object_key(&v.name, KIND, &name.key()),
        )?
        .and_then(|o| o.policy)
        {
            // A new version keeps the policy's creation time.
            Some(stored) => {
                let created = CertificatePolicy::from_value(&stored)?
                    .attributes
                    .and_then(|a| a.created);
                let mut p = req.policy;
                p.attributes.get_or_insert_with(Default::default).created = created;
                p.complete(now)?
            }
            None => req.policy.complete(now)?,
        };
        names_free(&*snap, &v, name)?;
        let okey = records::certificate_operation_key(&v.name, &name.key());
        if records::read::<OperationRecord>(&*snap, &okey)?
            .is_some_and(|o| o.status == OperationStatus::InProgress)
        {
            return Err(in_progress(name));
        }
        let mut op = OperationRecord {
            name: name.as_str().to_string(),
            request_id: keyhaven_crypto::random_uuid()?,
            issuer: policy.issuer.clone().unwrap_or_default(),
            csr: None,
            cancellation_requested: false,
            status: OperationStatus::InProgress,
            status_details: None,
            error: None,
            target: None,
            policy: policy.clone(),
            enabled: req.enabled,
            tags: req.tags.clone(),
            sealed_key: None,
            created: now,
        };
        match policy.issuer_name() {
            ISSUER_SELF => {
                let reuse = self.reusable_key(&*snap, &v, name, &policy)?;
                let key = self.key_for(reuse, &policy).await?;
                let cert = x509::self_signed(&key, &certificate_request(&policy, now))?;
                op.status_details =
                    Some("The certificate was issued by Keyhaven (issuer Self).".into());
                self.store_certificate(
                    &v,
                    name,
                    &policy,
                    Material {
                        key,
                        chain: vec![cert],
                    },
                    req.enabled,
                    req.tags,
                    Completion {
                        operation: Some(op.clone()),
                        expected_request: None,
                        version: None,
                    },
                )
                .await?;
                op.status = OperationStatus::Completed;
                Ok(CertificateOperation::from(&op))
            }
            ISSUER_UNKNOWN => {
                let reuse = self.reusable_key(&*snap, &v, name, &policy)?;
                let key = self.key_for(reuse, &policy).await?;
                op.csr = Some(x509::signing_request(
                    &key,
                    &certificate_request(&policy, now),
                )?);
                op.status_details = Some(
                    "Pending certificate created. Have the signing request (csr) signed by your certificate \
                     authority, then merge the signed certificate."
                        .into(),
                );
                self.store_pending(&v, name, &policy, &key, req.tags, &mut op)
                    .await?;
                Ok(CertificateOperation::from(&op))
            }
            other => {
                let configured = records::read::<super::issuers::IssuerRecord>(
                    &*snap,
                    &records::issuer_key(&v.name, &other.to_ascii_lowercase()),
                )?;
                let Some(issuer) = configured else {
                    return Err(Error::BadParameter(format!(
                        "Issuer '{}' is not configured in this vault. Use issuer 'Self' (issued by Keyhaven), \
                         'Unknown' (sign the request elsewhere and merge), or configure the issuer first.",
                        other.chars().take(64).collect::<String>()
                    )));
                };
                op.status = OperationStatus::Failed;
                op.status_details = Some("The certificate could not be issued.".into());
                op.error = Some(OperationError {
                    code: "IssuerNotAvailable".into(),
                    message: format!(
                        "Issuer '{}' (provider {}) is configured, but Keyhaven does not request certificates \
                         from public certificate authorities. Create the certificate with issuer 'Unknown' and \
                         merge the certificate your authority signs.",
                        issuer.name, issuer.provider
                    ),
                });
                let reuse = self.reusable_key(&*snap, &v, name, &policy)?;
                let key = self.key_for(reuse, &policy).await?;
                self.store_pending(&v, name, &policy, &key, req.tags, &mut op)
                    .await?;
                Ok(CertificateOperation::from(&op))
            }
        }
    }

    /// The key for a new version: `reusable` (see [`Self::reusable_key`]) if there is one, else a new one made on
    /// the pool for expensive work. (No snapshot is held while waiting for the pool.)
    pub(super) async fn key_for(
        &self,
        reusable: Option<Arc<PrivateKey>>,
        policy: &CertificatePolicy,
    ) -> Result<Arc<PrivateKey>> {
        if let Some(key) = reusable {
            return Ok(key);
        }
        let spec = key_spec(policy)?;
        Ok(Arc::new(self.generate_key(spec).await?))
    }

    /// The current key, when the policy reuses keys and it fits.
    pub(super) fn reusable_key(
        &self,
        snap: &dyn Snapshot,
        v: &VaultRecord,
        name: &ObjectName,
        policy: &CertificatePolicy,
    ) -> Result<Option<Arc<PrivateKey>>> {
        if policy.key().reuse_key == Some(true) {
            let vault = VaultName::parse(&v.name)?;
            if let Ok(f) = self.find(snap, &vault, ObjectKind::Key, name, None, State::Live) {
                if f.version.managed {
                    let key = self.private_key(&f.vault, name, &f.version)?;
                    if key_fits(&key, policy) {
                        return Ok(Some(key));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Stores the version an operation will complete, as Azure shows it meanwhile: the certificate version disabled
    /// and without a certificate, the policy, and the managed key (so that a merge finds it). The operation records
    /// the version (`target`).
    pub(super) async fn store_pending(
        &self,
        v: &VaultRecord,
        name: &ObjectName,
        policy: &CertificatePolicy,
        key: &PrivateKey,
        tags: Tags,
        op: &mut OperationRecord,
    ) -> Result<()> {
        let version = keyhaven_crypto::random_version()?;
        op.target = Some(version.clone());
        let mut attributes = Attributes::new(self.now());
        attributes.enabled = false;
        let cert_ver = VersionRecord {
            version: version.clone(),
            attributes: attributes.clone(),
            tags: tags.clone(),
            content_type: Some(policy.content_type().to_string()),
            managed: false,
            sealed: None,
            sealed_key: 0,
            public: Some(records::public_value(&CertificatePublic {
                pending: true,
                ..Default::default()
            })?),
        };
        let key_ver = self.key_version_record(
            v,
            name,
            version,
            key,
            policy_key_kind(policy)?,
            key_ops_for(policy, key.key_type()),
            attributes,
            tags,
            true,
        )?;
        let policy_value = policy.to_value()?;
        let okey = records::certificate_operation_key(&v.name, &name.key());
        let (vault, name, op) = (v.name.clone(), name.clone(), op.clone());
        self.store
            .write(move |txn| {
                if records::read_txn::<OperationRecord>(txn, &okey)?
                    .is_some_and(|o| o.status == OperationStatus::InProgress)
                {
                    return Err(in_progress(&name));
                }
                put_certificate_version(txn, &vault, &name, cert_ver, policy_value, key_ver)?;
                records::write_txn(txn, &okey, &op)
            })
            .await
    }

    /// Stores a new certificate version with its managed key and secret (same name, same version) and the policy,
    /// in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store_certificate(
        &self,
        v: &VaultRecord,
        name: &ObjectName,
        policy: &CertificatePolicy,
        material: Material,
        enabled: Option<bool>,
        tags: Tags,
        completion: Completion,
    ) -> Result<ObjectView> {
        let Some(leaf) = material.chain.first() else {
            return Err(Error::BadParameter("No certificate was given.".into()));
        };
        for der in &material.chain[1..] {
            x509::inspect(der)?;
        }
        let info = x509::inspect(leaf)?;
        let version = match &completion.version {
            Some(v) => v.clone(),
            None => keyhaven_crypto::random_version()?,
        };
        let now = self.now();
        let mut attributes = Attributes::new(now);
        AttributesPatch {
            enabled,
            nbf: Some(Some(info.not_before)),
            exp: Some(Some(info.not_after)),
        }
        .apply(&mut attributes, now);
        let content_type = policy.content_type().to_string();
        let cert_ver = VersionRecord {
            version: version.clone(),
            attributes: attributes.clone(),
            tags: tags.clone(),
            content_type: Some(content_type.clone()),
            managed: false,
            sealed: None,
            sealed_key: 0,
            public: Some(records::public_value(&CertificatePublic {
                cer: Some(STANDARD.encode(leaf)),
                x5t: Some(URL_SAFE_NO_PAD.encode(info.x5t)),
                pending: false,
            })?),
        };
        let key_ver = self.key_version_record(
            v,
            name,
            version.clone(),
            &material.key,
            policy_key_kind(policy)?,
            key_ops_for(policy, material.key.key_type()),
            attributes.clone(),
            tags.clone(),
            true,
        )?;
        let exportable = policy.key().exportable != Some(false);
        let with_key = exportable.then_some(&*material.key);
        let secret_text: Zeroizing<String> = if content_type == CONTENT_TYPE_PEM {
            x509::to_pem(with_key, &material.chain)?
        } else {
            let der = x509::to_pkcs12(with_key, &material.chain)?;
            Zeroizing::new(STANDARD.encode(&*der))
        };
        let (sealed_secret, sealed_key) = self.barrier.vault_key(v)?.seal_value(
            ObjectKind::Secret,
            name,
            &version,
            secret_text.as_bytes(),
        )?;
        drop(secret_text);
        let secret_ver = VersionRecord {
            version: version.clone(),
            attributes,
            tags,
            content_type: Some(content_type),
            managed: true,
            sealed: Some(sealed_secret),
            sealed_key,
            public: Some(records::public_value(&ManagedSecretPublic {
                kid: Some(format!("{}/{}", name.as_str(), version)),
            })?),
        };
        let policy_value = policy.to_value()?;
        let (vault, name) = (v.name.clone(), name.clone());
        self.store
            .write(move |txn| {
                let opkey = records::certificate_operation_key(&vault, &name.key());
                if let Some(expected) = &completion.expected_request {
                    let current: Option<OperationRecord> = records::read_txn(txn, &opkey)?;
                    if !current.is_some_and(|c| {
                        &c.request_id == expected && c.status == OperationStatus::InProgress
                    }) {
                        return Err(Error::Conflict(format!(
                            "The pending operation of certificate '{name}' changed while merging; nothing was \
                             written."
                        )));
                    }
                }
                let view =
                    put_certificate_version(txn, &vault, &name, cert_ver, policy_value, key_ver)?;
                put_version(txn, &vault, ObjectKind::Secret, &name, secret_ver)?;
                if let Some(mut op) = completion.operation {
                    op.status = OperationStatus::Completed;
                    op.target = Some(view.version.clone());
                    records::write_txn(txn, &opkey, &op)?;
                }
                Ok(view)
            })
            .await
    }
}

/// Writes a certificate version (made the latest, under `policy`) and its managed key version, in a transaction.
pub(super) fn put_certificate_version(
    txn: &mut dyn keyhaven_store::WriteTxn,
    vault: &str,
    name: &ObjectName,
    cert_ver: VersionRecord,
    policy: serde_json::Value,
    key_ver: VersionRecord,
) -> Result<ObjectView> {
    let view = put_version(txn, vault, KIND, name, cert_ver)?;
    let okey = records::object_key(vault, KIND, &name.key());
    let mut obj: ObjectRecord = records::read_txn(txn, &okey)?
        .ok_or_else(|| Error::Internal("certificate vanished".into()))?;
    obj.policy = Some(policy);
    records::write_txn(txn, &okey, &obj)?;
    put_version(txn, vault, ObjectKind::Key, name, key_ver)?;
    Ok(view)
}

/// Refuses a certificate name that a deleted certificate holds, or that a key or secret not managed by a
/// certificate holds (live or deleted).
pub(super) fn names_free(snap: &dyn Snapshot, v: &VaultRecord, name: &ObjectName) -> Result<()> {
    if let Some(o) =
        records::read::<ObjectRecord>(snap, &records::object_key(&v.name, KIND, &name.key()))?
    {
        if o.deleted.is_some() {
            return Err(Error::deleted_conflict(KIND, &o.name));
        }
    }
    for &kind in KIND.managed_kinds() {
        let Some(o) =
            records::read::<ObjectRecord>(snap, &records::object_key(&v.name, kind, &name.key()))?
        else {
            continue;
        };
        if o.deleted.is_some() {
            return Err(Error::deleted_conflict(kind, &o.name));
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
