//! A certificate policy on the wire (`CertificatePolicy` in the spec): how the key is made, what the certificate
//! says, how the secret is encoded, who issues it and what happens as it nears expiry. Every section is optional in
//! requests; responses carry every section.

use serde::{Deserialize, Serialize};

/// `key_props`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProperties {
    /// Whether the managed secret holds the private key with the certificate (default `true`); with `false`
    /// it holds the certificate only.
    pub exportable: Option<bool>,
    /// `RSA` (the default), `RSA-HSM`, `EC` or `EC-HSM`.
    pub kty: Option<String>,
    /// RSA: 2048 (the default), 3072 or 4096 bits. EC: may be given, and must then match the curve.
    pub key_size: Option<u32>,
    /// Whether a renewal keeps the current key (default `false`: every version gets a new key).
    pub reuse_key: Option<bool>,
    /// EC only: `P-256` (the default), `P-384`, `P-521` or `P-256K`.
    pub crv: Option<String>,
}

/// `secret_props`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretProperties {
    /// `application/x-pkcs12` (the default) or `application/x-pem-file`.
    #[serde(rename = "contentType")]
    pub content_type: Option<String>,
}

/// `x509_props.sans`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectAlternativeNames {
    /// E-mail addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// DNS names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// User principal names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upns: Vec<String>,
    /// IP addresses, IPv4 or IPv6 (api-version 2025-07-01).
    #[serde(rename = "ipAddresses", default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// URIs (api-version 2025-07-01).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
}

/// `x509_props`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509CertificateProperties {
    /// The subject as an X.500 name, e.g. `CN=www.contoso.com`. Required to issue a certificate.
    pub subject: Option<String>,
    /// Extended key usages as object identifiers. Default: server and client authentication
    /// (`1.3.6.1.5.5.7.3.1`, `1.3.6.1.5.5.7.3.2`).
    pub ekus: Option<Vec<String>>,
    /// Subject alternative names. An empty object counts as absent (on update: unchanged).
    pub sans: Option<SubjectAlternativeNames>,
    /// Key usages (`digitalSignature`, `keyEncipherment`, `keyAgreement`, …; any case). Default:
    /// `digitalSignature` with `keyEncipherment` (RSA) or `keyAgreement` (EC).
    pub key_usage: Option<Vec<String>>,
    /// How long a new certificate is valid, 1–1200 months (default 12).
    pub validity_months: Option<u32>,
}

/// `lifetime_actions[].trigger`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Act when this share of the certificate's lifetime has passed, 1–99.
    pub lifetime_percentage: Option<u32>,
    /// Act this many days before the certificate expires: at least 1 and less than its validity.
    pub days_before_expiry: Option<u32>,
}

/// `lifetime_actions[].action`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// `AutoRenew` (renews a self-issued certificate; for other issuers it records an event, as
    /// `EmailContacts` does) or `EmailContacts`; any case on input.
    pub action_type: Option<String>,
}

/// `lifetime_actions[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeAction {
    /// When to act; exactly one of its fields is given.
    #[serde(default)]
    pub trigger: Trigger,
    /// What to do.
    #[serde(default)]
    pub action: Action,
}

/// `issuer`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerParameters {
    /// `Self` (issued by Keyhaven), `Unknown` (sign the request elsewhere and merge), or an issuer configured
    /// in the vault (recorded; the certificate stays pending until merged). Any case for `Self` and `Unknown`.
    pub name: Option<String>,
    /// The certificate type to ask a certificate authority for (e.g. `OV-SSL`); recorded and returned only.
    pub cty: Option<String>,
    /// Whether a certificate authority should log the certificate publicly; recorded and returned only.
    pub cert_transparency: Option<bool>,
}

/// `attributes` of a policy.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAttributes {
    /// Whether the policy is enabled (default `true`); recorded and returned.
    pub enabled: Option<bool>,
    /// When the policy was first set, Unix seconds.
    pub created: Option<i64>,
    /// When the policy last changed, Unix seconds; set by the server.
    pub updated: Option<i64>,
}

/// A certificate policy.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatePolicy {
    /// `https://{vault}/certificates/{name}/policy` (responses only).
    pub id: Option<String>,
    /// How the key is made. Default: RSA 2048, exportable, a new key per version.
    pub key_props: Option<KeyProperties>,
    /// How the managed secret encodes the certificate. Default: PKCS#12.
    pub secret_props: Option<SecretProperties>,
    /// What the certificate says; its subject is required to create a certificate.
    pub x509_props: Option<X509CertificateProperties>,
    /// What happens as the certificate ages: at most one action. Default: at 80% of its lifetime, `AutoRenew`
    /// for issuer `Self`, `EmailContacts` otherwise.
    pub lifetime_actions: Option<Vec<LifetimeAction>>,
    /// Who issues the certificate. Default: `Unknown`.
    pub issuer: Option<IssuerParameters>,
    /// The policy's own attributes.
    pub attributes: Option<PolicyAttributes>,
}
