//! Certificates: creation under a policy (self-signed, or a signing request merged later), import of PKCS#12 and
//! PEM, the policy, and the key and secret every certificate version manages. Lifecycle (list, versions, delete,
//! recover, purge, backup) is shared, in `objects` and `backup`, which carry the managed objects along.
//!
//! A certificate version keeps its DER certificate and thumbprint in the clear. Its private key lives in the managed
//! key of the same name and version (sealed like any key), and the certificate with its chain (and, when the policy
//! lets the key be exported, the private key) in the managed secret, as PKCS#12 or PEM per the policy.

mod contacts;
mod issuers;
mod lifetime;
mod operation;
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

/// A private key with the certificate chain (leaf first) that becomes a certificate version.
struct Material {
    key: Arc<PrivateKey>,
    chain: Vec<Vec<u8>>,
}

/// What else a new certificate version must do when it is stored.
struct Completion {
    /// The operation that made it, marked completed in the same transaction.
    operation: Option<OperationRecord>,
    /// Only store while the certificate's operation is still this request (a merge).
    expected_request: Option<String>,
    /// The version to complete (a merge completes the pending version); a new one when None.
    version: Option<Version>,
}

/// The X.509 request a policy describes, valid from `now`.
fn certificate_request(policy: &CertificatePolicy, now: i64) -> x509::CertificateRequest {
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
fn key_ops_for(policy: &CertificatePolicy, t: KeyType) -> Vec<String> {
    let usage = policy.x509().key_usage.unwrap_or_default();
    let has = |u: &str| usage.iter().any(|x| x == u);
    let mut ops: Vec<&str> = Vec::new();
    if has("digitalSignature") || has("nonRepudiation") || has("keyCertSign") || has("cRLSign") {
        ops.extend(["sign", "verify"]);
    }
    if t == KeyType::Rsa {
        if has("keyEncipherment") {
            ops.extend(["wrapKey", "unwrapKey", "encrypt", "decrypt"]);
        }
        if has("dataEncipherment") {
            ops.extend(["encrypt", "decrypt"]);
        }
    }
    if ops.is_empty() {
        ops.extend(["sign", "verify"]);
    }
    let mut out: Vec<String> = Vec::new();
    for o in ops {
        if !out.iter().any(|x| x == o) {
            out.push(o.to_string());
        }
    }
    out
}

fn key_spec(policy: &CertificatePolicy) -> KeySpec {
    let k = policy.key();
    KeySpec {
        kty: k.kty.unwrap_or_else(|| "RSA".into()),
        key_size: if k.crv.is_none() { k.key_size } else { None },
        public_exponent: None,
        curve: k.crv,
    }
}

/// Whether `key` is of the type and size (or curve) the policy asks for.
fn key_fits(key: &PrivateKey, policy: &CertificatePolicy) -> bool {
    let k = policy.key();
    let ec = k.kty.as_deref().is_some_and(|t| t.starts_with("EC"));
    match key.key_type() {
        KeyType::Rsa => !ec && k.key_size == key.key_size(),
        KeyType::Ec => ec && k.crv.as_deref() == key.curve().map(|c| c.as_str()),
        KeyType::Oct => false,
    }
}

impl Keyhaven {
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
        who.authorize(Action::WriteObjects)?;
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
            .is_some_and(|o| o.status == STATUS_IN_PROGRESS)
        {
            return Err(in_progress(name));
        }
        let mut op = OperationRecord {
            name: name.as_str().to_string(),
            request_id: keyhaven_crypto::random_uuid()?,
            issuer: policy.issuer.clone().unwrap_or_default(),
            csr: None,
            cancellation_requested: false,
            status: STATUS_IN_PROGRESS.into(),
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
                let key = self.key_for(&*snap, &v, name, &policy)?;
                let cert = x509::self_signed(&key, &certificate_request(&policy, now))
                    .map_err(crypto_error)?;
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
                op.status = STATUS_COMPLETED.into();
                Ok(CertificateOperation::from(&op))
            }
            ISSUER_UNKNOWN => {
                let key = self.key_for(&*snap, &v, name, &policy)?;
                op.csr = Some(
                    x509::signing_request(&key, &certificate_request(&policy, now))
                        .map_err(crypto_error)?,
                );
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
                let configured = records::read::<issuers::IssuerRecord>(
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
                op.status = STATUS_FAILED.into();
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
                let key = self.key_for(&*snap, &v, name, &policy)?;
                self.store_pending(&v, name, &policy, &key, req.tags, &mut op)
                    .await?;
                Ok(CertificateOperation::from(&op))
            }
        }
    }

    /// The certificate's create operation (pending or finished).
    pub fn get_certificate_operation(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<CertificateOperation> {
        who.authorize(Action::ReadObjects)?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let op = records::read::<OperationRecord>(
            &*snap,
            &records::certificate_operation_key(&v.name, &name.key()),
        )?
        .ok_or_else(|| no_operation(name))?;
        Ok(CertificateOperation::from(&op))
    }

    /// Asks to cancel an operation in progress: it ends cancelled and its pending key is destroyed.
    pub async fn cancel_certificate_operation(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        cancel: bool,
    ) -> Result<CertificateOperation> {
        who.authorize(Action::WriteObjects)?;
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                let okey = records::certificate_operation_key(&v.name, &name.key());
                let mut op: OperationRecord =
                    records::read_txn(txn, &okey)?.ok_or_else(|| no_operation(&name))?;
                if cancel && op.status == STATUS_IN_PROGRESS {
                    op.cancellation_requested = true;
                    op.status = STATUS_CANCELLED.into();
                    op.status_details = Some("The operation was cancelled.".into());
                    records::write_txn(txn, &okey, &op)?;
                }
                Ok(CertificateOperation::from(&op))
            })
            .await
    }

    /// Deletes the certificate's operation (an operation in progress is abandoned, its pending key destroyed).
    pub async fn delete_certificate_operation(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<CertificateOperation> {
        who.authorize(Action::WriteObjects)?;
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let v = crate::restore_journal::vault_in_txn(txn, vault.as_str())?;
                let okey = records::certificate_operation_key(&v.name, &name.key());
                let op: OperationRecord =
                    records::read_txn(txn, &okey)?.ok_or_else(|| no_operation(&name))?;
                txn.delete(&okey)?;
                Ok(CertificateOperation::from(&op))
            })
            .await
    }

    /// Completes an operation in progress with the certificate an outside authority signed (`x5c`, DER, any order,
    /// one of them for the pending key). Refused, with the operation unchanged, when no certificate matches the key.
    pub async fn merge_certificate(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        x5c: Vec<Vec<u8>>,
        enabled: Option<bool>,
        tags: Option<Tags>,
    ) -> Result<CertificateView> {
        who.authorize(Action::WriteObjects)?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let op: OperationRecord = records::read(
            &*snap,
            &records::certificate_operation_key(&v.name, &name.key()),
        )?
        .ok_or_else(|| no_operation(name))?;
        if op.status != STATUS_IN_PROGRESS {
            return Err(Error::BadParameter(format!(
                "The operation of certificate '{name}' is {}; only an operation in progress can be merged.",
                op.status
            )));
        }
        if x5c.is_empty() {
            return Err(Error::BadParameter(
                "x5c must hold the signed certificate (and optionally its chain).".into(),
            ));
        }
        let version = op
            .target
            .clone()
            .ok_or_else(|| Error::corrupt("a pending certificate operation names no version"))?;
        let pending_key = self
            .find(&*snap, vault, ObjectKind::Key, name, Some(&version), State::Live)
            .map_err(|_| {
                Error::Conflict(format!(
                    "The pending key of certificate '{name}' is gone (deleted with the certificate?); create the \
                     certificate again."
                ))
            })?;
        let key = self.private_key(&pending_key.vault, name, &pending_key.version)?;
        let mut leaf = None;
        for (i, der) in x5c.iter().enumerate() {
            if x509::matches_key(der, &key).map_err(crypto_error)? {
                leaf = Some(i);
                break;
            }
        }
        let Some(leaf) = leaf else {
            return Err(Error::BadParameter(format!(
                "None of the certificates in x5c holds the public key of certificate '{name}''s pending request; \
                 the operation is unchanged."
            )));
        };
        let mut chain = x5c;
        let leaf_der = chain.remove(leaf);
        chain.insert(0, leaf_der);
        let request = op.request_id.clone();
        let policy = op.policy.clone();
        let view = self
            .store_certificate(
                &v,
                name,
                &policy,
                Material { key, chain },
                enabled.or(op.enabled),
                tags.unwrap_or_else(|| op.tags.clone()),
                Completion {
                    operation: Some(op),
                    expected_request: Some(request),
                    version: Some(version),
                },
            )
            .await?;
        Ok(CertificateView {
            object: view,
            policy: Some(policy),
        })
    }

    /// Imports a certificate with its private key from PKCS#12 (base64, optionally password-protected) or PEM.
    /// The policy is completed from the certificate itself. Nothing is written when anything is wrong.
    pub async fn import_certificate(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        req: ImportCertificate,
    ) -> Result<CertificateView> {
        who.authorize(Action::WriteObjects)?;
        let text = req.value.expose().trim();
        let (bundle, detected) = if text.starts_with("-----BEGIN") {
            (
                x509::parse_pem(text).map_err(crypto_error)?,
                CONTENT_TYPE_PEM,
            )
        } else {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let der = Zeroizing::new(
                STANDARD
                    .decode(&compact)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=')))
                    .map_err(|_| {
                        Error::BadParameter(
                            "The certificate ('value') is neither PEM text nor base64-encoded PKCS#12.".into(),
                        )
                    })?,
            );
            // SDKs send PEM base64-encoded too.
            let pem = std::str::from_utf8(&der)
                .ok()
                .map(str::trim_start)
                .filter(|t| t.starts_with("-----BEGIN"));
            match pem {
                Some(text) => (
                    x509::parse_pem(text).map_err(crypto_error)?,
                    CONTENT_TYPE_PEM,
                ),
                None => {
                    let password = req.password.as_ref().map(|p| p.expose()).unwrap_or("");
                    (
                        x509::parse_pkcs12(&der, password).map_err(crypto_error)?,
                        CONTENT_TYPE_PKCS12,
                    )
                }
            }
        };
        let key = bundle.key.ok_or_else(|| {
            Error::BadParameter(
                "The imported certificate has no private key; import a PKCS#12 or PEM file that holds the key \
                 together with its certificate."
                    .into(),
            )
        })?;
        let Some(leaf) = bundle.chain.first() else {
            return Err(Error::BadParameter(
                "The imported data holds no certificate.".into(),
            ));
        };
        let info = x509::inspect(leaf).map_err(crypto_error)?;
        let policy = imported_policy(req.policy.unwrap_or_default(), &key, &info, detected)?
            .complete(self.now())?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        names_free(&*snap, &v, name)?;
        let view = self
            .store_certificate(
                &v,
                name,
                &policy,
                Material {
                    key: Arc::new(key),
                    chain: bundle.chain,
                },
                req.enabled,
                req.tags,
                Completion {
                    operation: None,
                    expected_request: None,
                    version: None,
                },
            )
            .await?;
        Ok(CertificateView {
            object: view,
            policy: Some(policy),
        })
    }

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
        let key = self.key_for(&*snap, &f.vault, name, &policy)?;
        let cert =
            x509::self_signed(&key, &certificate_request(&policy, now)).map_err(crypto_error)?;
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

    /// The key for a new version: the current one when the policy reuses keys and it fits, else a new one.
    fn key_for(
        &self,
        snap: &dyn Snapshot,
        v: &VaultRecord,
        name: &ObjectName,
        policy: &CertificatePolicy,
    ) -> Result<Arc<PrivateKey>> {
        if policy.key().reuse_key == Some(true) {
            let vault = VaultName::parse(&v.name)?;
            if let Ok(f) = self.find(snap, &vault, ObjectKind::Key, name, None, State::Live) {
                if f.version.managed {
                    let key = self.private_key(&f.vault, name, &f.version)?;
                    if key_fits(&key, policy) {
                        return Ok(key);
                    }
                }
            }
        }
        Ok(Arc::new(generate(&key_spec(policy))?))
    }

    /// Stores the version an operation will complete, as Azure shows it meanwhile: the certificate version disabled
    /// and without a certificate, the policy, and the managed key (so that a merge finds it). The operation records
    /// the version (`target`).
    async fn store_pending(
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
            public: Some(serde_json::json!({ "pending": true })),
        };
        let kty = policy.key().kty.unwrap_or_else(|| "RSA".into());
        let key_ver = self.key_version_record(
            v,
            name,
            version,
            key,
            &kty,
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
                    .is_some_and(|o| o.status == STATUS_IN_PROGRESS)
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
    async fn store_certificate(
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
            x509::inspect(der).map_err(crypto_error)?;
        }
        let info = x509::inspect(leaf).map_err(crypto_error)?;
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
            public: Some(serde_json::json!({
                "cer": STANDARD.encode(leaf),
                "x5t": URL_SAFE_NO_PAD.encode(info.x5t),
            })),
        };
        let kty = policy.key().kty.unwrap_or_else(|| "RSA".into());
        let key_ver = self.key_version_record(
            v,
            name,
            version.clone(),
            &material.key,
            &kty,
            key_ops_for(policy, material.key.key_type()),
            attributes.clone(),
            tags.clone(),
            true,
        )?;
        let exportable = policy.key().exportable != Some(false);
        let with_key = exportable.then_some(&*material.key);
        let secret_text: Zeroizing<String> = if content_type == CONTENT_TYPE_PEM {
            x509::to_pem(with_key, &material.chain).map_err(crypto_error)?
        } else {
            let der = x509::to_pkcs12(with_key, &material.chain).map_err(crypto_error)?;
            Zeroizing::new(STANDARD.encode(&*der))
        };
        let sealed_secret = self.vault_sealing_key(v)?.seal(
            &records::value_aad(&v.name, ObjectKind::Secret, &name.key(), &version),
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
            public: Some(serde_json::json!({ "kid": format!("{}/{}", name.as_str(), version) })),
        };
        let policy_value = policy.to_value()?;
        let (vault, name) = (v.name.clone(), name.clone());
        self.store
            .write(move |txn| {
                let opkey = records::certificate_operation_key(&vault, &name.key());
                if let Some(expected) = &completion.expected_request {
                    let current: Option<OperationRecord> = records::read_txn(txn, &opkey)?;
                    if !current.is_some_and(|c| {
                        &c.request_id == expected && c.status == STATUS_IN_PROGRESS
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
                    op.status = STATUS_COMPLETED.into();
                    op.target = Some(view.version.clone());
                    records::write_txn(txn, &opkey, &op)?;
                }
                Ok(view)
            })
            .await
    }
}

