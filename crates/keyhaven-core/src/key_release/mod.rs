//! Secure key release (Azure's SKR): keys made `exportable` with a release policy, and their release, wrapped for
//! the attested environment's runtime key, to a caller whose attestation token meets the policy.
//!
//! The rules of writing (one place, [`release_settings`] and [`apply_release_update`]): an exportable key needs a
//! release policy and a policy needs an exportable key; `exportable` is fixed when a key is made; an immutable
//! policy is never replaced. The token's signature and lifetime are checked by the caller's
//! [`AttestationVerifier`] (the server knows the trusted authorities and fetches their keys); the policy, the
//! runtime key and the wrapping are checked and done here.

mod policy;

use crate::objects::State;
use crate::records::{self, KeyPublic, ReleasePolicyRecord, VersionRecord};
use crate::views::ObjectView;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_crypto::keys::Jwk;
use keyhaven_crypto::release::{wrap_for_release, ReleaseWrapping};
use keyhaven_model::{ObjectKind, ObjectName, VaultName, Version};
pub use policy::same_authority;
use policy::ReleasePolicy;
use serde_json::Value;

/// The content type of a release policy (Azure's, and the default when a writer gives none).
pub const RELEASE_POLICY_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The `kid` of the runtime key Azure Attestation puts in a confidential VM's token; preferred when present.
const TPM_EPHEMERAL_KEY: &str = "TpmEphemeralEncryptionKey";

/// A release policy as a writer gives it.
#[derive(Debug, Clone, Default)]
pub struct ReleasePolicyInput {
    /// Must be JSON (`application/json…`); absent: [`RELEASE_POLICY_CONTENT_TYPE`].
    pub content_type: Option<String>,
    /// The policy document (JSON, Azure's grammar).
    pub data: Vec<u8>,
    /// Whether the policy may never be replaced. Absent: false.
    pub immutable: Option<bool>,
}

/// A change of a key version's release settings (an update).
#[derive(Debug, Clone, Default)]
pub struct ReleaseUpdate {
    /// `exportable` as the update gives it: only its current value is accepted.
    pub exportable: Option<bool>,
    /// A new release policy, replacing a mutable one.
    pub policy: Option<ReleasePolicyInput>,
}

/// Why an attestation token was not accepted. Messages name the failing part and never hold key material.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    /// Not a compact JWS with JSON header and claims, or required claims are missing.
    #[error("the attestation token is malformed: {0}")]
    Malformed(String),
    /// Its issuer is not one of the configured attestation authorities.
    #[error("the attestation token's issuer '{0}' is not a trusted attestation authority of this server")]
    UntrustedIssuer(String),
    /// Its authority publishes no key with the token's `kid`.
    #[error(
        "the attestation token is signed with a key its authority does not publish (kid '{0}')"
    )]
    UnknownKey(String),
    /// The signature does not verify with the authority's key.
    #[error("the attestation token's signature is not valid for its authority's key")]
    BadSignature,
    /// Its `exp` has passed.
    #[error("the attestation token has expired")]
    Expired,
    /// Its `nbf` has not come.
    #[error("the attestation token is not valid yet (nbf)")]
    NotYetValid,
    /// The authority's keys could not be read or fetched.
    #[error("the attestation authority's keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// A token whose signature and lifetime were checked: its issuer and claims.
#[derive(Debug, Clone)]
pub struct VerifiedAttestation {
    /// The token's `iss`, the authority that vouched for it.
    pub issuer: String,
    /// All its claims.
    pub claims: Value,
}

/// Checks attestation tokens against the trusted authorities (implemented by the server).
pub trait AttestationVerifier {
    /// The token's issuer and claims, if it is signed by a trusted authority and within its lifetime at `now`.
    fn verify(
        &self,
        token: &str,
        now: i64,
    ) -> std::result::Result<VerifiedAttestation, AttestationError>;
}

