//! A certificate's create operation: pending while an outside authority signs its request, then completed,
//! failed or cancelled. One per certificate; kept after it finishes until deleted (as Azure does). While it is
//! pending, the certificate's version it will complete exists disabled, without a certificate, with its managed
//! key (whose private part never leaves the vault).

use super::policy::{CertificatePolicy, IssuerRef};
use crate::Error;
use keyhaven_model::ObjectName;
use keyhaven_model::{Tags, Version};
use serde::{Deserialize, Serialize};
use serde_with::base64::Base64;

/// Where a certificate's create operation stands (Azure's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OperationStatus {
    /// Waiting for the certificate (an outside authority's signature, merged later).
    InProgress,
    /// The certificate version was made (issued by Keyhaven, or merged).
    Completed,
    /// The certificate could not be issued; [`CertificateOperation::error`] says why.
    Failed,
    /// Cancelled while in progress: nothing can be merged into it any more.
    Cancelled,
}

impl OperationStatus {
    /// `inProgress`, `completed`, `failed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::InProgress => "inProgress",
            OperationStatus::Completed => "completed",
            OperationStatus::Failed => "failed",
            OperationStatus::Cancelled => "cancelled",
        }
    }
}

/// An operation's error (Azure's `{code, message}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationError {
    /// A stable name for the failure (e.g. `IssuerNotAvailable`).
    pub code: String,
    /// What went wrong and what to do instead.
    pub message: String,
}

/// What is stored.
#[serde_with::serde_as]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OperationRecord {
    pub name: String,
    pub request_id: String,
    pub issuer: IssuerRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<Base64>")]
    pub csr: Option<Vec<u8>>,
    pub cancellation_requested: bool,
    pub status: OperationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OperationError>,
    /// The version the operation makes (pending until completed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Version>,
    /// The policy the certificate will be issued under.
    pub policy: CertificatePolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde_as(as = "Option<Base64>")]
    pub sealed_key: Option<Vec<u8>>,
    pub created: i64,
}

/// A certificate operation as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateOperation {
    /// The certificate's name.
    pub name: String,
    /// The operation's id (a UUID), new for every create.
    pub request_id: String,
    /// The issuer the policy named when the operation started.
    pub issuer: IssuerRef,
    /// The PKCS#10 request (DER) an outside authority is to sign.
    pub csr: Option<Vec<u8>>,
    /// Whether a caller asked to cancel it.
    pub cancellation_requested: bool,
    /// Where it stands.
    pub status: OperationStatus,
    /// A sentence on where it stands, for people.
    pub status_details: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<OperationError>,
    /// Set once completed: the certificate now has the version it made.
    pub completed: bool,
    /// Whether a merged chain keeps the order given (`preserveCertOrder`, as asked on create).
    pub preserve_cert_order: Option<bool>,
}

impl From<&OperationRecord> for CertificateOperation {
    fn from(r: &OperationRecord) -> Self {
        CertificateOperation {
            name: r.name.clone(),
            request_id: r.request_id.clone(),
            issuer: r.issuer.clone(),
            csr: r.csr.clone(),
            cancellation_requested: r.cancellation_requested,
            status: r.status,
            status_details: r.status_details.clone(),
            error: r.error.clone(),
            completed: r.status == OperationStatus::Completed,
            preserve_cert_order: r.policy.preserve_cert_order,
        }
    }
}

pub(crate) fn in_progress(name: &ObjectName) -> Error {
    Error::Conflict(format!(
        "Certificate '{name}' has an operation in progress; merge, cancel or delete it first."
    ))
}

pub(crate) fn no_operation(name: &ObjectName) -> Error {
    Error::NotFound {
        kind: keyhaven_model::ObjectKind::Certificate,
        message: format!("Pending certificate not found: {name}"),
    }
}
