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

/// `GET /metadata/endpoints` (Azure Resource Manager's cloud metadata, api-version 2022-09-01 shape): what
/// `az cloud register --endpoint-resource-manager URL` reads to fill in the rest of a cloud.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudMetadata {
    pub name: String,
    pub resource_manager: String,
    pub authentication: CloudAuthentication,
    pub suffixes: CloudSuffixes,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAuthentication {
    /// The token authority's host (`https://host:port`); tenants are paths below it.
    pub login_endpoint: String,
    /// Token audiences for the resource manager; the first is the one `az` asks for.
    pub audiences: Vec<String>,
    pub tenant: String,
    pub identity_provider: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudSuffixes {
    /// Vault host names are `{vault}.{keyVaultDns}` (with the port where it is not 443).
    pub key_vault_dns: String,
}

/// `POST /_keyhaven/geographies/{geo}/rotate`: the key new backups are sealed under from now on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeographyRotateResult {
    pub geography: String,
    pub active_key_id: String,
}
