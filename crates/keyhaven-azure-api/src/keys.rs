//! Keys: create, import and update parameters, key bundles and items, the cryptographic operations (encrypt,
//! decrypt, sign, verify, wrap, unwrap), random bytes and rotation policies. Byte fields are base64url.

use crate::{AttributesIn, AttributesOut};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `POST /keys/{name}/create`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyCreateParameters {
    /// The key type: `RSA`, `RSA-HSM`, `EC`, `EC-HSM`, `oct` or `oct-HSM` (case-sensitive).
    pub kty: String,
    /// RSA: the modulus size, 2048 (the default), 3072 or 4096 bits. oct: 128, 192 or 256 (the default) bits.
    /// Ignored for EC keys.
    pub key_size: Option<u32>,
    /// RSA: the public exponent, odd and at least 3; 65537 when absent. Ignored for other types.
    pub public_exponent: Option<u32>,
    /// The operations the key permits (any case; repeats ignored). Absent: every operation of its type (RSA:
    /// encrypt, decrypt, sign, verify, wrapKey, unwrapKey; EC: sign, verify; oct: encrypt, decrypt, wrapKey,
    /// unwrapKey).
    pub key_ops: Option<Vec<String>>,
    /// The first version's attributes. Absent: enabled, without `nbf` or `exp`.
    pub attributes: Option<KeyAttributesIn>,
    /// The tags, at most 15 (names 1–512, values up to 256 characters). Absent: none.
    pub tags: Option<BTreeMap<String, String>>,
    /// EC: the curve, `P-256` (the default), `P-384`, `P-521` or `P-256K`. Ignored for other types.
    pub crv: Option<String>,
    /// The release policy of an exportable key (required with `attributes.exportable`, refused without it).
    pub release_policy: Option<KeyReleasePolicy>,
}

/// A key's attributes as a write sends them: the common ones and `exportable`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyAttributesIn {
    /// `enabled`, `nbf`, `exp`.
    #[serde(flatten)]
    pub common: AttributesIn,
    /// Whether the private key may be exported by secure key release (needs a `release_policy`). Fixed when the
    /// key is made: an update may only repeat it.
    pub exportable: Option<bool>,
}

/// `PUT /keys/{name}`: import.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KeyImportParameters {
    /// `true` to record the key as hardware-protected (its type gets `-HSM`); Keyhaven protects every key the
    /// same way. Absent: `false`.
    #[serde(rename = "Hsm")]
    pub hsm: Option<bool>,
    /// A JSON Web Key with its private parts.
    pub key: Value,
    /// The imported version's attributes. Absent: enabled, without `nbf` or `exp`.
    pub attributes: Option<KeyAttributesIn>,
    /// The tags, at most 15 (names 1–512, values up to 256 characters). Absent: none.
    pub tags: Option<BTreeMap<String, String>>,
    /// The release policy of an exportable key (required with `attributes.exportable`, refused without it).
    pub release_policy: Option<KeyReleasePolicy>,
}

/// `PATCH /keys/{name}/{version}`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyUpdateParameters {
    /// The operations the version permits from now on, replacing the current list. Absent: unchanged.
    pub key_ops: Option<Vec<String>>,
    /// Attribute changes. Absent: unchanged.
    pub attributes: Option<KeyAttributesIn>,
    /// The new tags, replacing all the current ones. Absent: unchanged.
    pub tags: Option<BTreeMap<String, String>>,
    /// The release policy of an exportable key (required with `attributes.exportable`, refused without it).
    pub release_policy: Option<KeyReleasePolicy>,
}

/// A key's release policy (`release_policy`): the policy document, base64url, in Azure's grammar.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReleasePolicy {
    /// `application/json; charset=utf-8` (the default).
    pub content_type: Option<String>,
    /// `true`: the policy can never be replaced. Absent: false.
    pub immutable: Option<bool>,
    /// The policy (JSON), base64url.
    pub data: Option<String>,
}

/// `POST /keys/{name}[/{version}]/release`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyReleaseParameters {
    /// The attestation token (compact JWS) of the environment the key is released to.
    pub target: String,
    /// A nonce of the caller's, echoed in the answer.
    pub nonce: Option<String>,
    /// How the key is wrapped: `CKM_RSA_AES_KEY_WRAP` (the default), `RSA_AES_KEY_WRAP_256`,
    /// `RSA_AES_KEY_WRAP_384`.
    pub enc: Option<String>,
}

/// The answer to a release: a JWS (signed by the server) whose payload holds the wrapped key.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KeyReleaseResult {
    /// The compact JWS.
    pub value: String,
}

/// A JSON Web Key as a key bundle carries it: the public members (base64url), its `kid`, type and permitted
/// operations. Private members are never sent.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonWebKey {
    /// The key version's id, `https://{vault}/keys/{name}/{version}`.
    pub kid: Option<String>,
    /// `RSA`, `RSA-HSM`, `EC`, `EC-HSM`, `oct`, `oct-HSM`.
    pub kty: String,
    /// The operations the version permits (`encrypt`, `decrypt`, `sign`, `verify`, `wrapKey`, `unwrapKey`, …).
    pub key_ops: Option<Vec<String>>,
    /// RSA: the modulus, base64url.
    pub n: Option<String>,
    /// RSA: the public exponent, base64url.
    pub e: Option<String>,
    /// EC: the curve (`P-256`, `P-384`, `P-521`, `P-256K`).
    pub crv: Option<String>,
    /// EC: the public point's x coordinate, base64url.
    pub x: Option<String>,
    /// EC: the public point's y coordinate, base64url.
    pub y: Option<String>,
}