/// What a release asks for.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// The attestation token (compact JWS).
    pub target: String,
    /// The caller's nonce, echoed in the answer.
    pub nonce: Option<String>,
    /// The wrapping; absent: `CKM_RSA_AES_KEY_WRAP`.
    pub enc: Option<ReleaseWrapping>,
}

/// A released key: the version released and its key wrapped for the runtime key.
#[derive(Debug, Clone)]
pub struct ReleasedKey {
    /// The key version (public part, attributes, policy).
    pub view: ObjectView,
    /// The wrapping used.
    pub enc: ReleaseWrapping,
    /// The RSA-OAEP ciphertext of the AES key followed by the AES-KWP ciphertext of the key.
    pub wrapped: Vec<u8>,
    /// The `kid` of the runtime key it is wrapped for, if it has one.
    pub runtime_kid: Option<String>,
    /// The caller's nonce.
    pub nonce: Option<String>,
}

/// Checks a policy as written and gives its stored form.
fn policy_record(p: ReleasePolicyInput) -> Result<ReleasePolicyRecord> {
    let content_type = p
        .content_type
        .unwrap_or_else(|| RELEASE_POLICY_CONTENT_TYPE.to_string());
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(Error::BadParameter(format!(
            "The release policy's contentType must be '{RELEASE_POLICY_CONTENT_TYPE}'."
        )));
    }
    ReleasePolicy::parse(&p.data)
        .map_err(|e| Error::BadParameter(format!("Invalid release policy: {e}.")))?;
    Ok(ReleasePolicyRecord {
        content_type,
        data: p.data,
        immutable: p.immutable.unwrap_or(false),
    })
}

/// The release settings of a new key: exportable with a policy, or neither.
pub(crate) fn release_settings(
    exportable: Option<bool>,
    policy: Option<ReleasePolicyInput>,
) -> Result<(bool, Option<ReleasePolicyRecord>)> {
    let exportable = exportable.unwrap_or(false);
    match (exportable, policy) {
        (false, None) => Ok((false, None)),
        (true, None) => Err(Error::BadParameter(
            "An exportable key needs a release policy: give 'release_policy' with 'attributes.exportable'."
                .into(),
        )),
        (false, Some(_)) => Err(Error::BadParameter(
            "Non-exportable keys must not have a release policy: set 'attributes.exportable' to true or remove \
             'release_policy'."
                .into(),
        )),
        (true, Some(p)) => Ok((true, Some(policy_record(p)?))),
    }
}

/// Records release settings on a new key version's clear part.
pub(crate) fn set_release(
    ver: &mut VersionRecord,
    exportable: bool,
    policy: Option<ReleasePolicyRecord>,
) -> Result<()> {
    let mut public: KeyPublic = records::public_part_required(&ver.public)?;
    public.exportable = exportable;
    public.release_policy = policy;
    ver.public = Some(records::public_value(&public)?);
    Ok(())
}

/// Checks an update's release changes against the version's settings (stored in `ver`) and applies them. A
/// refused change leaves the version as it was (the caller's transaction is dropped).
pub(crate) fn apply_release_update(ver: &mut VersionRecord, change: ReleaseUpdate) -> Result<()> {
    if change.exportable.is_none() && change.policy.is_none() {
        return Ok(());
    }
    let mut public: KeyPublic = records::public_part_required(&ver.public)?;
    if let Some(e) = change.exportable {
        if e != public.exportable {
            return Err(Error::BadParameter(format!(
                "'exportable' cannot be changed after a key is created (this key version is {}exportable).",
                if public.exportable { "" } else { "not " }
            )));
        }
    }
    if let Some(p) = change.policy {
        if !public.exportable {
            return Err(Error::BadParameter(
                "Non-exportable keys must not have a release policy; 'exportable' is fixed when a key is created."
                    .into(),
            ));
        }
        if public.release_policy.as_ref().is_some_and(|r| r.immutable) {
            return Err(Error::Forbidden(
                "The release policy of this key version is immutable and cannot be changed.".into(),
            ));
        }
        public.release_policy = Some(policy_record(p)?);
    }
    ver.public = Some(records::public_value(&public)?);
    Ok(())
}

