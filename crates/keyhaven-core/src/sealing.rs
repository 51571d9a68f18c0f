//! The barrier: the one place stored material is sealed and opened. Storage sits outside the trust boundary, so
//! everything secret passes through here on its way to and from the store, bound by associated data to the place
//! it belongs to — a ciphertext moved to another vault, object, version or purpose fails to open.
//!
//! The hierarchy: the root key (kept outside the store) wraps each vault's data key and each geography's backup
//! keys; a vault's data key seals the material of that vault's versions (a secret's value, a key's private JWK,
//! a certificate's PKCS#12 or PEM) and its certificate issuers' passwords. Backups re-seal material on its way
//! out (opened here, sealed by `keyhaven-blob` under a geography key) and in (opened by `keyhaven-blob`, sealed
//! here for the target vault).
//!
//! The associated data is part of the store's format (existing stores must keep opening): see
//! [`value_aad`] and the tests at the end.

use crate::records::VaultRecord;
use crate::{Error, Result};
use keyhaven_crypto::keys::{Jwk, PrivateKey};
use keyhaven_crypto::SealingKey;
use keyhaven_model::{ObjectKind, ObjectName, Version};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use zeroize::Zeroizing;

/// Seals and opens everything the store keeps secret. Holds the root key, the vault keys unwrapped so far, and
/// private keys parsed from opened material (parsing and checking a key costs more than using it).
pub(crate) struct Barrier {
    root: SealingKey,
    /// By vault name: the wrapped key it was unwrapped from (a recreated vault has another) and the key.
    vault_keys: RwLock<HashMap<String, (Vec<u8>, SealingKey)>>,
    private_keys: Mutex<HashMap<PrivateKeyId, Arc<PrivateKey>>>,
}

/// A parsed private key's identity: vault, object, version, and the sealing it was opened from (its random nonce
/// and length, unique per seal), so that a key sealed again (a restore) is parsed again.
type PrivateKeyId = (String, String, String, [u8; 16]);

const PRIVATE_KEY_CACHE_LIMIT: usize = 4096;

