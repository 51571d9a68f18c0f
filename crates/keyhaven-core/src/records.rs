//! What the domain keeps in the store, and under which keys. Values are JSON; secret material inside them is
//! always sealed (AES-256-GCM under the vault key, bound to vault, kind, name and version).

use crate::Error;
use keyhaven_crypto::keys::Jwk;
use keyhaven_model::{Attributes, KeyOp, ObjectKind, Tags, Version};
use keyhaven_store::keys::{key, prefix, prefix_end};
use keyhaven_store::{Snapshot, WriteTxn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;

pub(crate) const DEPLOYMENT_KEY: &[u8] = b"meta\0deployment";

pub(crate) fn vault_key(vault: &str) -> Vec<u8> {
    key(&[b"vault", vault.as_bytes()])
}
pub(crate) fn vaults_prefix() -> Vec<u8> {
    prefix(&[b"vault"])
}
pub(crate) fn object_key(vault: &str, kind: ObjectKind, name_key: &str) -> Vec<u8> {
    key(&[
        b"obj",
        vault.as_bytes(),
        kind.as_str().as_bytes(),
        name_key.as_bytes(),
    ])
}
pub(crate) fn objects_prefix(vault: &str, kind: ObjectKind) -> Vec<u8> {
    prefix(&[b"obj", vault.as_bytes(), kind.as_str().as_bytes()])
}
pub(crate) fn vault_objects_prefix(vault: &str) -> Vec<u8> {
    prefix(&[b"obj", vault.as_bytes()])
}
pub(crate) fn version_key(vault: &str, kind: ObjectKind, name_key: &str, version: &str) -> Vec<u8> {
    key(&[
        b"ver",
        vault.as_bytes(),
        kind.as_str().as_bytes(),
        name_key.as_bytes(),
        version.as_bytes(),
    ])
}
pub(crate) fn versions_prefix(vault: &str, kind: ObjectKind, name_key: &str) -> Vec<u8> {
    prefix(&[
        b"ver",
        vault.as_bytes(),
        kind.as_str().as_bytes(),
        name_key.as_bytes(),
    ])
}
pub(crate) fn vault_versions_prefix(vault: &str) -> Vec<u8> {
    prefix(&[b"ver", vault.as_bytes()])
}
/// Everything a whole-vault backup carries and a restore writes: objects, their versions, the certificate
/// issuers and contacts.
pub(crate) fn vault_contents_prefixes(vault: &str) -> [Vec<u8>; 4] {
    [
        vault_objects_prefix(vault),
        vault_versions_prefix(vault),
        issuers_prefix(vault),
        contacts_prefix(vault),
    ]
}
/// A certificate's pending (or last finished) create operation.
pub(crate) fn certificate_operation_key(vault: &str, name_key: &str) -> Vec<u8> {
    key(&[b"certop", vault.as_bytes(), name_key.as_bytes()])
}
/// A vault's certificate issuers.
pub(crate) fn issuer_key(vault: &str, name_key: &str) -> Vec<u8> {
    key(&[b"issuer", vault.as_bytes(), name_key.as_bytes()])
}
pub(crate) fn issuers_prefix(vault: &str) -> Vec<u8> {
    prefix(&[b"issuer", vault.as_bytes()])
}
/// A vault's certificate contacts.
pub(crate) fn contacts_key(vault: &str) -> Vec<u8> {
    key(&[b"contacts", vault.as_bytes(), b"list"])
}
fn contacts_prefix(vault: &str) -> Vec<u8> {
    prefix(&[b"contacts", vault.as_bytes()])
}
/// Every vault-level record besides objects and versions (what deleting a vault must also remove).
pub(crate) fn vault_settings_prefixes(vault: &str) -> Vec<Vec<u8>> {
    vec![
        prefix(&[b"certop", vault.as_bytes()]),
        issuers_prefix(vault),
        contacts_prefix(vault),
    ]
}
pub(crate) fn geography_key(geo: &str) -> Vec<u8> {
    key(&[b"geo", geo.as_bytes()])
}
/// A client of an earlier Keyhaven (before principals): converted into a principal at start.
pub(crate) fn legacy_clients_prefix() -> Vec<u8> {
    prefix(&[b"client"])
}
/// A principal, by object id.
pub(crate) fn principal_key(object_id: &str) -> Vec<u8> {
    key(&[b"principal", object_id.as_bytes()])
}
pub(crate) fn principals_prefix() -> Vec<u8> {
    prefix(&[b"principal"])
}
/// A principal's object id, by client id.
pub(crate) fn principal_by_client_key(client_id: &str) -> Vec<u8> {
    key(&[b"principal-client", client_id.as_bytes()])
}
/// A role assignment, by name.
pub(crate) fn assignment_key(name: &str) -> Vec<u8> {
    key(&[b"assign", name.as_bytes()])
}
pub(crate) fn assignments_prefix() -> Vec<u8> {
    prefix(&[b"assign"])
}
/// The index of a principal's role assignments (empty values).
pub(crate) fn principal_assignment_key(object_id: &str, name: &str) -> Vec<u8> {
    key(&[b"assign-principal", object_id.as_bytes(), name.as_bytes()])
}
pub(crate) fn principal_assignments_prefix(object_id: &str) -> Vec<u8> {
    prefix(&[b"assign-principal", object_id.as_bytes()])
}
/// A custom role definition, by id.
pub(crate) fn role_definition_key(id: &str) -> Vec<u8> {
    key(&[b"roledef", id.as_bytes()])
}
pub(crate) fn role_definitions_prefix() -> Vec<u8> {
    prefix(&[b"roledef"])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentRecord {
    pub subscription_id: String,
    pub tenant_id: String,
    pub created: i64,
}

#[serde_with::serde_as]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VaultRecord {
    pub name: String,
    pub location: String,
    pub geography: String,
    pub retention_days: u32,
    pub purge_protection: bool,
    pub created: i64,
    /// The vault's first data key (generation 0), wrapped under the root key.
    #[serde_as(as = "Base64")]
    pub wrapped_key: Vec<u8>,
    /// Its later data keys, oldest first; the last one seals (see [`crate::sealing`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotated_keys: Vec<VaultKeyRecord>,
    /// Seals made under the active data key, as last counted (the automatic rotation's count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seals: u64,
    /// The resource group it was created in through Azure Resource Manager (a name Keyhaven only records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The SKU named at creation through Azure Resource Manager (`standard` or `premium`; recorded only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// When the vault was deleted (Unix seconds): a deleted vault serves nothing until it is recovered, and is
    /// purged when its retention has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<i64>,
}

/// A later generation of a vault's data key.
#[serde_with::serde_as]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VaultKeyRecord {
    pub id: u32,
    #[serde_as(as = "Base64")]
    pub wrapped: Vec<u8>,
    pub created: i64,
}

