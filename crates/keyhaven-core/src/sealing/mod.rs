//! The barrier: the one place stored material is sealed and opened and stored records are authenticated. Storage
//! sits outside the trust boundary, so everything secret passes through here on its way to and from the store,
//! bound by associated data to the place it belongs to — a ciphertext moved to another vault, object, version or
//! purpose fails to open — and every record the store keeps carries a MAC bound to its store key (see
//! [`engine`]), so that whoever can write the store cannot change what it says either.
//!
//! The hierarchy: the root key (kept outside the store) wraps each vault's data keys and each geography's backup
//! keys, and authenticates the deployment-wide records; a vault's data keys (one active, older ones kept to open
//! what they sealed) seal the material of that vault's versions (a secret's value, a key's private JWK, a
//! certificate's PKCS#12 or PEM) and its certificate issuers' passwords, and authenticate the vault's records.
//! Backups re-seal material on its way out (opened here, sealed by `keyhaven-blob` under a geography key) and in
//! (opened by `keyhaven-blob`, sealed here for the target vault).
//!
//! The associated data is part of the store's format (existing stores must keep opening): see [`value_aad`] and
//! the tests at the end.

pub(crate) mod engine;
pub(crate) mod record_mac;

use crate::records::{VaultKeyRecord, VaultRecord};
use crate::{Error, Result};
use keyhaven_crypto::keys::{Jwk, PrivateKey};
use keyhaven_crypto::{MacKey, SealingKey};
use keyhaven_model::{ObjectKind, ObjectName, Version};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use zeroize::Zeroizing;

/// Seals and opens everything the store keeps secret and authenticates its records. Holds the root key, the vault
/// keys unwrapped so far, and private keys parsed from opened material (parsing and checking a key costs more than
/// using it).
pub(crate) struct Barrier {
    root: SealingKey,
    /// Authenticates the deployment-wide records (vaults, geographies, principals, assignments, …).
    root_mac: MacKey,
    /// By vault name: the keys of the vault as its record last named them.
    vault_keys: RwLock<HashMap<String, Arc<VaultKey>>>,
    private_keys: Mutex<HashMap<PrivateKeyId, Arc<PrivateKey>>>,
}

/// A parsed private key's identity: vault, object, version, and the sealing it was opened from (its random nonce
/// and length, unique per seal), so that a key sealed again (a restore) is parsed again.
type PrivateKeyId = (String, String, String, [u8; 16]);

const PRIVATE_KEY_CACHE_LIMIT: usize = 4096;

impl Barrier {
    pub(crate) fn new(root: SealingKey) -> Result<Self> {
        let root_mac = MacKey::new(&derive(&root, "record-mac")?[..]);
        Ok(Barrier {
            root,
            root_mac,
            vault_keys: RwLock::new(HashMap::new()),
            private_keys: Mutex::new(HashMap::new()),
        })
    }

    /// The key that authenticates deployment-wide records.
    pub(crate) fn root_mac(&self) -> &MacKey {
        &self.root_mac
    }

    /// A fresh data key for a new vault (its generation 0), wrapped under the root key and bound to the vault's
    /// name.
    pub(crate) fn new_vault_key(&self, vault: &str) -> Result<Vec<u8>> {
        let key = SealingKey::generate()?;
        Ok(self.root.wrap(&vault_key_aad(vault, 0), &key)?)
    }

    /// A further data key for a vault (the next generation), which becomes the one that seals.
    pub(crate) fn next_vault_key(&self, rec: &VaultRecord, now: i64) -> Result<VaultKeyRecord> {
        let id = rec.rotated_keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        let key = SealingKey::generate()?;
        Ok(VaultKeyRecord {
            id,
            wrapped: self.root.wrap(&vault_key_aad(&rec.name, id), &key)?,
            created: now,
        })
    }

    /// A key for `purpose`, derived from the root key (HMAC-SHA256 of the purpose's name): the same on every node
    /// of a deployment, unusable for anything else.
    pub(crate) fn derived_key(&self, purpose: &str) -> Result<Zeroizing<[u8; 32]>> {
        derive(&self.root, purpose)
    }

    /// The data keys of a vault, unwrapped from its record (cached until the record names other keys).
    pub(crate) fn vault_key(&self, rec: &VaultRecord) -> Result<Arc<VaultKey>> {
        let fingerprint = fingerprint(rec);
        if let Some(k) = self
            .vault_keys
            .read()
            .ok()
            .and_then(|m| m.get(&rec.name).cloned())
            .filter(|k| k.fingerprint == fingerprint)
        {
            return Ok(k);
        }
        let unwrap = |id: u32, wrapped: &[u8]| -> Result<Generation> {
            let key = self
                .root
                .unwrap_key(&vault_key_aad(&rec.name, id), wrapped)
                .map_err(|_| {
                    Error::corrupt(format!(
                        "key {id} of vault '{}' does not unwrap under the root key",
                        rec.name
                    ))
                })?;
            let mac = MacKey::new(&derive(&key, "record-mac")?[..]);
            Ok(Generation { id, key, mac })
        };
        let mut generations = vec![unwrap(0, &rec.wrapped_key)?];
        for k in &rec.rotated_keys {
            generations.push(unwrap(k.id, &k.wrapped)?);
        }
        let active = generations.len() - 1;
        let vk = Arc::new(VaultKey {
            vault: rec.name.clone(),
            fingerprint,
            generations,
            active,
            seals: AtomicU64::new(0),
        });
        if let Ok(mut m) = self.vault_keys.write() {
            m.insert(rec.name.clone(), vk.clone());
        }
        Ok(vk)
    }

