//! Certificates: bundles, items, create/import/merge/update parameters, operations, contacts and issuers. A
//! certificate policy is in `certificate_policy`.

use crate::{AttributesIn, AttributesOut, DeletedFields};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A certificate version; with the deleted fields, a deleted certificate.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateBundle {
    /// `https://{vault}/certificates/{name}/{version}`.
    pub id: String,
    /// The managed key's version, `https://{vault}/keys/{name}/{version}`.
    pub kid: String,
    /// The managed secret's version (certificate and key, as PKCS#12 or PEM),
    /// `https://{vault}/secrets/{name}/{version}`.
    pub sid: String,
    /// The SHA-1 thumbprint of the DER certificate, base64url; absent while the version is pending (its
    /// certificate not yet merged).
    pub x5t: Option<String>,
    /// The certificate, DER in standard base64; absent while the version is pending.
    pub cer: Option<String>,
    /// How the managed secret encodes the certificate: `application/x-pkcs12` or `application/x-pem-file`.
    pub content_type: Option<String>,
    /// The version's attributes; `nbf` and `exp` are the certificate's validity.
    pub attributes: AttributesOut,
    /// The version's tags; left out when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The certificate's policy.
    pub policy: Option<crate::certificate_policy::CertificatePolicy>,
    /// Whether the managed secret keeps an imported or merged chain in the order given (api-version 7.6); absent
    /// unless the certificate's create or import said.
    pub preserve_cert_order: Option<bool>,
    /// The deleted-object fields, present only for a deleted certificate.
    #[serde(flatten)]
    pub deleted: DeletedFields,
}

/// An item of a certificate listing.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateItem {
    /// `https://{vault}/certificates/{name}`, or with `/{version}` in a listing of versions.
    pub id: String,
    /// The SHA-1 thumbprint of the DER certificate, base64url; absent while the version is pending.
    pub x5t: Option<String>,
    /// The (latest, in a listing of certificates) version's attributes.
    pub attributes: AttributesOut,
    /// The version's tags; left out when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The deleted-object fields, present only in a listing of deleted certificates.
    #[serde(flatten)]
    pub deleted: DeletedFields,
}

/// `POST /certificates/{name}/create`; also `PATCH /certificates/{name}/{version}`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CertificateCreateParameters {
    /// The policy. Required on create (sections left out get Azure's defaults); on update, its sections and
    /// fields are laid over the current policy. Absent on update: unchanged.
    pub policy: Option<crate::certificate_policy::CertificatePolicy>,
    /// Only `enabled` is used (a certificate's `nbf` and `exp` come from the certificate itself). Absent: enabled
    /// (on update: unchanged).
    pub attributes: Option<AttributesIn>,
    /// The tags (limits as for secrets). Absent: none (on update: unchanged).
    pub tags: Option<BTreeMap<String, String>>,
    /// Create only (api-version 7.6): whether the managed secret keeps the chain a later merge gives in that
    /// order; by default the leaf comes first.
    #[serde(rename = "preserveCertOrder")]
    pub preserve_cert_order: Option<bool>,
}

/// `POST /certificates/{name}/import`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateImportParameters {
    /// The certificate with its private key and chain: PKCS#12 in standard base64, or PEM text.
    pub value: String,
    /// The PKCS#12 password, if the file has one.
    pub pwd: Option<String>,
    /// The policy to keep for the certificate; absent or partial, it is completed from the certificate itself.
    pub policy: Option<crate::certificate_policy::CertificatePolicy>,
    /// Only `enabled` is used (a certificate's `nbf` and `exp` come from the certificate itself). Absent:
    /// enabled.
    pub attributes: Option<AttributesIn>,
    /// The tags, at most 15 (names 1–512, values up to 256 characters). Absent: none.
    pub tags: Option<BTreeMap<String, String>>,
    /// Whether the managed secret keeps the chain in the order the file gives it (api-version 7.6); by default
    /// the leaf comes first.
    #[serde(rename = "preserveCertOrder")]
    pub preserve_cert_order: Option<bool>,
}

