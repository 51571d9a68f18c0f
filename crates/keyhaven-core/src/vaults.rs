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
    /// The resource group recorded at creation through Azure Resource Manager.
    pub resource_group: Option<String>,
    /// The SKU recorded at creation through Azure Resource Manager.
    pub sku: Option<String>,
    /// When it was deleted (a deleted vault, recoverable until [`VaultInfo::scheduled_purge`]).
    pub deleted: Option<i64>,
}

impl VaultInfo {
    /// When a deleted vault is purged: its deletion plus its retention.
    pub fn scheduled_purge(&self) -> Option<i64> {
        self.deleted
            .map(|d| d.saturating_add(i64::from(self.retention_days) * 86_400))
    }
}

/// Where Azure Resource Manager places a vault: recorded with it, shown back, never acted on.
#[derive(Debug, Clone, Default)]
pub struct VaultPlacement {
    /// The resource group named in the resource id.
    pub resource_group: Option<String>,
    /// The SKU (`standard` or `premium`).
    pub sku: Option<String>,
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
            resource_group: r.resource_group.clone(),
            sku: r.sku.clone(),
            deleted: r.deleted,
        }
    }
}

impl Keyhaven {
    /// Creates a vault. Refused when the name is taken, the location unknown or the retention outside 7–90 days.
    pub async fn create_vault(&self, who: &Principal, req: NewVault) -> Result<VaultInfo> {
        self.create_vault_placed(who, req, VaultPlacement::default())
            .await
    }

    /// Creates a vault, recording where Azure Resource Manager placed it. Refused as [`Keyhaven::create_vault`] is,
    /// and while a deleted vault holds the name.
    pub async fn create_vault_placed(
        &self,
        who: &Principal,
        req: NewVault,
        placement: VaultPlacement,
    ) -> Result<VaultInfo> {
        who.authorize(Action::VaultsWrite, &Resource::Deployment)?;
        let mut rec = self.new_vault_record(req)?;
        rec.resource_group = placement.resource_group;
        rec.sku = placement.sku;
        let info = VaultInfo::from(&rec);
        self.store
            .write(move |txn| {
                let key = records::vault_key(&rec.name);
                match records::read_txn::<VaultRecord>(txn, &key)? {
                    Some(old) if old.deleted.is_some() => Err(Error::Conflict(format!(
                        "A deleted vault named '{}' exists; recover it or purge it first.",
                        rec.name
                    ))),
                    Some(_) => Err(Error::Conflict(format!(
                        "A vault named '{}' already exists.",
                        rec.name
                    ))),
                    None => records::write_txn(txn, &key, &rec),
                }
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
            resource_group: None,
            sku: None,
            deleted: None,
        })
    }

    /// Every vault of the deployment.
    pub fn list_vaults(&self, who: &Principal) -> Result<Vec<VaultInfo>> {
        who.authorize(Action::VaultsRead, &Resource::Deployment)?;
        let snap = self.snapshot()?;
        let p = records::vaults_prefix();
        let mut out = Vec::new();
        for (_, v) in snap.scan(&p, &prefix_end(&p), usize::MAX)? {
            let rec = records::decode::<VaultRecord>(&v)?;
            if rec.deleted.is_none() {
                out.push(VaultInfo::from(&rec));
            }
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
                erase_vault(txn, &vault)
            })
            .await?;
        self.access.clear();
        Ok(())
    }
}

/// Removes a vault and everything in it, in one transaction.
pub(crate) fn erase_vault(txn: &mut dyn keyhaven_store::WriteTxn, vault: &str) -> Result<()> {
    records::delete_range(txn, &records::vault_objects_prefix(vault))?;
    records::delete_range(txn, &records::vault_versions_prefix(vault))?;
    crate::access::delete_vault_assignments(txn, vault)?;
    for p in records::vault_settings_prefixes(vault) {
        records::delete_range(txn, &p)?;
    }
    txn.delete(&records::vault_key(vault))?;
    Ok(())
}
