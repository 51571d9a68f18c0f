//! Reading what a certificate says, and whether it belongs to a key.

use super::der::{self, Der};
use super::{extensions, name, validity, CertificateInfo};
use crate::keys::{curve_of, KeyType, PrivateKey};
use crate::CryptoError;
use openssl::pkey::Id;
use openssl::x509::X509;

/// The message for bytes that are not one DER certificate.
pub(super) const NOT_A_CERTIFICATE: &str = "the data is not a valid X.509 certificate (DER)";

/// Reads one DER certificate; anything else (including trailing bytes, or PEM text) is malformed.
pub(super) fn read_certificate(bytes: &[u8]) -> Result<X509, CryptoError> {
    if bytes.starts_with(b"-----BEGIN") {
        return Err(CryptoError::Malformed(
            "the data is PEM text; a DER X.509 certificate was expected".into(),
        ));
    }
    let cert =
        X509::from_der(bytes).map_err(|_| CryptoError::Malformed(NOT_A_CERTIFICATE.into()))?;
    // d2i_X509 stops after one certificate; more bytes mean the input is not just a certificate.
    let mut outer = Der::new(bytes);
    if outer.expect(der::SEQUENCE).is_err() || !outer.is_empty() {
        return Err(CryptoError::Malformed(format!(
            "{NOT_A_CERTIFICATE}: it is not exactly one certificate"
        )));
    }
    Ok(cert)
}

/// What a DER certificate says: subject (Azure's text form, most specific attribute first), validity, SHA-1
/// thumbprint (`x5t`), serial number (big-endian magnitude), subject alternative names (DNS, e-mail, UPN), key
/// usage (Azure's names), extended key usages (dotted OIDs) and its public key's type, size (RSA modulus bits;
/// None for EC) and curve (EC).
///
/// Bytes that are not one DER certificate, and certificates whose key is neither RSA nor EC on a supported curve,
/// give [`CryptoError::Malformed`].
pub fn inspect(der: &[u8]) -> Result<CertificateInfo, CryptoError> {
    let cert = read_certificate(der)?;
    let e = CryptoError::openssl;
    let found = extensions::read(der)?;
    let public = cert.public_key().map_err(|_| {
        CryptoError::Malformed("the certificate's public key cannot be read".into())
    })?;
    let (key_type, key_size, curve) = match public.id() {
        Id::RSA => (KeyType::Rsa, Some(public.bits()), None),
        Id::EC => {
            let ec = public.ec_key().map_err(e)?;
            (KeyType::Ec, None, Some(curve_of(ec.group().curve_name())?))
        }
        _ => {
            return Err(CryptoError::Malformed(
                "the certificate's public key is neither RSA nor EC; Azure Key Vault certificates hold RSA or EC keys"
                    .into(),
            ))
        }
    };
    Ok(CertificateInfo {
        subject: name::format_name(cert.subject_name())?,
        not_before: validity::unix_time(cert.not_before())?,
        not_after: validity::unix_time(cert.not_after())?,
        x5t: openssl::sha::sha1(der),
        serial: cert.serial_number().to_bn().map_err(e)?.to_vec(),
        dns_names: found.dns_names,
        emails: found.emails,
        upns: found.upns,
        ip_addresses: found.ip_addresses,
        uris: found.uris,
        key_usage: found.key_usage,
        ekus: found.ekus,
        key_type,
        key_size,
        curve,
    })
}

/// Whether the public key in a DER certificate is the public part of `key`. An oct key matches no certificate
/// (Ok(false)); bytes that are not a certificate give [`CryptoError::Malformed`].
pub fn matches_key(cert_der: &[u8], key: &PrivateKey) -> Result<bool, CryptoError> {
    let cert = read_certificate(cert_der)?;
    if key.key_type() == KeyType::Oct {
        return Ok(false);
    }
    let pkey = key.to_pkey()?;
    Ok(matches(&cert, &pkey))
}

/// Whether `cert` holds the public part of `pkey`.
pub(super) fn matches(
    cert: &openssl::x509::X509Ref,
    pkey: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
) -> bool {
    match cert.public_key() {
        Ok(public) => public.public_eq(pkey),
        Err(_) => false,
    }
}
