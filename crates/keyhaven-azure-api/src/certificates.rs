//! Certificates: bundles, items, create/import/merge/update parameters, operations, contacts and issuers. A
//! certificate policy is in `certificate_policy`.

use crate::{AttributesIn, AttributesOut, DeletedFields};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A certificate version; with the deleted fields, a deleted certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateBundle {
    pub id: String,
    pub kid: String,
    pub sid: String,
    /// Absent while the version is pending (its certificate not yet merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub attributes: AttributesOut,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::certificate_policy::CertificatePolicy>,
    #[serde(flatten)]
    pub deleted: DeletedFields,
}

/// An item of a certificate listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateItem {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    pub attributes: AttributesOut,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(flatten)]
    pub deleted: DeletedFields,
}

/// `POST /certificates/{name}/create`; also `PATCH /certificates/{name}/{version}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CertificateCreateParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::certificate_policy::CertificatePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// `POST /certificates/{name}/import`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateImportParameters {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::certificate_policy::CertificatePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// `POST /certificates/{name}/pending/merge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateMergeParameters {
    pub x5c: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttributesIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// `PATCH /certificates/{name}/pending`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateOperationUpdateParameter {
    pub cancellation_requested: bool,
}

/// `{code, message}` of a failed operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationErrorDto {
    pub code: String,
    pub message: String,
}

/// A certificate operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateOperationDto {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    pub cancellation_requested: bool,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationErrorDto>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub request_id: String,
}

/// A vault's certificate contacts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactsDto {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub contacts: Vec<Value>,
}

/// An issuer's credentials (the password is accepted, never returned).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssuerCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd: Option<String>,
}

/// The organization an issuer knows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrganizationDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_details: Option<Vec<Value>>,
}

/// An issuer's attributes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssuerAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
}

/// `PUT`/`PATCH /certificates/issuers/{name}` and the issuer returned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssuerBundle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<IssuerCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_details: Option<OrganizationDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<IssuerAttributes>,
}

/// An item of the issuer listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerItem {
    pub id: String,
    pub provider: String,
}

/// `PATCH /certificates/{name}[/{version}]`: the same fields as a create (policy, attributes, tags).
pub type CertificateUpdateParameters = CertificateCreateParameters;
