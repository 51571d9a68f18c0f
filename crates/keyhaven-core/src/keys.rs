//! Keys: creation, import, rotation, rotation policies and the cryptographic operations. Lifecycle (get, list,
//! update, delete, recover, purge, backup) is shared, in `objects` and `backup`.
//!
//! A key version keeps its private JWK sealed like a secret value, and its public JWK (with `key_ops` and the
//! `kty` as requested, e.g. `RSA-HSM`) in the clear part of the version record.

use crate::key_release::{self, ReleasePolicyInput, ReleaseUpdate};
use crate::objects::{object_in_txn, ObjectUpdate, State};
use crate::records::{self, KeyPublic, VaultRecord, VersionRecord};
use crate::rotation::RotationPolicy;
use crate::views::ObjectView;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_crypto::keys::{Curve, Encrypted, Jwk, KeyType, PrivateKey};
use keyhaven_model::{
    Attributes, AttributesPatch, KeyKind, KeyOp, ObjectKind, ObjectName, Tags, VaultName, Version,
};
use std::sync::Arc;
use zeroize::Zeroizing;

const KIND: ObjectKind = ObjectKind::Key;

/// What to create.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// The key type (RSA, EC or symmetric `oct`, software or HSM-protected).
    pub kty: KeyKind,
    /// RSA: the modulus size in bits (absent: 2048); `oct`: the key size in bits (absent: 256).
    pub key_size: Option<u32>,
    /// RSA: the public exponent. Absent: 65537.
    pub public_exponent: Option<u32>,
    /// EC: the curve name (`P-256`, `P-384`, `P-521`, `P-256K`). Absent: P-256.
    pub curve: Option<String>,
}

/// A new key (created or imported) with its properties.
#[derive(Debug, Clone, Default)]
pub struct KeyProperties {
    /// The operations the version permits. Absent: every operation its key type can do.
    pub key_ops: Option<Vec<KeyOp>>,
    /// The version's attributes (enabled, not before, expires).
    pub attributes: AttributesPatch,
    /// The key's tags.
    pub tags: Tags,
    /// Whether secure key release may export the key (needs `release_policy`). Absent: not exportable.
    pub exportable: Option<bool>,
    /// The release policy of an exportable key.
    pub release_policy: Option<ReleasePolicyInput>,
}

/// A cryptographic operation on a key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOperation {
    /// Encrypt a plaintext with the public key (RSA) or the symmetric key.
    Encrypt,
    /// Decrypt a ciphertext with the private key.
    Decrypt,
    /// Sign a digest with the private key.
    Sign,
    /// Verify a signature over a digest with the public key.
    Verify,
    /// Wrap (encrypt) a symmetric key.
    WrapKey,
    /// Unwrap (decrypt) a wrapped symmetric key.
    UnwrapKey,
}

impl KeyOperation {
    /// The action that authorizes it.
    pub fn action(self) -> Action {
        match self {
            KeyOperation::Encrypt => Action::KeysEncrypt,
            KeyOperation::Decrypt => Action::KeysDecrypt,
            KeyOperation::Sign => Action::KeysSign,
            KeyOperation::Verify => Action::KeysVerify,
            KeyOperation::WrapKey => Action::KeysWrap,
            KeyOperation::UnwrapKey => Action::KeysUnwrap,
        }
    }

    /// The permission a key's `key_ops` must hold for it.
    pub fn key_op(self) -> KeyOp {
        match self {
            KeyOperation::Encrypt => KeyOp::Encrypt,
            KeyOperation::Decrypt => KeyOp::Decrypt,
            KeyOperation::Sign => KeyOp::Sign,
            KeyOperation::Verify => KeyOp::Verify,
            KeyOperation::WrapKey => KeyOp::WrapKey,
            KeyOperation::UnwrapKey => KeyOp::UnwrapKey,
        }
    }

    /// Its name on the wire and in `key_ops` (`encrypt`, `wrapKey`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOperation::Encrypt => "encrypt",
            KeyOperation::Decrypt => "decrypt",
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::WrapKey => "wrapKey",
            KeyOperation::UnwrapKey => "unwrapKey",
        }
    }
}

/// The inputs of an operation (`value` is the plaintext, ciphertext, digest or key, per operation).
#[derive(Debug, Clone, Default)]
pub struct OperationInput {
    /// The algorithm (`RSA-OAEP-256`, `ES256`, …), checked against the key's type.
    pub alg: String,
    /// The plaintext, ciphertext, digest or key to wrap/unwrap.
    pub value: Vec<u8>,
    /// Symmetric algorithms: the initialization vector.
    pub iv: Option<Vec<u8>>,
    /// Authenticated symmetric algorithms: the additional authenticated data.
    pub aad: Option<Vec<u8>>,
    /// Authenticated symmetric algorithms, on decrypt: the authentication tag.
    pub tag: Option<Vec<u8>>,
    /// For verify: the signature.
    pub signature: Option<Vec<u8>>,
}

