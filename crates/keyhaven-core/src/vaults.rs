use crate::records::{self, VaultRecord};
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_model::VaultName;
use keyhaven_store::keys::prefix_end;

/// A request to create a vault.
#[derive(Debug, Clone)]
pub struct NewVault {
    /// The vault's name, also the first label of its host name (`{name}.{dns suffix}`).
    pub name: VaultName,
    /// Where it lives (a key of [`Settings::locations`](crate::Settings::locations), any case); the default
    /// location when none.
    pub location: Option<String>,
    /// How many days deleted objects stay recoverable (7–90); the deployment's default when none.
    pub retention_days: Option<u32>,
    /// Whether deleted objects must wait out their retention: no purge before it, and no deleting the vault
    /// while it holds objects.
    pub purge_protection: bool,
}

/// A vault as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultInfo {
    /// The vault's name.
    pub name: String,
    /// Its location, in lower case.
    pub location: String,
    /// The geography of its location, whose keys seal its backups.
    pub geography: String,
    /// How many days deleted objects stay recoverable.
    pub retention_days: u32,
    /// Whether deleted objects must wait out their retention (see [`NewVault::purge_protection`]).
    pub purge_protection: bool,
    /// When it was created, in Unix seconds.
    pub created: i64,
}

impl From<&VaultRecord> for VaultInfo {
    fn from(r: &VaultRecord) -> Self {
        VaultInfo {
            name: r.name.clone(),
            location: r.location.clone(),
            geography: r.geography.clone(),
            retention_days: r.retention_days,
            purge_protection: r.purge_protection,
            created: r.created,
        }
    }
}

impl Keyhaven {
    /// Creates a vault. Refused when the name is taken, the location unknown or the retention outside 7–90 days.
    pub async fn create_vault(&self, who: &Principal, req: NewVault) -> Result<VaultInfo> {
        who.authorize(Action::VaultsWrite, &Resource::Deployment)?;
        let rec = self.new_vault_record(req)?;
        let info = VaultInfo::from(&rec);
        self.store
            .write(move |txn| {
                let key = records::vault_key(&rec.name);
                if txn.get(&key)?.is_some() {
                    return Err(Error::Conflict(format!(
                        "A vault named '{}' already exists.",
                        rec.name
                    )));
                }
                records::write_txn(txn, &key, &rec)
            })
            .await?;
        Ok(info)
    }

    /// Creates a vault if it does not exist (used at first start for the `default` vault).
    pub fn ensure_vault(&self, req: NewVault) -> Result<()> {
        let rec = self.new_vault_record(req)?;
        self.store.write_blocking(move |txn| {
            let key = records::vault_key(&rec.name);
            if txn.get(&key)?.is_none() {
                records::write_txn(txn, &key, &rec)?;
            }
            Ok::<_, Error>(())
        })
    }

    fn new_vault_record(&self, req: NewVault) -> Result<VaultRecord> {
        let location = req
            .location
            .unwrap_or_else(|| self.settings.default_location.clone())
            .to_ascii_lowercase();
        let geography = self
            .settings
            .locations
            .get(&location)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.settings.locations.keys().map(String::as_str).collect();
                Error::BadParameter(format!(
                    "Unknown location '{location}'. Known locations: {}.",
                    known.join(", ")
                ))
            })?;
        let retention_days = req
            .retention_days
            .unwrap_or(self.settings.default_retention_days);
        if !(7..=90).contains(&retention_days) {
            return Err(Error::BadParameter(format!(
                "The soft-delete retention must be between 7 and 90 days; {retention_days} was given."
            )));
        }
        let name = req.name.as_str().to_string();
        Ok(VaultRecord {
            wrapped_key: self.barrier.new_vault_key(&name)?,
            name,
            location,
            geography,
            retention_days,
            purge_protection: req.purge_protection,
            created: self.now(),
            rotated_keys: Vec::new(),
            seals: 0,
        })
    }

    /// Every vault of the deployment.
    pub fn list_vaults(&self, who: &Principal) -> Result<Vec<VaultInfo>> {
        who.authorize(Action::VaultsRead, &Resource::Deployment)?;
        let snap = self.snapshot()?;
        let p = records::vaults_prefix();
        let mut out = Vec::new();
        for (_, v) in snap.scan(&p, &prefix_end(&p), usize::MAX)? {
            out.push(VaultInfo::from(&records::decode::<VaultRecord>(&v)?));
        }
        Ok(out)
    }

    /// One vault's settings.
    pub fn get_vault(&self, who: &Principal, name: &VaultName) -> Result<VaultInfo> {
        who.authorize(Action::VaultsRead, &Resource::vault(name))?;
        Ok(VaultInfo::from(
            &self.vault_record(&*self.snapshot()?, name.as_str())?,
        ))
    }

    /// Deletes a vault and everything in it. A vault with purge protection that still holds objects (live or
    /// deleted) cannot be deleted.
    pub async fn delete_vault(&self, who: &Principal, name: &VaultName) -> Result<()> {
        who.authorize(Action::VaultsDelete, &Resource::Deployment)?;
        let vault = name.as_str().to_string();
        self.store
            .write(move |txn| {
                let rec = crate::restore_journal::vault_in_txn(txn, &vault)?;
                let objects = records::vault_objects_prefix(&vault);
                if rec.purge_protection && !txn.scan(&objects, &prefix_end(&objects), 1)?.is_empty() {
                    return Err(Error::Conflict(format!(
                        "Vault '{vault}' has purge protection and still holds objects; it cannot be deleted."
                    )));
                }
                records::delete_range(txn, &objects)?;
                records::delete_range(txn, &records::vault_versions_prefix(&vault))?;
                crate::access::delete_vault_assignments(txn, &vault)?;
                for p in records::vault_settings_prefixes(&vault) {
                    records::delete_range(txn, &p)?;
                }
                txn.delete(&records::vault_key(&vault))?;
                Ok(())
            })
            .await?;
        self.access.clear();
        Ok(())
    }
}