/// A key version: the public JWK with its `kid`, attributes, tags. With the deleted fields, a deleted key.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyBundle {
    /// The public key and the id of its version.
    pub key: JsonWebKey,
    /// The version's attributes.
    pub attributes: AttributesOut,
    /// The version's tags; left out when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// `true` for the key a certificate manages (it refuses direct changes); absent for other keys.
    pub managed: Option<bool>,
    /// The release policy of an exportable key.
    #[serde(rename = "release_policy")]
    pub release_policy: Option<KeyReleasePolicy>,
    /// The deleted-object fields, present only for a deleted key.
    #[serde(flatten)]
    pub deleted: crate::DeletedFields,
}

/// An item of a key listing.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyItem {
    /// `https://{vault}/keys/{name}`, or with `/{version}` in a listing of versions.
    pub kid: String,
    /// The (latest, in a listing of keys) version's attributes.
    pub attributes: AttributesOut,
    /// The version's tags; left out when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// `true` for the key a certificate manages; absent for other keys.
    pub managed: Option<bool>,
    /// The deleted-object fields, present only in a listing of deleted keys.
    #[serde(flatten)]
    pub deleted: crate::DeletedFields,
}

/// encrypt / decrypt / wrapkey / unwrapkey input (all byte fields base64url).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyOperationsParameters {
    /// The algorithm: `RSA-OAEP`, `RSA-OAEP-256`, `RSA1_5`; `A128GCM`…`A256GCM`, `A128CBC`…`A256CBC`,
    /// `A128CBCPAD`…`A256CBCPAD` (encrypt, decrypt); `A128KW`…`A256KW` (wrap, unwrap).
    pub alg: String,
    /// The plaintext, ciphertext, key to wrap or wrapped key.
    pub value: String,
    /// The initialization vector (AES-GCM and AES-CBC); generated on encrypt when absent, required on decrypt.
    pub iv: Option<String>,
    /// Additional authenticated data (AES-GCM only).
    pub aad: Option<String>,
    /// The authentication tag (AES-GCM decrypt only).
    pub tag: Option<String>,
}

/// sign input: `value` is the digest.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeySignParameters {
    /// The signature algorithm: `RS256`…`RS512`, `PS256`…`PS512`, `ES256`, `ES256K`, `ES384`, `ES512`.
    pub alg: String,
    /// The digest to sign, of the length the algorithm's hash gives.
    pub value: String,
}

/// verify input: `digest` and the signature in `value`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyVerifyParameters {
    /// The signature algorithm, as for sign.
    pub alg: String,
    /// The digest that was signed.
    pub digest: String,
    /// The signature to check (for ECDSA, `r ‖ s` as JOSE writes it).
    pub value: String,
}

#[serde_with::skip_serializing_none]
/// The answer to encrypt, decrypt, sign, wrapkey and unwrapkey (byte fields base64url).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyOperationResult {
    /// The key version that did the operation, `https://{vault}/keys/{name}/{version}`.
    pub kid: String,
    /// The result: ciphertext, plaintext, signature, wrapped or unwrapped key.
    pub value: String,
    /// The IV used by an AES-GCM or AES-CBC encryption (generated if none was given).
    pub iv: Option<String>,
    /// The authentication tag of an AES-GCM encryption.
    pub tag: Option<String>,
    /// The additional authenticated data of an AES-GCM encryption, echoed.
    pub aad: Option<String>,
}

/// The answer to verify.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KeyVerifyResult {
    /// Whether the signature is valid for the digest under the key.
    pub value: bool,
}

/// `POST /rng`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GetRandomBytesRequest {
    /// How many bytes, 1–128.
    pub count: i64,
}

/// The answer to `POST /rng` (`value` base64url).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RandomBytes {
    /// The bytes, from the server's CSPRNG.
    pub value: String,
}

/// `lifetimeActions[].trigger` of a rotation policy.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeActionTrigger {
    /// Act this long after a version is created (ISO 8601 duration, e.g. `P90D`).
    pub time_after_create: Option<String>,
    /// Act this long before a version expires (ISO 8601 duration, e.g. `P30D`).
    pub time_before_expiry: Option<String>,
}

/// `lifetimeActions[].action` of a rotation policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LifetimeActionType {
    /// `Rotate` (make a new version) or `Notify` (record an event, once per version); any case on input.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One of a rotation policy's `lifetimeActions`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LifetimeAction {
    /// When the action runs; exactly one of its two durations is given.
    #[serde(default)]
    pub trigger: LifetimeActionTrigger,
    /// What it does.
    pub action: LifetimeActionType,
}

/// A rotation policy's `attributes`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicyAttributes {
    /// The expiry given to versions a rotation creates (ISO 8601 duration, e.g. `P1Y`). Absent: none.
    pub expiry_time: Option<String>,
    /// When the policy was first set, Unix seconds (responses only; absent while the key has the default
    /// policy).
    pub created: Option<i64>,
    /// When the policy last changed, Unix seconds (responses only).
    pub updated: Option<i64>,
}

/// `GET`/`PUT /keys/{name}/rotationpolicy`: a key's rotation policy. The server carries out its actions itself.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationPolicy {
    /// `https://{vault}/keys/{name}/rotationpolicy` (responses only).
    pub id: Option<String>,
    /// The actions; an empty list turns automatic rotation and notification off.
    #[serde(default)]
    pub lifetime_actions: Vec<LifetimeAction>,
    /// The policy's attributes (always present in responses).
    pub attributes: Option<RotationPolicyAttributes>,
}