/// The outputs of an operation.
#[derive(Debug, Clone)]
pub struct OperationOutput {
    /// The version that did the work.
    pub version: Version,
    /// The result bytes (ciphertext, plaintext, signature, wrapped or unwrapped key); none for verify.
    pub value: Option<Zeroizing<Vec<u8>>>,
    /// Symmetric algorithms: the initialization vector used.
    pub iv: Option<Vec<u8>>,
    /// Authenticated symmetric algorithms, on encrypt: the authentication tag.
    pub tag: Option<Vec<u8>>,
    /// Authenticated symmetric algorithms: the additional authenticated data, echoed.
    pub aad: Option<Vec<u8>>,
    /// For verify.
    pub valid: Option<bool>,
}

/// The crypto family of a key type.
fn key_type(kind: KeyKind) -> KeyType {
    if kind.is_rsa() {
        KeyType::Rsa
    } else if kind.is_ec() {
        KeyType::Ec
    } else {
        KeyType::Oct
    }
}

/// The operations a new key permits when none are asked for.
fn default_ops(t: KeyType) -> Vec<KeyOp> {
    match t {
        KeyType::Rsa => vec![
            KeyOp::Encrypt,
            KeyOp::Decrypt,
            KeyOp::Sign,
            KeyOp::Verify,
            KeyOp::WrapKey,
            KeyOp::UnwrapKey,
        ],
        KeyType::Ec => vec![KeyOp::Sign, KeyOp::Verify],
        KeyType::Oct => vec![
            KeyOp::Encrypt,
            KeyOp::Decrypt,
            KeyOp::WrapKey,
            KeyOp::UnwrapKey,
        ],
    }
}

/// Replaces the permitted operations recorded on a key version.
fn set_key_ops(ver: &mut VersionRecord, ops: Vec<KeyOp>) -> Result<()> {
    let mut public: KeyPublic = records::public_part_required(&ver.public)?;
    public.key_ops = ops;
    ver.public = Some(records::public_value(&public)?);
    Ok(())
}

impl Keyhaven {
    fn new_key_version(
        &self,
        vault: &VaultRecord,
        name: &ObjectName,
        key: &PrivateKey,
        kind: KeyKind,
        props: KeyProperties,
        exp_default: Option<i64>,
    ) -> Result<VersionRecord> {
        props.attributes.validate()?;
        let (exportable, policy) =
            key_release::release_settings(props.exportable, props.release_policy)?;
        let now = self.now();
        let mut attributes = Attributes::new(now);
        attributes.exp = exp_default.map(|d| now + d);
        props.attributes.apply(&mut attributes, now);
        let ops = props.key_ops.unwrap_or_else(|| default_ops(key.key_type()));
        let mut ver = self.key_version_record(
            vault,
            name,
            keyhaven_crypto::random_version()?,
            key,
            kind,
            ops,
            attributes,
            props.tags,
            false,
        )?;
        if exportable {
            key_release::set_release(&mut ver, exportable, policy)?;
        }
        Ok(ver)
    }

