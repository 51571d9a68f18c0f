//! Azure's full backup and restore through Blob Storage (`backuprestore.json`, the `KeyVaultBackupClient`'s
//! operations): `POST /backup` and `POST /prebackup` name a container and its SAS token; `PUT /restore`,
//! `PUT /prerestore` and `PUT /keys/{name}/restore` name a folder in one. The status document of every such job is
//! Azure's `FullBackupOperation` / `RestoreOperation` (see the server's status handler).

use serde::{Deserialize, Serialize};

/// `SASTokenParameter` (the body of `POST /backup` and `POST /prebackup`, and `sasTokenParameters` of a restore):
/// a Blob Storage container and how to reach it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SasTokenParameter {
    /// The container's URL, `https://{account}.blob.core.windows.net/{container}` (or Azurite's
    /// `http://127.0.0.1:10000/{account}/{container}`).
    #[serde(default)]
    pub storage_resource_uri: String,
    /// A shared access signature for the container (the query string, with or without its `?`).
    #[serde(default)]
    pub token: Option<String>,
    /// Whether to use the vault's managed identity instead of a token (Keyhaven has none: refused).
    #[serde(default)]
    pub use_managed_identity: bool,
}

/// `PUT /restore` and `PUT /prerestore` (`RestoreOperationParameters`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOperationParameters {
    /// The container the backup is in.
    #[serde(default)]
    pub sas_token_parameters: Option<SasTokenParameter>,
    /// The backup's folder in that container (the last segments of the folder URL a backup reported).
    #[serde(default)]
    pub folder_to_restore: Option<String>,
}

/// `PUT /keys/{name}/restore` (`SelectiveKeyRestoreOperationParameters`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectiveKeyRestoreParameters {
    /// The container the backup is in.
    #[serde(default)]
    pub sas_token_parameters: Option<SasTokenParameter>,
    /// The backup's folder in that container.
    #[serde(default)]
    pub folder: Option<String>,
}
