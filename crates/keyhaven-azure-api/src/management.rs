//! Keyhaven's own management API (`/_keyhaven/...`): vaults and geographies.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultCreate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    #[serde(default)]
    pub purge_protection: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    pub name: String,
    pub location: String,
    pub geography: String,
    pub retention_days: u32,
    pub purge_protection: bool,
    pub created: i64,
    pub vault_uri: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultList {
    pub value: Vec<Vault>,
}

/// `POST /_keyhaven/geographies/{geo}/export` and `POST /_keyhaven/geographies/import`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeographyExportRequest {
    pub passphrase: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeographyImportRequest {
    pub passphrase: String,
    /// The export file, base64url.
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeographyImportResult {
    pub subscription_id: String,
    pub geography: String,
    pub active_key_id: String,
    pub key_ids: Vec<String>,
}

/// `GET /_keyhaven/deployment`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInfo {
    pub subscription_id: String,
    pub tenant_id: String,
    pub dns_suffix: String,
    pub locations: std::collections::BTreeMap<String, String>,
}
