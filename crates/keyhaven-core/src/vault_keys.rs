//! Rotating vault data keys: by request, and automatically once a key has sealed
//! [`Settings::vault_key_rotate_after`](crate::Settings) values (random 96-bit nonces stay far from a collision
//! well before 2^32 seals under one key). A rotation adds a generation that seals from then on; older generations
//! stay to open what they sealed.

use crate::records::{self, VaultRecord};
use crate::{Action, Keyhaven, Principal, Resource, Result};
use keyhaven_model::VaultName;

/// A vault's active data key, as callers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultKeyInfo {
    /// The active generation (0 until the first rotation).
    pub generation: u32,
    /// When it was created (the vault's creation for generation 0).
    pub created: i64,
    /// Seals it has made, as last counted (counts are gathered by [`Keyhaven::rotate_worn_vault_keys`]).
    pub seals: u64,
}

impl From<&VaultRecord> for VaultKeyInfo {
    fn from(r: &VaultRecord) -> Self {
        match r.rotated_keys.last() {
            Some(k) => VaultKeyInfo {
                generation: k.id,
                created: k.created,
                seals: r.seals,
            },
            None => VaultKeyInfo {
                generation: 0,
                created: r.created,
                seals: r.seals,
            },
        }
    }
}

impl Keyhaven {
    /// Rotates a vault's data key now: what is sealed from now on is sealed under a fresh key; everything sealed
    /// before keeps opening with the key that sealed it.
    pub async fn rotate_vault_key(
        &self,
        who: &Principal,
        vault: &VaultName,
    ) -> Result<VaultKeyInfo> {
        who.authorize(Action::VaultsWrite, &Resource::vault(vault))?;
        let vault = vault.as_str().to_string();
        let barrier = self.barrier.clone();
        let now = self.now();
        self.store
            .write(move |txn| {
                let mut rec = crate::restore_journal::vault_in_txn(txn, &vault)?;
                let next = barrier.next_vault_key(&rec, now)?;
                rec.rotated_keys.push(next);
                rec.seals = 0;
                records::write_txn(txn, &records::vault_key(&vault), &rec)?;
                Ok(VaultKeyInfo::from(&rec))
            })
            .await
    }

    /// Adds the seals this node made since the last call to its vaults' counts, and rotates the key of every
    /// vault whose count reached the configured limit. Returns the vaults whose key was rotated. Run periodically.
    pub async fn rotate_worn_vault_keys(&self) -> Result<Vec<String>> {
        let limit = self.settings.vault_key_rotate_after.max(1);
        let counts = self.barrier.take_seal_counts();
        if counts.is_empty() {
            return Ok(Vec::new());
        }
        let barrier = self.barrier.clone();
        let now = self.now();
        let rotated = self
            .store
            .write(move |txn| {
                let mut rotated = Vec::new();
                for (vault, generation, seals) in counts {
                    let key = records::vault_key(&vault);
                    let Some(mut rec) = records::read_txn::<VaultRecord>(txn, &key)? else {
                        continue;
                    };
                    if VaultKeyInfo::from(&rec).generation != generation {
                        // Rotated since: those seals were made under a key that no longer seals.
                        continue;
                    }
                    rec.seals = rec.seals.saturating_add(seals);
                    if rec.seals >= limit {
                        let next = barrier.next_vault_key(&rec, now)?;
                        rec.rotated_keys.push(next);
                        rec.seals = 0;
                        rotated.push(vault);
                    }
                    records::write_txn(txn, &key, &rec)?;
                }
                Ok::<_, crate::Error>(rotated)
            })
            .await?;
        for v in &rotated {
            tracing::info!(vault = %v, "rotated the vault's data key after its configured number of seals");
        }
        Ok(rotated)
    }

    /// A vault's active data key.
    pub fn vault_key_info(&self, who: &Principal, vault: &VaultName) -> Result<VaultKeyInfo> {
        who.authorize(Action::VaultsRead, &Resource::vault(vault))?;
        Ok(VaultKeyInfo::from(
            &self.vault_record(&*self.snapshot()?, vault.as_str())?,
        ))
    }
}