/// The runtime key a token carries (`x-ms-runtime.keys`, a JWKS): the one with kid `TpmEphemeralEncryptionKey`,
/// else the first RSA key meant for encryption.
fn runtime_key(claims: &Value) -> Option<(Option<String>, Jwk)> {
    let keys = claims.get("x-ms-runtime")?.get("keys")?.as_array()?;
    let rsa = |k: &&Value| {
        k.get("kty")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("RSA"))
    };
    let for_encryption = |k: &&Value| {
        let use_ok = k
            .get("use")
            .and_then(Value::as_str)
            .is_none_or(|u| u == "enc");
        let ops_ok = k
            .get("key_ops")
            .and_then(Value::as_array)
            .is_none_or(|ops| {
                ops.iter()
                    .any(|o| matches!(o.as_str(), Some("encrypt" | "wrapKey")))
            });
        use_ok && ops_ok
    };
    let chosen = keys
        .iter()
        .filter(rsa)
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(TPM_EPHEMERAL_KEY))
        .or_else(|| keys.iter().filter(rsa).find(for_encryption))?;
    let kid = chosen.get("kid").and_then(Value::as_str).map(String::from);
    let jwk: Jwk = serde_json::from_value(chosen.clone()).ok()?;
    Some((kid, jwk))
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::Forbidden(format!("Key release refused: {why}."))
}

impl Keyhaven {
    /// Releases an exportable key version (the latest when `version` is None) to the environment an attestation
    /// token vouches for: the token must be valid for `verifier`, meet the version's release policy and carry a
    /// runtime RSA key, for which the key is wrapped.
    pub fn release_key(
        &self,
        who: &Principal,
        vault: &VaultName,
        name: &ObjectName,
        version: Option<&Version>,
        verifier: &dyn AttestationVerifier,
        request: &ReleaseRequest,
    ) -> Result<ReleasedKey> {
        const KIND: ObjectKind = ObjectKind::Key;
        who.authorize(Action::KeysRelease, &Resource::object(vault, KIND, name))?;
        let snap = self.snapshot()?;
        let f = self.find(&*snap, vault, KIND, name, version, State::Live)?;
        drop(snap);
        let now = self.now();
        if let Some(reason) = f.version.attributes.unusable_reason(now) {
            return Err(Error::Forbidden(format!(
                "Operation release is not allowed on a {reason} key."
            )));
        }
        let public: KeyPublic = records::public_part_required(&f.version.public)?;
        let stored = match (&public.release_policy, public.exportable) {
            (Some(p), true) => p,
            _ => {
                return Err(Error::BadParameter(format!(
                    "Key '{}' is not exportable: only a key created with 'attributes.exportable' and a release \
                     policy can be released.",
                    f.object.name
                )))
            }
        };
        let policy = ReleasePolicy::parse(&stored.data)
            .map_err(|_| Error::corrupt("a stored release policy does not parse"))?;
        let attested = verifier.verify(&request.target, now).map_err(refused)?;
        policy
            .evaluate(&attested.issuer, &attested.claims)
            .map_err(|why| {
                refused(format!(
                    "the attestation does not meet the key's release policy: {why}"
                ))
            })?;
        let (runtime_kid, runtime) = runtime_key(&attested.claims).ok_or_else(|| {
            refused(
                "the attestation token carries no runtime RSA encryption key ('x-ms-runtime.keys')",
            )
        })?;
        let enc = request.enc.unwrap_or(ReleaseWrapping::CkmRsaAesKeyWrap);
        let key = self.private_key(&f.vault, name, &f.version)?;
        let material = key.release_material()?;
        let wrapped = wrap_for_release(&runtime, enc, &material)
            .map_err(|e| refused(format!("the runtime key cannot be used for wrapping: {e}")))?;
        Ok(ReleasedKey {
            view: ObjectView::new(KIND, &f.vault, &f.object, f.version)?,
            enc,
            wrapped,
            runtime_kid,
            nonce: request.nonce.clone(),
        })
    }
}