    /// A key version record: the private JWK sealed and bound to its place, the public JWK in the clear.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn key_version_record(
        &self,
        vault: &VaultRecord,
        name: &ObjectName,
        version: Version,
        key: &PrivateKey,
        kind: KeyKind,
        key_ops: Vec<KeyOp>,
        attributes: Attributes,
        tags: Tags,
        managed: bool,
    ) -> Result<VersionRecord> {
        let private = Zeroizing::new(
            serde_json::to_vec(&key.to_private_jwk()?)
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
        let (sealed, sealed_key) = self
            .barrier
            .vault_key(vault)?
            .seal_value(KIND, name, &version, &private)?;
        let mut jwk = key.public_jwk()?;
        jwk.kty = kind.as_str().to_string();
        let public = records::public_value(&KeyPublic {
            jwk,
            key_ops,
            key_size: key.key_size(),
            exportable: false,
            release_policy: None,
        })?;
        Ok(VersionRecord {
            version,
            attributes,
            tags,
            content_type: None,
            managed,
            sealed: Some(sealed),
            sealed_key,
            public: Some(public),
        })
    }

    /// Creates a new key (or a new version of an existing one) with fresh key material.
    pub async fn create_key(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        spec: KeySpec,
        props: KeyProperties,
    ) -> Result<ObjectView> {
        who.authorize(Action::KeysCreate, &Resource::object(vault, KIND, name))?;
        let kty = spec.kty;
        let key = self.generate_key(spec).await?;
        let v = self.vault_now(vault)?;
        let ver = self.new_key_version(&v, name, &key, kty, props, None)?;
        self.add_version(&v.name, KIND, name, ver).await
    }

    /// Imports key material from a JWK with its private parts.
    pub async fn import_key(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        jwk: Jwk,
        hsm: bool,
        props: KeyProperties,
    ) -> Result<ObjectView> {
        who.authorize(Action::KeysImport, &Resource::object(vault, KIND, name))?;
        let asked: KeyKind = jwk.kty.parse()?;
        if !jwk.has_private() {
            return Err(Error::BadParameter(
                "The imported JWK has no private key material (d or k).".into(),
            ));
        }
        // RSA import checks the key's parts against each other with RSA operations: off the async threads.
        let key = self
            .heavy
            .run(move || Ok(PrivateKey::import_jwk(&jwk)?))
            .await?;
        let kind = asked.with_hsm(hsm || asked.hsm());
        let v = self.vault_record(&*self.snapshot()?, vault.as_str())?;
        let ver = self.new_key_version(&v, name, &key, kind, props, None)?;
        self.add_version(&v.name, KIND, name, ver).await
    }

    /// Changes a key version's attributes or tags, its permitted operations when `key_ops` is given, and its
    /// release policy (see [`crate::key_release`] for the rules).
    #[allow(clippy::too_many_arguments)]
    pub async fn update_key(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        version: Option<&Version>,
        change: ObjectUpdate,
        key_ops: Option<Vec<KeyOp>>,
        release: ReleaseUpdate,
    ) -> Result<ObjectView> {
        who.authorize(Action::KeysUpdate, &Resource::object(vault, KIND, name))?;
        self.update_version(vault, KIND, name, version, change, move |ver| {
            key_release::apply_release_update(ver, release)?;
            match key_ops {
                Some(ops) => set_key_ops(ver, ops),
                None => Ok(()),
            }
        })
        .await
    }

    /// Makes a new version of a key with the same type, size or curve and permitted operations.
    pub async fn rotate_key(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<ObjectView> {
        who.authorize(Action::KeysRotate, &Resource::object(vault, KIND, name))?;
        self.rotate_key_unchecked(vault, name).await
    }

    pub(crate) async fn rotate_key_unchecked(
        &self,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<ObjectView> {
        let f = self.find_now(vault, KIND, name, None, State::Live)?;
        let public: KeyPublic = records::public_part_required(&f.version.public)?;
        let spec = KeySpec {
            kty: public
                .jwk
                .kty
                .parse()
                .map_err(|_| Error::corrupt("a stored key has an unknown type"))?,
            key_size: public.key_size,
            public_exponent: None,
            curve: public.jwk.crv.clone(),
        };
        let kty = spec.kty;
        let key = self.generate_key(spec).await?;
        let expiry = RotationPolicy::from_record(&f.object).and_then(|p| p.expiry_secs());
        // A rotated exportable key stays exportable under the same policy.
        let props = KeyProperties {
            key_ops: Some(public.key_ops.clone()),
            attributes: AttributesPatch::default(),
            tags: f.version.tags.clone(),
            exportable: Some(public.exportable),
            release_policy: public.release_policy.clone().map(|p| ReleasePolicyInput {
                content_type: Some(p.content_type),
                data: p.data,
                immutable: Some(p.immutable),
            }),
        };
        let ver = self.new_key_version(&f.vault, name, &key, kty, props, expiry)?;
        self.add_version(&f.vault.name, KIND, name, ver).await
    }

    /// Runs a cryptographic operation with a key version (the latest when `version` is None).
    pub fn key_operation(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        version: Option<&Version>,
        op: KeyOperation,
        input: &OperationInput,
    ) -> Result<OperationOutput> {
        who.authorize(op.action(), &Resource::object(vault, KIND, name))?;
        let f = self.find_now(vault, KIND, name, version, State::Live)?;
        if let Some(reason) = f.version.attributes.unusable_reason(self.now()) {
            return Err(Error::Forbidden(format!(
                "Operation {} is not allowed on a {reason} key.",
                op.as_str()
            )));
        }
        let permitted =
            records::public_part_required::<records::KeyOpsOnly>(&f.version.public)?.key_ops;
        if !permitted.contains(&op.key_op()) {
            let names: Vec<&str> = permitted.iter().map(|o| o.as_str()).collect();
            return Err(Error::Forbidden(format!(
                "Operation {} is not permitted by this key's key_ops ({}).",
                op.as_str(),
                names.join(", ")
            )));
        }
        let key = self.private_key(&f.vault, name, &f.version)?;
        let mut out = OperationOutput {
            version: f.version.version.clone(),
            value: None,
            iv: None,
            tag: None,
            aad: None,
            valid: None,
        };
        let alg = input.alg.as_str();
        match op {
            KeyOperation::Sign => out.value = Some(Zeroizing::new(key.sign(alg, &input.value)?)),
            KeyOperation::Verify => {
                let sig = input.signature.as_deref().ok_or_else(|| {
                    Error::BadParameter("verify needs the signature ('value').".into())
                })?;
                out.valid = Some(key.verify(alg, &input.value, sig)?);
            }
            KeyOperation::Encrypt => {
                let Encrypted {
                    ciphertext,
                    iv,
                    tag,
                } = key.encrypt(alg, &input.value, input.iv.as_deref(), input.aad.as_deref())?;
                out.value = Some(Zeroizing::new(ciphertext));
                out.iv = iv;
                out.tag = tag;
                out.aad = input.aad.clone();
            }
            KeyOperation::Decrypt => {
                out.value = Some(key.decrypt(
                    alg,
                    &input.value,
                    input.iv.as_deref(),
                    input.aad.as_deref(),
                    input.tag.as_deref(),
                )?);
            }
            KeyOperation::WrapKey => {
                out.value = Some(Zeroizing::new(key.wrap_key(alg, &input.value)?))
            }
            KeyOperation::UnwrapKey => out.value = Some(key.unwrap_key(alg, &input.value)?),
        }
        Ok(out)
    }

    pub(crate) fn private_key(
        &self,
        vault: &VaultRecord,
        name: &ObjectName,
        ver: &VersionRecord,
    ) -> Result<Arc<PrivateKey>> {
        let sealed = ver
            .sealed
            .as_deref()
            .ok_or_else(|| Error::corrupt("a key version has no key material"))?;
        self.barrier
            .private_key(vault, name, &ver.version, ver.sealed_key, sealed)
    }

    /// Random bytes from the server's CSPRNG (1–128).
    pub fn random_bytes(
        &self,
        who: &Principal,
        vault: &VaultName,
        count: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        who.authorize(Action::RandomBytes, &Resource::vault(vault))?;
        if !(1..=128).contains(&count) {
            return Err(Error::BadParameter(format!(
                "count must be between 1 and 128; {count} was given."
            )));
        }
        let buf: [u8; 128] = keyhaven_crypto::random_bytes()?;
        Ok(Zeroizing::new(buf[..count].to_vec()))
    }

    /// A key's rotation policy (Azure's default — notify 30 days before expiry — when none was set).
    pub fn get_rotation_policy(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
    ) -> Result<RotationPolicy> {
        who.authorize(
            Action::KeyRotationPoliciesRead,
            &Resource::object(vault, KIND, name),
        )?;
        let f = self.find_now(vault, KIND, name, None, State::Live)?;
        Ok(RotationPolicy::from_record(&f.object).unwrap_or_else(RotationPolicy::azure_default))
    }

    /// Sets a key's rotation policy.
    pub async fn set_rotation_policy(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        mut policy: RotationPolicy,
    ) -> Result<RotationPolicy> {
        who.authorize(
            Action::KeyRotationPoliciesWrite,
            &Resource::object(vault, KIND, name),
        )?;
        policy.validate()?;
        let now = self.now();
        let (vault, name) = (vault.clone(), name.clone());
        self.store
            .write(move |txn| {
                let (_, okey, mut obj) = object_in_txn(txn, &vault, KIND, &name, State::Live)?;
                let previous = RotationPolicy::from_record(&obj);
                policy.created = previous.as_ref().and_then(|p| p.created).or(Some(now));
                policy.updated = Some(now);
                obj.policy = Some(policy.to_value()?);
                records::write_txn(txn, &okey, &obj)?;
                Ok(policy)
            })
            .await
    }
}

impl Keyhaven {
    /// New key material for `spec`, generated on the pool for expensive work (an RSA-4096 key takes up to
    /// seconds of one core).
    pub(crate) async fn generate_key(&self, spec: KeySpec) -> Result<PrivateKey> {
        self.heavy.run(move || generate(&spec)).await
    }
}

fn generate(spec: &KeySpec) -> Result<PrivateKey> {
    let key = match key_type(spec.kty) {
        KeyType::Rsa => {
            PrivateKey::generate_rsa(spec.key_size.unwrap_or(2048), spec.public_exponent)
        }
        KeyType::Ec => {
            PrivateKey::generate_ec(Curve::parse(spec.curve.as_deref().unwrap_or("P-256"))?)
        }
        KeyType::Oct => PrivateKey::generate_oct(spec.key_size.unwrap_or(256)),
    };
    Ok(key?)
}
