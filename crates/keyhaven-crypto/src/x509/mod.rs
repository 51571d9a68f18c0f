//! X.509 certificates for Azure Key Vault "certificates": self-signed certificates and signing requests made
//! from a certificate policy, reading what a certificate says, and importing and exporting a key with its chain
//! as PKCS#12 (PFX) or PEM. All parsing, signing and encoding is OpenSSL's; a small DER reader covers the
//! certificate extensions OpenSSL has no accessor for.
//!
//! Subjects are written as Azure (and Windows, .NET and RFC 4514) write them: most specific attribute first,
//! `CN=www.contoso.com, O=Contoso, C=US`. That is the reverse of the order of the DER encoding, which is the order
//! OpenSSL prints (`C = US, O = Contoso, CN = www.contoso.com`). See [`CertificateRequest::subject`].
//!
//! Invalid input gives [`CryptoError::Malformed`] with a message that is safe to show to the caller: it never
//! holds key material or passwords.

mod bundle;
mod der;
mod extensions;
mod inspect;
mod issue;
mod name;
mod pem;
mod pkcs12;
mod pkcs12_cost;
#[cfg(test)]
mod tests;
mod validity;

pub use inspect::{inspect, matches_key};
pub use issue::{self_signed, signing_request};
pub use pem::{parse_pem, to_pem};
pub use pkcs12::{parse_pkcs12, to_pkcs12};
pub use pkcs12_cost::MAX_KDF_ITERATIONS as MAX_PKCS12_KDF_ITERATIONS;

use crate::keys::{Curve, KeyType, PrivateKey};
#[cfg(doc)]
use crate::CryptoError;

/// What an Azure certificate policy asks for: the subject, subject alternative names, key usages, extended key
/// usages and validity of a certificate (or of a certificate signing request, which ignores the validity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateRequest {
    /// Azure's form, most specific attribute first: `CN=www.contoso.com, O=Contoso, OU=IT, L=Redmond, ST=WA, C=US`.
    /// Attributes are separated by `,` or `;`, with any spaces around them; values may be double-quoted
    /// (`O="Contoso, Inc."`, `""` for a quote inside) or use backslash escapes (`\,`). Names (case-insensitive):
    /// CN, O, OU, L, ST or S, C, E or EMAIL or emailAddress, DC, STREET, SERIALNUMBER, T, G, SN, I, UID,
    /// POSTALCODE, and `OID.1.2.3`. It may be empty only when there are subject alternative names (they are then
    /// marked critical, as RFC 5280 requires).
    pub subject: String,
    /// DNS names for the subject alternative names (ASCII; wildcards such as `*.contoso.com` allowed).
    pub dns_names: Vec<String>,
    /// E-mail addresses (rfc822Name) for the subject alternative names.
    pub emails: Vec<String>,
    /// User principal names for the subject alternative names: otherName `1.3.6.1.4.1.311.20.2.3` holding a
    /// UTF8String.
    pub upns: Vec<String>,
    /// Key usages by Azure's names (case-insensitive): digitalSignature, nonRepudiation, keyEncipherment,
    /// dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly. The extension is critical;
    /// none means no extension.
    pub key_usage: Vec<String>,
    /// Extended key usages as dotted OIDs, such as `1.3.6.1.5.5.7.3.1` (server authentication) and
    /// `1.3.6.1.5.5.7.3.2` (client authentication); none means no extension.
    pub ekus: Vec<String>,
    /// Months of validity, 1 to 1200.
    pub validity_months: u32,
    /// Start of validity, unix seconds (the server's clock). The end is the same day of the month and time of day
    /// `validity_months` calendar months later, or the last day of that month when it is shorter (January 31 +
    /// 1 month = February 28 or 29).
    pub not_before: i64,
}

/// What a certificate says, as [`inspect`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject in Azure's form, most specific attribute first (`CN=a, O=b`); values with special characters
    /// are double-quoted; attributes without a short name are written `OID.1.2.3=value`.
    pub subject: String,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds.
    pub not_after: i64,
    /// SHA-1 of the DER certificate (Azure's `x5t`, before base64url).
    pub x5t: [u8; 20],
    /// The serial number, big-endian, without leading zero bytes.
    pub serial: Vec<u8>,
    /// DNS names among the subject alternative names.
    pub dns_names: Vec<String>,
    /// E-mail addresses (rfc822Name) among the subject alternative names.
    pub emails: Vec<String>,
    /// User principal names (otherName `1.3.6.1.4.1.311.20.2.3`) among the subject alternative names.
    pub upns: Vec<String>,
    /// Key usages by Azure's names, in bit order; empty when the certificate has no key usage extension.
    pub key_usage: Vec<String>,
    /// Extended key usages as dotted OIDs, in the certificate's order.
    pub ekus: Vec<String>,
    /// The type of the certificate's public key (RSA or EC).
    pub key_type: KeyType,
    /// RSA modulus bits; None for EC keys.
    pub key_size: Option<u32>,
    /// The curve of an EC key; None for RSA keys.
    pub curve: Option<Curve>,
}

/// A private key (when there is one) with its certificate chain, as read from or written to PKCS#12 or PEM.
#[derive(Debug)]
pub struct CertificateBundle {
    /// The private key; None for a file of certificates only.
    pub key: Option<PrivateKey>,
    /// DER certificates, leaf first (the certificate of `key`), then its issuers, then any others.
    pub chain: Vec<Vec<u8>>,
}