pub(crate) fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeletedRecord {
    pub deleted_date: i64,
    pub scheduled_purge_date: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectRecord {
    /// The name as first written (lookups are case-insensitive).
    pub name: String,
    pub latest: Version,
    /// When the latest version was created; a restored or newer version replaces `latest` only if newer.
    pub latest_created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DeletedRecord>,
    /// Object-level, kind-specific settings (a key's rotation policy, a certificate's policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<serde_json::Value>,
}

impl ObjectRecord {
    /// Whether the object is deleted and its scheduled purge date has come.
    pub fn purge_due(&self, now: i64) -> bool {
        self.deleted
            .as_ref()
            .is_some_and(|d| d.scheduled_purge_date <= now)
    }
}

#[serde_with::serde_as]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionRecord {
    pub version: Version,
    pub attributes: Attributes,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed: bool,
    /// Secret material (a secret's value, a key's private part), sealed under the vault key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<Base64>")]
    pub sealed: Option<Vec<u8>>,
    /// The generation of the vault key that sealed `sealed`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sealed_key: u32,
    /// Non-secret, kind-specific data (public key, certificate, policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<serde_json::Value>,
}

/// The clear part of a key version (`VersionRecord::public`): the public JWK, whose `kty` is the type as asked
/// (`RSA-HSM` …), the permitted operations and, for RSA, the size in bits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyPublic {
    #[serde(flatten)]
    pub jwk: Jwk,
    #[serde(default)]
    pub key_ops: Vec<KeyOp>,
    #[serde(rename = "keySize", default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Whether secure key release may hand the private key out (set when the key is made, never changed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exportable: bool,
    /// The release policy of an exportable key.
    #[serde(
        rename = "releasePolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub release_policy: Option<ReleasePolicyRecord>,
}

/// Only the operations a key version permits, read from its public part without decoding the rest (its JWK is
/// flattened into it, which serde decodes through a buffer: a cost every cryptographic operation would pay).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct KeyOpsOnly {
    #[serde(default)]
    pub key_ops: Vec<KeyOp>,
}

/// A key version's release policy as stored: the policy document exactly as its writer gave it (checked to parse
/// when written), its content type and whether it may still be replaced.
#[serde_with::serde_as]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReleasePolicyRecord {
    pub content_type: String,
    #[serde_as(as = "Base64")]
    pub data: Vec<u8>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
}

/// The clear part of a certificate version: its DER certificate (standard base64) and SHA-1 thumbprint
/// (base64url), or, while it waits for an outside authority, `pending`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CertificatePublic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// The clear part of a certificate's managed secret: the key of the same version (`{name}/{version}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ManagedSecretPublic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

/// A version's clear part as stored (JSON).
pub(crate) fn public_value<T: Serialize>(v: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Internal(format!("encoding a record: {e}")))
}

/// A version's clear part, read as what its kind keeps there.
pub(crate) fn public_part<T: DeserializeOwned + Default>(
    v: &Option<serde_json::Value>,
) -> Result<T, Error> {
    match v {
        Some(v) => T::deserialize(v)
            .map_err(|e| Error::corrupt(format!("a stored version does not decode: {e}"))),
        None => Ok(T::default()),
    }
}

