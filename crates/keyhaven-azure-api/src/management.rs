//! Keyhaven's own management API (`/_keyhaven/...`): vaults and geographies.

use serde::{Deserialize, Serialize};

/// `PUT /_keyhaven/vaults/{name}`: a new vault's settings (an empty body takes every default).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultCreate {
    /// One of the deployment's locations (see [`DeploymentInfo::locations`]). Absent: the default location.
    pub location: Option<String>,
    /// How long deleted objects stay recoverable, 7–90 days. Absent: the server's default.
    pub retention_days: Option<u32>,
    /// Whether deleted objects may not be purged before their retention ends (default `false`).
    #[serde(default)]
    pub purge_protection: bool,
}

/// A vault, as the management API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vault {
    /// The vault's name, in lower case (3–24 letters, digits and dashes).
    pub name: String,
    /// The vault's location.
    pub location: String,
    /// The geography of that location: backups of the vault's objects restore only into vaults of the same
    /// geography (and subscription).
    pub geography: String,
    /// How long deleted objects stay recoverable, in days.
    pub retention_days: u32,
    /// Whether deleted objects may not be purged before their retention ends.
    pub purge_protection: bool,
    /// When the vault was created, Unix seconds.
    pub created: i64,
    /// The vault's data-plane URL, `https://{name}.{dns suffix}[:port]/`.
    pub vault_uri: String,
    /// Whether the vault takes writes now (absent from servers of earlier versions: read-write).
    #[serde(default)]
    pub mode: VaultMode,
}

/// Whether a vault takes writes: read-only during a read-only failover (its database is a hot standby), as an
/// Azure vault during a failover to its paired region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VaultMode {
    /// Reads and writes.
    #[default]
    ReadWrite,
    /// Reads, cryptographic operations and backups; writes are refused (503) until the standby is promoted.
    ReadOnly,
}

/// `GET /_keyhaven/vaults/{name}/data-key` and `POST …/data-key/rotate`: the vault's active data key (never the
/// key itself): the key that seals what the vault stores from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultDataKey {
    /// The key's generation: 0 for the vault's first key, one more at each rotation.
    pub generation: u32,
    /// When it was created, Unix seconds.
    pub created: i64,
    /// Values it has sealed, as last counted (counted every maintenance interval); it is rotated automatically
    /// at the configured number (`vault-key-rotate-after-seals`).
    pub seals: u64,
}

/// `GET /_keyhaven/vaults`: every vault the caller may see.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultList {
    /// The vaults.
    pub value: Vec<Vault>,
}

/// `POST /_keyhaven/geographies/{geo}/export` and `POST /_keyhaven/geographies/import`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeographyExportRequest {
    /// The passphrase the export is sealed under; the import needs the same one.
    pub passphrase: String,
}

/// `POST /_keyhaven/geographies/import`: a geography export to import, which makes this deployment join the
/// export's subscription and geography (a disaster-recovery site).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeographyImportRequest {
    /// The passphrase the export was sealed under.
    pub passphrase: String,
    /// The export file, base64url.
    pub value: String,
}

/// What a geography import brought in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeographyImportResult {
    /// The subscription (a UUID) the geography's keys are bound to.
    pub subscription_id: String,
    /// The geography's name.
    pub geography: String,
    /// The id (32 hex characters) of the key new backups are sealed under.
    pub active_key_id: String,
    /// The ids of every key of the geography, the retired ones included (old backups still restore).
    pub key_ids: Vec<String>,
}

/// `GET /_keyhaven/deployment`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInfo {
    /// The deployment's subscription id (a UUID).
    pub subscription_id: String,
    /// The tenant tokens are issued for.
    pub tenant_id: String,
    /// The DNS suffix of vault host names, `{vault}.{dns_suffix}` (without the port).
    pub dns_suffix: String,
    /// The locations vaults may be created in, each with its geography.
    pub locations: std::collections::BTreeMap<String, String>,
}

/// `GET /metadata/endpoints` (Azure Resource Manager's cloud metadata, api-version 2022-09-01 shape): what
/// `az cloud register --endpoint-resource-manager URL` reads to fill in the rest of a cloud.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudMetadata {
    /// The cloud's name, `Keyhaven`.
    pub name: String,
    /// The resource manager's URL: this server, `https://host:port/`.
    pub resource_manager: String,
    /// Where and for whom tokens are issued.
    pub authentication: CloudAuthentication,
    /// The DNS suffixes of the cloud's services.
    pub suffixes: CloudSuffixes,
}

/// `authentication` of [`CloudMetadata`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAuthentication {
    /// The token authority's host (`https://host:port`); tenants are paths below it.
    pub login_endpoint: String,
    /// Token audiences for the resource manager; the first is the one `az` asks for.
    pub audiences: Vec<String>,
    /// The deployment's tenant id.
    pub tenant: String,
    /// `AAD`, as Azure says.
    pub identity_provider: String,
}

/// `suffixes` of [`CloudMetadata`].
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
    /// The geography's name.
    pub geography: String,
    /// The id (32 hex characters) of the new active key; the previous keys stay, so old backups restore.
    pub active_key_id: String,
}
