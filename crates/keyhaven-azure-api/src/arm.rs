//! The part of Azure Resource Manager's `Microsoft.KeyVault/vaults` that `az keyvault create/show/list/delete/
//! purge/recover` and `azure-mgmt-keyvault` use: the vault resource, its properties, and deleted vaults.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `PUT …/vaults/{name}` (`VaultCreateOrUpdateParameters`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultCreateOrUpdate {
    /// The Azure location (one of Keyhaven's locations).
    pub location: Option<String>,
    /// Resource tags (Keyhaven keeps none: refused when given).
    #[serde(default)]
    pub tags: Option<Map<String, Value>>,
    /// The vault's properties.
    #[serde(default)]
    pub properties: VaultPropertiesIn,
}

/// `VaultProperties` as a request gives them. Fields Keyhaven does not act on are listed so that a value that would
/// change what the vault does can be refused rather than dropped.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultPropertiesIn {
    /// The tenant whose tokens the vault accepts (must be the deployment's).
    pub tenant_id: Option<String>,
    /// `{family: "A", name: "standard"|"premium"}`.
    pub sku: Option<Sku>,
    /// Access policies (Keyhaven authorizes with roles only: must be empty).
    #[serde(default)]
    pub access_policies: Option<Vec<Value>>,
    /// Role-based authorization of data actions (Keyhaven's only kind: `false` is refused).
    pub enable_rbac_authorization: Option<bool>,
    /// Soft delete (always on: `false` is refused, as Azure does).
    pub enable_soft_delete: Option<bool>,
    /// How long deleted objects and the deleted vault stay recoverable, 7–90 days.
    pub soft_delete_retention_in_days: Option<u32>,
    /// Purge protection (cannot be turned off once on).
    pub enable_purge_protection: Option<bool>,
    /// `default` or `recover` (bring a deleted vault back).
    pub create_mode: Option<String>,
    /// Network rules: only allow-all is possible here.
    pub network_acls: Option<NetworkAcls>,
    /// `Enabled` (or absent); `Disabled` is refused.
    pub public_network_access: Option<String>,
}

/// A vault's SKU.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    /// Always `A`.
    #[serde(default)]
    pub family: Option<String>,
    /// `standard` or `premium`.
    pub name: String,
}

/// `NetworkRuleSet`, as far as Keyhaven reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAcls {
    /// `Allow` or `Deny`.
    pub default_action: Option<String>,
}

/// A vault resource (`Vault`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultResource {
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}`.
    pub id: String,
    /// The vault's name.
    pub name: String,
    /// `Microsoft.KeyVault/vaults`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The vault's location.
    pub location: String,
    /// Always empty.
    pub tags: Map<String, Value>,
    /// The vault's properties.
    pub properties: VaultPropertiesOut,
}

/// `VaultProperties` as Keyhaven reports them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultPropertiesOut {
    /// The deployment's tenant.
    pub tenant_id: String,
    /// The recorded SKU.
    pub sku: Sku,
    /// Always empty (roles authorize).
    pub access_policies: Vec<Value>,
    /// The data-plane URL.
    pub vault_uri: String,
    /// Always `false`.
    pub enabled_for_deployment: bool,
    /// Always `false`.
    pub enabled_for_disk_encryption: bool,
    /// Always `false`.
    pub enabled_for_template_deployment: bool,
    /// Always `true`.
    pub enable_soft_delete: bool,
    /// Retention of deleted objects and of the deleted vault, in days.
    pub soft_delete_retention_in_days: u32,
    /// Always `true`.
    pub enable_rbac_authorization: bool,
    /// `true`, or absent (Azure reports no `false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_purge_protection: Option<bool>,
    /// Always `Succeeded`: every change is done when the answer is given.
    pub provisioning_state: &'static str,
    /// Always `Enabled`.
    pub public_network_access: &'static str,
}

/// A list of resources (`{value: [...]}`, one page).
#[derive(Debug, Clone, Serialize)]
pub struct ResourceList<T> {
    /// The resources.
    pub value: Vec<T>,
}

/// A deleted vault (`DeletedVault`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedVaultResource {
    /// `/subscriptions/{s}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{name}`.
    pub id: String,
    /// The vault's name.
    pub name: String,
    /// `Microsoft.KeyVault/deletedVaults`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its properties.
    pub properties: DeletedVaultProperties,
}

/// `DeletedVaultProperties`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedVaultProperties {
    /// The vault's resource id (with its resource group), as it was.
    pub vault_id: String,
    /// Its location.
    pub location: String,
    /// When it was deleted (RFC 3339).
    pub deletion_date: String,
    /// When it will be purged (RFC 3339).
    pub scheduled_purge_date: String,
    /// Always empty.
    pub tags: Map<String, Value>,
    /// Whether it has purge protection.
    pub purge_protection_enabled: bool,
}

/// A resource group (`ResourceGroup`): in Keyhaven only a name vaults record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupResource {
    /// `/subscriptions/{s}/resourceGroups/{name}`.
    pub id: String,
    /// The group's name.
    pub name: String,
    /// `Microsoft.Resources/resourceGroups`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The deployment's default location.
    pub location: String,
    /// `{provisioningState: "Succeeded"}`.
    pub properties: Value,
}
