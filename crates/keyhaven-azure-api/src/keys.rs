use crate::{AttributesIn, AttributesOut};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `POST /keys/{name}/create`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyCreateParameters {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_exponent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Accepted and ignored (secure key release is not offered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<Value>,
}

/// `PUT /keys/{name}`: import.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KeyImportParameters {
    #[serde(default, rename = "Hsm", skip_serializing_if = "Option::is_none")]
    pub hsm: Option<bool>,
    /// A JSON Web Key with its private parts.
    pub key: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<Value>,
}

/// `PATCH /keys/{name}/{version}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyUpdateParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_policy: Option<Value>,
}

/// A JSON Web Key as a key bundle carries it: the public members (base64url), its `kid`, type and permitted
/// operations. Private members are never sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonWebKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `RSA`, `RSA-HSM`, `EC`, `EC-HSM`, `oct`, `oct-HSM`.
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// A key version: the public JWK with its `kid`, attributes, tags. With the deleted fields, a deleted key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyBundle {
    pub key: JsonWebKey,
    pub attributes: AttributesOut,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(flatten)]
    pub deleted: crate::DeletedFields,
}

/// An item of a key listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyItem {
    pub kid: String,
    pub attributes: AttributesOut,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<bool>,
    #[serde(flatten)]
    pub deleted: crate::DeletedFields,
}

/// encrypt / decrypt / wrapkey / unwrapkey input (all byte fields base64url).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyOperationsParameters {
    pub alg: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// sign input: `value` is the digest.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeySignParameters {
    pub alg: String,
    pub value: String,
}

/// verify input: `digest` and the signature in `value`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyVerifyParameters {
    pub alg: String,
    pub digest: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct KeyOperationResult {
    pub kid: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct KeyVerifyResult {
    pub value: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GetRandomBytesRequest {
    pub count: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RandomBytes {
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LifetimeActionTrigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LifetimeActionType {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LifetimeAction {
    #[serde(default)]
    pub trigger: LifetimeActionTrigger,
    pub action: LifetimeActionType,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicyAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub lifetime_actions: Vec<LifetimeAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<RotationPolicyAttributes>,
}