/// Writes a certificate version (made the latest, under `policy`) and its managed key version, in a transaction.
fn put_certificate_version(
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

/// The policy of an imported certificate: what the caller gave, completed from the certificate and its key.
fn imported_policy(
    mut p: CertificatePolicy,
    key: &PrivateKey,
    info: &x509::CertificateInfo,
    detected_content_type: &str,
) -> Result<CertificatePolicy> {
    let kp = p.key_props.get_or_insert_with(Default::default);
    let given_ec = kp.kty.as_deref().map(|t| t.starts_with("EC"));
    match key.key_type() {
        KeyType::Rsa => {
            if given_ec == Some(true) {
                return Err(Error::BadParameter(
                    "The policy asks for an EC key, but the imported key is RSA.".into(),
                ));
            }
            kp.kty.get_or_insert_with(|| "RSA".into());
            kp.key_size = key.key_size();
            kp.crv = None;
        }
        KeyType::Ec => {
            if given_ec == Some(false) {
                return Err(Error::BadParameter(
                    "The policy asks for an RSA key, but the imported key is EC.".into(),
                ));
            }
            kp.kty.get_or_insert_with(|| "EC".into());
            kp.crv = key.curve().map(|c| c.as_str().to_string());
            kp.key_size = None;
        }
        KeyType::Oct => {
            return Err(Error::BadParameter(
                "A certificate's key must be RSA or EC.".into(),
            ))
        }
    }
    let sp = p.secret_props.get_or_insert_with(Default::default);
    sp.content_type
        .get_or_insert_with(|| detected_content_type.to_string());
    let xp = p.x509_props.get_or_insert_with(Default::default);
    xp.subject = Some(info.subject.clone());
    let sans = Sans {
        emails: info.emails.clone(),
        dns_names: info.dns_names.clone(),
        upns: info.upns.clone(),
    };
    xp.sans = Some(sans);
    xp.key_usage = Some(info.key_usage.clone());
    xp.ekus = Some(info.ekus.clone());
    let days = (info.not_after - info.not_before).max(0) / 86_400;
    xp.validity_months = Some(((days as f64 / 30.44).round() as u32).clamp(1, 1200));
    // Imported certificates come from an authority outside Keyhaven.
    p.issuer
        .get_or_insert_with(Default::default)
        .name
        .get_or_insert_with(|| ISSUER_UNKNOWN.into());
    if p.lifetime_actions.is_none() {
        p.lifetime_actions = Some(vec![LifetimeActionSpec {
            trigger: Trigger {
                lifetime_percentage: Some(80),
                days_before_expiry: None,
            },
            action: ActionSpec {
                action_type: Some("EmailContacts".into()),
            },
        }]);
    }
    Ok(p)
}

/// Refuses a certificate name that a deleted certificate holds, or that a key or secret not managed by a
/// certificate holds (live or deleted).
fn names_free(snap: &dyn Snapshot, v: &VaultRecord, name: &ObjectName) -> Result<()> {
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

fn in_progress(name: &ObjectName) -> Error {
    Error::Conflict(format!(
        "Certificate '{name}' has an operation in progress; merge, cancel or delete it first."
    ))
}

fn no_operation(name: &ObjectName) -> Error {
    Error::NotFound {
        kind: KIND,
        message: format!("Pending certificate not found: {name}"),
    }
}
