//! The Azure Key Vault wire contract (api-version 7.5, accepting 7.0–7.6 and newer): request and response
//! bodies, the error envelope, api-version and paging rules. Shared by the server and the `keyhaven` client.

pub mod b64url;
pub mod certificate_policy;
pub mod certificates;
pub mod error;
pub mod identity;
pub mod keys;
pub mod management;
pub mod principals;
pub mod rbac;
pub mod secrets;
pub mod vault_backup;

pub use error::{ErrorBody, ErrorDetail, InnerError};

/// The api-version this server implements.
pub const API_VERSION: &str = "7.5";

/// A list response page (`{"value": [...], "nextLink": ...}`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResult<T> {
    pub value: Vec<T>,
    pub next_link: Option<String>,
}

/// The attributes sent with a write (`enabled`, `nbf`, `exp`); read-only fields a client echoes are ignored.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AttributesIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// The attributes returned on every object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributesOut {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub created: i64,
    pub updated: i64,
    pub recoverable_days: u32,
    pub recovery_level: String,
}

/// `{"value": "<base64url>"}`: a backup result or a restore request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BackupBlob {
    pub value: String,
}

/// The fields a deleted object carries besides its own (`recoveryId`, `deletedDate`, `scheduledPurgeDate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_purge_date: Option<i64>,
}