    /// The keys of a vault as last loaded, if they have been (reads check records with them before reloading).
    pub(crate) fn cached_vault_key(&self, vault: &[u8]) -> Option<Arc<VaultKey>> {
        let vault = std::str::from_utf8(vault).ok()?;
        self.vault_keys.read().ok()?.get(vault).cloned()
    }

    /// Drops the keys held for a vault (its record is being deleted).
    pub(crate) fn forget_vault_key(&self, vault: &[u8]) {
        if let (Ok(vault), Ok(mut m)) = (std::str::from_utf8(vault), self.vault_keys.write()) {
            m.remove(vault);
        }
    }

    /// The seals made under each vault's active key since the last call, as (vault, generation, count), taken
    /// (the counters start again from zero).
    pub(crate) fn take_seal_counts(&self) -> Vec<(String, u32, u64)> {
        let Ok(m) = self.vault_keys.read() else {
            return Vec::new();
        };
        m.values()
            .filter_map(|k| {
                let n = k.seals.swap(0, Ordering::Relaxed);
                (n > 0).then(|| (k.vault.clone(), k.active_id(), n))
            })
            .collect()
    }

    /// Wraps a geography's backup key under the root key, bound to the geography and the key's id.
    pub(crate) fn wrap_geography_key(
        &self,
        geo: &str,
        id_hex: &str,
        key: &SealingKey,
    ) -> Result<Vec<u8>> {
        Ok(self.root.wrap(&geography_key_aad(geo, id_hex), key)?)
    }

    /// Unwraps a geography's backup key.
    pub(crate) fn unwrap_geography_key(
        &self,
        geo: &str,
        id_hex: &str,
        wrapped: &[u8],
    ) -> Result<SealingKey> {
        self.root
            .unwrap_key(&geography_key_aad(geo, id_hex), wrapped)
            .map_err(|_| Error::corrupt(format!("a key of geography '{geo}' does not unwrap")))
    }

    /// The private key of a key version (or of a certificate's managed key), opened and parsed once.
    pub(crate) fn private_key(
        &self,
        vault: &VaultRecord,
        name: &ObjectName,
        version: &Version,
        key_id: u32,
        sealed: &[u8],
    ) -> Result<Arc<PrivateKey>> {
        let id = (
            vault.name.clone(),
            name.key(),
            version.to_string(),
            sealed_identity(sealed),
        );
        if let Some(k) = self
            .private_keys
            .lock()
            .ok()
            .and_then(|c| c.get(&id).cloned())
        {
            return Ok(k);
        }
        let plain =
            self.vault_key(vault)?
                .open_value(ObjectKind::Key, name, version, key_id, sealed)?;
        let jwk: Jwk = serde_json::from_slice(&plain)
            .map_err(|_| Error::corrupt("stored key material does not decode"))?;
        let key = Arc::new(
            PrivateKey::from_jwk(&jwk)
                .map_err(|e| Error::corrupt(format!("stored key material: {e}")))?,
        );
        if let Ok(mut c) = self.private_keys.lock() {
            if c.len() >= PRIVATE_KEY_CACHE_LIMIT {
                c.clear();
            }
            c.insert(id, key.clone());
        }
        Ok(key)
    }
}

/// A key derived from `key` for `purpose`.
fn derive(key: &SealingKey, purpose: &str) -> Result<Zeroizing<[u8; 32]>> {
    let label = format!("keyhaven/v1/derived-key|{purpose}");
    Ok(Zeroizing::new(keyhaven_crypto::hmac_sha256(
        key.expose(),
        label.as_bytes(),
    )?))
}

/// What tells one set of a vault's wrapped keys from another (a recreated vault, a rotation).
fn fingerprint(rec: &VaultRecord) -> [u8; 32] {
    let mut h = keyhaven_crypto::Sha256::default();
    h.update(&rec.wrapped_key);
    for k in &rec.rotated_keys {
        h.update(&k.id.to_be_bytes());
        h.update(&k.wrapped);
    }
    h.finish()
}

/// One generation of a vault's data key.
struct Generation {
    id: u32,
    key: SealingKey,
    /// Authenticates the vault's records written while this generation was active.
    mac: MacKey,
}

/// A vault's data keys: the active generation seals, every generation opens what it sealed. Bound to its vault
/// (the vault is part of every binding).
pub(crate) struct VaultKey {
    vault: String,
    fingerprint: [u8; 32],
    generations: Vec<Generation>,
    active: usize,
    /// Seals made by this process under the active generation and not yet counted in the vault's record.
    seals: AtomicU64,
}