/// `POST /certificates/{name}/pending/merge`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateMergeParameters {
    /// The signed certificate and its issuers, each DER in standard base64, in any order; one of them must hold
    /// the pending version's public key.
    pub x5c: Vec<String>,
    /// Only `enabled` is used (a certificate's `nbf` and `exp` come from the certificate itself). Absent: as
    /// asked on create (enabled by default).
    pub attributes: Option<AttributesIn>,
    /// The tags. Absent: those given when the certificate was created.
    pub tags: Option<BTreeMap<String, String>>,
}

/// `PATCH /certificates/{name}/pending`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateOperationUpdateParameter {
    /// `true` to cancel the pending operation.
    pub cancellation_requested: bool,
}

/// `{code, message}` of a failed operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationErrorDto {
    /// A machine-readable code, e.g. `IssuerNotAvailable`.
    pub code: String,
    /// A message for people.
    pub message: String,
}

/// A certificate operation.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateOperationDto {
    /// `https://{vault}/certificates/{name}/pending`.
    pub id: String,
    /// The policy's issuer section (`name`, `cty`, `cert_transparency`).
    pub issuer: Option<Value>,
    /// The PKCS#10 signing request, DER in standard base64, for an outside authority to sign (issuer `Unknown`
    /// or a configured issuer); absent for issuer `Self`.
    pub csr: Option<String>,
    /// Whether cancellation was asked for.
    pub cancellation_requested: bool,
    /// `inProgress`, `completed`, `failed` or `cancelled`. The answer to a create always says `inProgress`
    /// (some SDK pollers rely on it); the next `GET …/pending` gives the real status.
    pub status: String,
    /// What the status means, for people.
    pub status_details: Option<String>,
    /// Why the operation failed; absent unless it did.
    pub error: Option<OperationErrorDto>,
    /// `https://{vault}/certificates/{name}` once the operation has completed; absent before.
    pub target: Option<String>,
    /// A UUID naming this operation.
    pub request_id: String,
    /// Whether the merged chain keeps its order (api-version 7.6); absent unless the create said.
    #[serde(rename = "preserveCertOrder")]
    pub preserve_cert_order: Option<bool>,
}

/// A vault's certificate contacts.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactsDto {
    /// `https://{vault}/certificates/contacts` (responses only).
    pub id: Option<String>,
    /// The contacts, each `{"email", "name", "phone"}` (all optional).
    #[serde(default)]
    pub contacts: Vec<Value>,
}

/// An issuer's credentials (the password is accepted, never returned).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssuerCredentials {
    /// The account at the provider.
    pub account_id: Option<String>,
    /// The account's password or API key: stored sealed, never returned.
    pub pwd: Option<String>,
}

/// The organization an issuer knows.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrganizationDetails {
    /// The organization's id at the provider.
    pub id: Option<String>,
    /// The organization's administrators, each `{"first_name", "last_name", "email", "phone"}` (all
    /// optional).
    pub admin_details: Option<Vec<Value>>,
}

/// An issuer's attributes.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssuerAttributes {
    /// Whether the issuer may be used. Absent on input: enabled (on update: unchanged).
    pub enabled: Option<bool>,
    /// When the issuer was set up, Unix seconds (responses only).
    pub created: Option<i64>,
    /// When the issuer last changed, Unix seconds (responses only).
    pub updated: Option<i64>,
}

/// `PUT`/`PATCH /certificates/issuers/{name}` and the issuer returned.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IssuerBundle {
    /// `https://{vault}/certificates/issuers/{name}` (responses only).
    pub id: Option<String>,
    /// The issuer's provider (e.g. `DigiCert`, `GlobalSign`). Keyhaven records issuers but requests no
    /// certificates from them: a certificate with a configured issuer stays pending until merged.
    pub provider: Option<String>,
    /// The account at the provider; the password is never returned.
    pub credentials: Option<IssuerCredentials>,
    /// The organization the provider knows; absent when none was given.
    pub org_details: Option<OrganizationDetails>,
    /// The issuer's attributes.
    pub attributes: Option<IssuerAttributes>,
}

/// An item of the issuer listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerItem {
    /// `https://{vault}/certificates/issuers/{name}`.
    pub id: String,
    /// The issuer's provider.
    pub provider: String,
}

/// `PATCH /certificates/{name}[/{version}]`: the same fields as a create (policy, attributes, tags).
pub type CertificateUpdateParameters = CertificateCreateParameters;
