//! Soft-deleted vaults, as Azure Resource Manager deletes them: a deleted vault keeps everything in it but serves
//! nothing; it can be recovered, or purged (everything in it erased) — by hand, or when its retention has passed.
//! Purge protection forbids purging by hand before then.

use crate::records::{self, VaultRecord};
use crate::vaults::{erase_vault, VaultInfo};
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::VaultName;
use keyhaven_store::keys::prefix_end;

fn not_deleted(vault: &str) -> Error {
    Error::VaultNotFound(vault.to_string())
}

/// The record of deleted vault `vault`, in a write transaction.
fn deleted_in_txn(txn: &mut dyn keyhaven_store::WriteTxn, vault: &str) -> Result<VaultRecord> {
    records::read_txn::<VaultRecord>(txn, &records::vault_key(vault))?
        .filter(|r| r.deleted.is_some())
        .ok_or_else(|| not_deleted(vault))
}

impl Keyhaven {
    /// Deletes a vault softly: it serves nothing from now on, and is purged when its retention has passed unless
    /// recovered before.
    pub async fn soft_delete_vault(&self, who: &Principal, name: &VaultName) -> Result<VaultInfo> {
        who.authorize(Action::VaultsDelete, &Resource::Deployment)?;
        let (vault, now) = (name.as_str().to_string(), self.now());
        let rec = self
            .store
            .write(move |txn| {
                let mut rec = crate::restore_journal::vault_in_txn(txn, &vault)?;
                rec.deleted = Some(now);
                records::write_txn(txn, &records::vault_key(&vault), &rec)?;
                Ok::<_, Error>(rec)
            })
            .await?;
        self.access.clear();
        Ok(VaultInfo::from(&rec))
    }

    /// Brings a deleted vault back, with everything it held.
    pub async fn recover_vault(&self, who: &Principal, name: &VaultName) -> Result<VaultInfo> {
        who.authorize(Action::VaultsWrite, &Resource::Deployment)?;
        let vault = name.as_str().to_string();
        let rec = self
            .store
            .write(move |txn| {
                let mut rec = deleted_in_txn(txn, &vault)?;
                rec.deleted = None;
                records::write_txn(txn, &records::vault_key(&vault), &rec)?;
                Ok::<_, Error>(rec)
            })
            .await?;
        self.access.clear();
        Ok(VaultInfo::from(&rec))
    }

    /// Erases a deleted vault and everything in it. Refused before its retention has passed when it has purge
    /// protection.
    pub async fn purge_deleted_vault(&self, who: &Principal, name: &VaultName) -> Result<()> {
        who.authorize(Action::VaultsDelete, &Resource::Deployment)?;
        let (vault, now) = (name.as_str().to_string(), self.now());
        self.store
            .write(move |txn| {
                let rec = deleted_in_txn(txn, &vault)?;
                let info = VaultInfo::from(&rec);
                if rec.purge_protection && info.scheduled_purge().is_some_and(|at| now < at) {
                    return Err(Error::Forbidden(format!(
                        "Vault '{vault}' has purge protection: it cannot be purged before its retention of {} days \
                         has passed; it can be recovered.",
                        rec.retention_days
                    )));
                }
                erase_vault(txn, &vault)
            })
            .await?;
        self.access.clear();
        Ok(())
    }

    /// Every deleted vault.
    pub fn list_deleted_vaults(&self, who: &Principal) -> Result<Vec<VaultInfo>> {
        who.authorize(Action::VaultsRead, &Resource::Deployment)?;
        let snap = self.snapshot()?;
        let p = records::vaults_prefix();
        let mut out = Vec::new();
        for (_, v) in snap.scan(&p, &prefix_end(&p), usize::MAX)? {
            let rec = records::decode::<VaultRecord>(&v)?;
            if rec.deleted.is_some() {
                out.push(VaultInfo::from(&rec));
            }
        }
        Ok(out)
    }

    /// One deleted vault.
    pub fn get_deleted_vault(&self, who: &Principal, name: &VaultName) -> Result<VaultInfo> {
        who.authorize(Action::VaultsRead, &Resource::Deployment)?;
        records::read::<VaultRecord>(&*self.snapshot()?, &records::vault_key(name.as_str()))?
            .filter(|r| r.deleted.is_some())
            .map(|r| VaultInfo::from(&r))
            .ok_or_else(|| not_deleted(name.as_str()))
    }

    /// Purges every deleted vault whose retention has passed (purge protection or not). Returns how many.
    pub async fn purge_expired_vaults(&self) -> Result<usize> {
        let now = self.now();
        let snap = self.snapshot()?;
        let p = records::vaults_prefix();
        let mut due = Vec::new();
        for (_, v) in snap.scan(&p, &prefix_end(&p), usize::MAX)? {
            let info = VaultInfo::from(&records::decode::<VaultRecord>(&v)?);
            if info.scheduled_purge().is_some_and(|at| at <= now) {
                due.push(info.name);
            }
        }
        let mut n = 0;
        for vault in due {
            let purged = self
                .store
                .write(move |txn| {
                    let Ok(rec) = deleted_in_txn(txn, &vault) else {
                        return Ok(false);
                    };
                    if VaultInfo::from(&rec)
                        .scheduled_purge()
                        .is_none_or(|at| at > now)
                    {
                        return Ok(false);
                    }
                    erase_vault(txn, &vault)?;
                    Ok::<_, Error>(true)
                })
                .await?;
            n += usize::from(purged);
        }
        if n > 0 {
            self.access.clear();
        }
        Ok(n)
    }
}