impl VaultKey {
    fn generation(&self, id: u32) -> Result<&Generation> {
        self.generations
            .iter()
            .find(|g| g.id == id)
            .ok_or_else(|| Error::corrupt(format!("vault '{}' has no key {id}", self.vault)))
    }

    fn active(&self) -> &Generation {
        &self.generations[self.active]
    }

    /// The generation that seals now.
    pub(crate) fn active_id(&self) -> u32 {
        self.active().id
    }

    /// The MAC key of a generation.
    pub(crate) fn record_mac(&self, id: u32) -> Result<&MacKey> {
        Ok(&self.generation(id)?.mac)
    }

    /// The MAC key of the active generation, with its id.
    pub(crate) fn active_record_mac(&self) -> (u32, &MacKey) {
        let g = self.active();
        (g.id, &g.mac)
    }

    /// Seals a version's material (a secret's value, a key's private JWK, a certificate's secret), bound to this
    /// vault and the object's kind, name and version, under the active generation; returns the sealed bytes and
    /// the generation's id (kept beside them).
    pub(crate) fn seal_value(
        &self,
        kind: ObjectKind,
        name: &ObjectName,
        version: &Version,
        plain: &[u8],
    ) -> Result<(Vec<u8>, u32)> {
        let g = self.active();
        let sealed = g
            .key
            .seal(&value_aad(&self.vault, kind, &name.key(), version), plain)?;
        self.seals.fetch_add(1, Ordering::Relaxed);
        Ok((sealed, g.id))
    }

    /// Opens a version's material sealed by [`VaultKey::seal_value`] for the same place under generation `key_id`.
    /// A failure means the store was altered or damaged: it is reported as corruption, never as bad input.
    pub(crate) fn open_value(
        &self,
        kind: ObjectKind,
        name: &ObjectName,
        version: &Version,
        key_id: u32,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.generation(key_id)?
            .key
            .open(&value_aad(&self.vault, kind, &name.key(), version), sealed)
            .map_err(|_| {
                Error::corrupt(format!(
                    "the value of {} '{name}' failed authentication",
                    kind.as_str()
                ))
            })
    }

    /// Seals a certificate issuer's password, bound to this vault and the issuer; returns it with the generation.
    pub(crate) fn seal_issuer_password(
        &self,
        issuer: &ObjectName,
        plain: &[u8],
    ) -> Result<(Vec<u8>, u32)> {
        let g = self.active();
        let sealed = g
            .key
            .seal(&issuer_password_aad(&self.vault, &issuer.key()), plain)?;
        self.seals.fetch_add(1, Ordering::Relaxed);
        Ok((sealed, g.id))
    }

    /// Opens a certificate issuer's password sealed under generation `key_id`.
    pub(crate) fn open_issuer_password(
        &self,
        issuer: &ObjectName,
        key_id: u32,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.generation(key_id)?
            .key
            .open(&issuer_password_aad(&self.vault, &issuer.key()), sealed)
            .map_err(|_| {
                Error::corrupt(format!(
                    "the password of issuer '{issuer}' failed authentication"
                ))
            })
    }
}

/// What tells one sealing of material from another: its random nonce (unique per seal) and its length.
fn sealed_identity(sealed: &[u8]) -> [u8; 16] {
    let mut id = [0u8; 16];
    let n = sealed.len().min(keyhaven_crypto::NONCE_LEN);
    id[..n].copy_from_slice(&sealed[..n]);
    id[12..].copy_from_slice(&(sealed.len() as u32).to_be_bytes());
    id
}

/// The associated data that binds a version's sealed material to its place.
fn value_aad(vault: &str, kind: ObjectKind, name_key: &str, version: &Version) -> Vec<u8> {
    // Built by hand: this runs once per version sealed or opened (a whole-vault backup or restore does millions).
    let version = version.as_str();
    let kind = kind.as_str();
    let mut aad = Vec::with_capacity(
        "keyhaven/v1/value||||".len() + vault.len() + kind.len() + name_key.len() + version.len(),
    );
    for part in [
        "keyhaven/v1/value|",
        vault,
        "|",
        kind,
        "|",
        name_key,
        "|",
        version,
    ] {
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// Binds an issuer's sealed password to its vault and issuer.
fn issuer_password_aad(vault: &str, name_key: &str) -> Vec<u8> {
    format!("keyhaven/v1/issuer-password|{vault}|{name_key}").into_bytes()
}

/// Binds a wrapped vault key to its vault and generation (generation 0 keeps the layout of the first version).
fn vault_key_aad(vault: &str, id: u32) -> Vec<u8> {
    match id {
        0 => format!("keyhaven/v1/vault-key|{vault}").into_bytes(),
        n => format!("keyhaven/v1/vault-key|{vault}|{n}").into_bytes(),
    }
}

/// Binds a wrapped geography key to its geography and id.
fn geography_key_aad(geo: &str, id_hex: &str) -> Vec<u8> {
    format!("keyhaven/v1/geography-key|{geo}|{id_hex}").into_bytes()
}

#[cfg(test)]
mod tests;