impl Barrier {
    pub(crate) fn new(root: SealingKey) -> Self {
        Barrier {
            root,
            vault_keys: RwLock::new(HashMap::new()),
            private_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The root key (tests reopen a store with it).
    #[cfg(test)]
    pub(crate) fn root(&self) -> &SealingKey {
        &self.root
    }

    /// A fresh data key for a new vault, wrapped under the root key and bound to the vault's name.
    pub(crate) fn new_vault_key(&self, vault: &str) -> Result<Vec<u8>> {
        let key = SealingKey::generate()?;
        Ok(self.root.wrap(&vault_key_aad(vault), &key)?)
    }

    /// A key for `purpose`, derived from the root key (HMAC-SHA256 of the purpose's name): the same on every node
    /// of a deployment, unusable for anything else.
    pub(crate) fn derived_key(&self, purpose: &str) -> Result<Zeroizing<[u8; 32]>> {
        let label = format!("keyhaven/v1/derived-key|{purpose}");
        Ok(Zeroizing::new(keyhaven_crypto::hmac_sha256(
            self.root.expose(),
            label.as_bytes(),
        )?))
    }

    /// The data key of a vault, unwrapped from its record (cached).
    pub(crate) fn vault_key(&self, rec: &VaultRecord) -> Result<VaultKey> {
        let cached = self
            .vault_keys
            .read()
            .ok()
            .and_then(|m| m.get(&rec.name).cloned());
        let key = match cached {
            Some((wrapped, key)) if wrapped == rec.wrapped_key => key,
            _ => {
                let key = self
                    .root
                    .unwrap_key(&vault_key_aad(&rec.name), &rec.wrapped_key)
                    .map_err(|_| {
                        Error::corrupt(format!(
                            "the key of vault '{}' does not unwrap under the root key",
                            rec.name
                        ))
                    })?;
                if let Ok(mut m) = self.vault_keys.write() {
                    m.insert(rec.name.clone(), (rec.wrapped_key.clone(), key.clone()));
                }
                key
            }
        };
        Ok(VaultKey {
            vault: rec.name.clone(),
            key,
        })
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
        let plain = self
            .vault_key(vault)?
            .open_value(ObjectKind::Key, name, version, sealed)?;
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

/// A vault's data key: seals and opens the material of that vault only (the vault is part of every binding).
#[derive(Clone)]
pub(crate) struct VaultKey {
    vault: String,
    key: SealingKey,
}

impl VaultKey {
    /// Seals a version's material (a secret's value, a key's private JWK, a certificate's secret), bound to this
    /// vault and the object's kind, name and version.
    pub(crate) fn seal_value(
        &self,
        kind: ObjectKind,
        name: &ObjectName,
        version: &Version,
        plain: &[u8],
    ) -> Result<Vec<u8>> {
        Ok(self
            .key
            .seal(&value_aad(&self.vault, kind, &name.key(), version), plain)?)
    }

    /// Opens a version's material sealed by [`VaultKey::seal_value`] for the same place. A failure means the
    /// store was altered or damaged: it is reported as corruption, never as bad input.
    pub(crate) fn open_value(
        &self,
        kind: ObjectKind,
        name: &ObjectName,
        version: &Version,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.key
            .open(&value_aad(&self.vault, kind, &name.key(), version), sealed)
            .map_err(|_| {
                Error::corrupt(format!(
                    "the value of {} '{name}' failed authentication",
                    kind.as_str()
                ))
            })
    }

    /// Seals a certificate issuer's password, bound to this vault and the issuer.
    pub(crate) fn seal_issuer_password(
        &self,
        issuer: &ObjectName,
        plain: &[u8],
    ) -> Result<Vec<u8>> {
        Ok(self
            .key
            .seal(&issuer_password_aad(&self.vault, &issuer.key()), plain)?)
    }

    /// Opens a certificate issuer's password.
    pub(crate) fn open_issuer_password(
        &self,
        issuer: &ObjectName,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.key
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

/// Binds a wrapped vault key to its vault.
fn vault_key_aad(vault: &str) -> Vec<u8> {
    format!("keyhaven/v1/vault-key|{vault}").into_bytes()
}

/// Binds a wrapped geography key to its geography and id.
fn geography_key_aad(geo: &str, id_hex: &str) -> Vec<u8> {
    format!("keyhaven/v1/geography-key|{geo}|{id_hex}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bindings of stored material are part of the store's format: existing stores must keep opening.
    #[test]
    fn associated_data_layouts_are_fixed() -> Result<()> {
        let v = Version::parse("0123456789abcdef0123456789abcdef")?;
        assert_eq!(
            value_aad("vault-1", ObjectKind::Certificate, "my-cert", &v),
            b"keyhaven/v1/value|vault-1|certificate|my-cert|0123456789abcdef0123456789abcdef"
                .to_vec()
        );
        assert_eq!(
            issuer_password_aad("vault-1", "corp-ca"),
            b"keyhaven/v1/issuer-password|vault-1|corp-ca".to_vec()
        );
        assert_eq!(
            vault_key_aad("vault-1"),
            b"keyhaven/v1/vault-key|vault-1".to_vec()
        );
        assert_eq!(
            geography_key_aad("europe", "00ff"),
            b"keyhaven/v1/geography-key|europe|00ff".to_vec()
        );
        Ok(())
    }

    /// Material sealed for one place does not open in another: vault, kind, name, version and purpose all count.
    #[test]
    fn material_is_bound_to_its_place() -> Result<()> {
        let barrier = Barrier::new(SealingKey::generate()?);
        let rec = |name: &str| -> Result<VaultRecord> {
            Ok(VaultRecord {
                name: name.into(),
                location: "local".into(),
                geography: "local".into(),
                retention_days: 90,
                purge_protection: false,
                created: 0,
                wrapped_key: barrier.new_vault_key(name)?,
            })
        };
        let (a, b) = (
            barrier.vault_key(&rec("a")?)?,
            barrier.vault_key(&rec("b")?)?,
        );
        let name = ObjectName::parse("n")?;
        let other = ObjectName::parse("m")?;
        let v1 = Version::parse("0123456789abcdef0123456789abcdef")?;
        let v2 = Version::parse("fedcba9876543210fedcba9876543210")?;
        let sealed = a.seal_value(ObjectKind::Secret, &name, &v1, b"value")?;
        assert_eq!(
            &a.open_value(ObjectKind::Secret, &name, &v1, &sealed)?[..],
            b"value"
        );
        for wrong in [
            b.open_value(ObjectKind::Secret, &name, &v1, &sealed),
            a.open_value(ObjectKind::Key, &name, &v1, &sealed),
            a.open_value(ObjectKind::Secret, &other, &v1, &sealed),
            a.open_value(ObjectKind::Secret, &name, &v2, &sealed),
            a.open_issuer_password(&name, &sealed),
        ] {
            assert!(
                matches!(wrong, Err(Error::Store(_))),
                "refused as corruption"
            );
        }
        // A vault key wrapped for one vault does not unwrap as another's.
        let mut stolen = rec("b")?;
        stolen.wrapped_key = rec("a")?.wrapped_key;
        assert!(barrier.vault_key(&stolen).is_err());
        Ok(())
    }
}