/// A version's clear part that its kind always has.
pub(crate) fn public_part_required<T: DeserializeOwned>(
    v: &Option<serde_json::Value>,
) -> Result<T, Error> {
    let v = v
        .as_ref()
        .ok_or_else(|| Error::corrupt("a stored version lacks its public part"))?;
    T::deserialize(v).map_err(|e| Error::corrupt(format!("a stored version does not decode: {e}")))
}

#[serde_with::serde_as]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeographyKeyRecord {
    pub id: String,
    pub created: i64,
    #[serde_as(as = "Base64")]
    pub wrapped: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GeographyRecord {
    pub name: String,
    pub subscription_id: String,
    pub active: String,
    pub keys: Vec<GeographyKeyRecord>,
}

/// A client of an earlier Keyhaven (one secret; `roles` held "Administrator").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LegacyClientRecord {
    pub client_id: String,
    pub display_name: String,
    pub secret_hash: String,
    #[serde(default)]
    pub roles: Vec<String>,
    pub created: i64,
}

/// A principal (service principal): how it is known, and its client secrets (as argon2id hashes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrincipalRecord {
    pub object_id: String,
    pub client_id: String,
    pub display_name: String,
    pub created: i64,
    pub secrets: Vec<SecretRecord>,
}

/// One client secret of a principal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecretRecord {
    /// Shown in listings and carried by the secret itself (`{id}.{random}`), so that a check hashes once.
    pub id: String,
    pub hash: String,
    pub created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

/// Where a role assignment applies (a [`crate::Resource`] as stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScopeRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ObjectKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A role assigned to a principal at a scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignmentRecord {
    pub name: String,
    pub scope: ScopeRecord,
    pub role_definition: String,
    pub principal: String,
    pub created: i64,
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Internal(format!("encoding a record: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::corrupt(format!("a stored record does not decode: {e}")))
}

pub(crate) fn read<T: DeserializeOwned>(
    snap: &dyn Snapshot,
    key: &[u8],
) -> Result<Option<T>, Error> {
    snap.get(key)?.map(|b| decode(&b)).transpose()
}

/// Calls `each` with every entry under `prefix`, in key order, read `chunk` entries at a time (any number of
/// entries, bounded memory).
pub(crate) fn for_each_under(
    snap: &dyn Snapshot,
    prefix: &[u8],
    chunk: usize,
    each: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    let end = keyhaven_store::keys::prefix_end(prefix);
    let mut start = prefix.to_vec();
    loop {
        let entries = snap.scan(&start, &end, chunk)?;
        let Some((last, _)) = entries.last() else {
            return Ok(());
        };
        start = last.clone();
        start.push(0);
        for (k, v) in entries {
            each(k, v)?;
        }
    }
}

pub(crate) fn read_txn<T: DeserializeOwned>(
    txn: &mut dyn WriteTxn,
    key: &[u8],
) -> Result<Option<T>, Error> {
    txn.get(key)?.map(|b| decode(&b)).transpose()
}

pub(crate) fn write_txn<T: Serialize>(
    txn: &mut dyn WriteTxn,
    key: &[u8],
    v: &T,
) -> Result<(), Error> {
    txn.put(key, &encode(v)?)?;
    Ok(())
}

/// Deletes every key under `prefix`, in chunks.
pub(crate) fn delete_range(txn: &mut dyn WriteTxn, prefix: &[u8]) -> Result<(), Error> {
    let end = prefix_end(prefix);
    let mut start = prefix.to_vec();
    loop {
        let chunk = txn.scan(&start, &end, 1024)?;
        let Some((last, _)) = chunk.last() else {
            return Ok(());
        };
        start = last.clone();
        start.push(0);
        for (k, _) in &chunk {
            txn.delete(k)?;
        }
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    /// Binary fields are standard, padded base64 (the stored format; existing stores must keep decoding).
    #[test]
    fn binary_fields_keep_their_stored_encoding() -> Result<(), Error> {
        let json = br#"{"id":2,"wrapped":"AQID","created":5}"#;
        let k: VaultKeyRecord = decode(json)?;
        assert_eq!(k.wrapped, vec![1, 2, 3]);
        assert_eq!(encode(&k)?, json.to_vec());
        let v: VersionRecord = decode(
            br#"{"version":"0123456789abcdef0123456789abcdef","attributes":{"enabled":true,"created":1,"updated":1},"sealed":"/+8="}"#,
        )?;
        assert_eq!(v.sealed.as_deref(), Some(&[0xff, 0xef][..]));
        let out = String::from_utf8(encode(&v)?).map_err(|e| Error::Internal(e.to_string()))?;
        assert!(out.contains(r#""sealed":"/+8=""#), "{out}");
        assert!(!out.contains("sealedKey"), "generation 0 is not written");
        Ok(())
    }
}
