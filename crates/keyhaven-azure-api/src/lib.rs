//! The Azure Key Vault wire contract (api-version 7.5, accepting 7.0–7.6 and newer): request and response
//! bodies, the error envelope, api-version and paging rules. Shared by the server and the `keyhaven` client.
#![warn(missing_docs)]

pub mod arm;
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
pub mod storage_backup;
pub mod vault_backup;

pub use error::{ErrorBody, ErrorDetail, InnerError};

/// The api-version this server implements.
pub const API_VERSION: &str = "7.5";

/// A list response page (`{"value": [...], "nextLink": ...}`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResult<T> {
    /// This page's items.
    pub value: Vec<T>,
    /// The absolute URL of the next page, on the same vault; `null` (written, not left out, as Azure does) on
    /// the last page.
    pub next_link: Option<String>,
}

/// The attributes sent with a write (`enabled`, `nbf`, `exp`); read-only fields a client echoes are ignored.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AttributesIn {
    /// Whether the version may be used. Absent: unchanged (a new version is enabled).
    pub enabled: Option<bool>,
    /// Not before, Unix seconds. Absent or `null`: unchanged (none for a new version); an update cannot remove
    /// it.
    pub nbf: Option<i64>,
    /// Expiry, Unix seconds. Absent or `null`: unchanged (none for a new version); an update cannot remove it.
    pub exp: Option<i64>,
}

/// The attributes returned on every object.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributesOut {
    /// Whether the version may be used; a disabled version's value, key or certificate is refused.
    pub enabled: bool,
    /// Not before, Unix seconds; absent when the version has none.
    pub nbf: Option<i64>,
    /// Expiry, Unix seconds; absent when the version never expires.
    pub exp: Option<i64>,
    /// When the version was created, Unix seconds.
    pub created: i64,
    /// When the version or its attributes last changed, Unix seconds.
    pub updated: i64,
    /// The vault's soft-delete retention (7–90 days): how long a deleted object stays recoverable.
    pub recoverable_days: u32,
    /// How the vault keeps deleted objects: `Recoverable+Purgeable` (90 days), `Recoverable` (90 days, purge
    /// protection), or `CustomizedRecoverable+Purgeable` / `CustomizedRecoverable` for a shorter retention.
    pub recovery_level: String,
    /// Keys only: whether secure key release may export the key.
    pub exportable: Option<bool>,
}

/// `{"value": "<base64url>"}`: a backup result or a restore request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BackupBlob {
    /// The opaque bytes, base64url without padding: an object backup blob (`docs/backup-format.md`, sealed
    /// under the vault's geography key), or a geography export in the management API.
    pub value: String,
}

/// The fields a deleted object carries besides its own (`recoveryId`, `deletedDate`, `scheduledPurgeDate`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedFields {
    /// `https://{vault}/deleted{secrets|keys|certificates}/{name}`, where the deleted object is read, recovered
    /// and purged; absent for a live object.
    pub recovery_id: Option<String>,
    /// When the object was deleted, Unix seconds; absent for a live object.
    pub deleted_date: Option<i64>,
    /// When the object will be purged for good (deletion time plus the vault's retention), Unix seconds;
    /// absent for a live object.
    pub scheduled_purge_date: Option<i64>,
}
