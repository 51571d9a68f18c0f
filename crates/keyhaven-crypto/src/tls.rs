use crate::CryptoError;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use zeroize::Zeroizing;

/// A certificate and its private key, both PEM.
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key, PEM (the keys issued here are EC P-256, PKCS#8); zeroized on drop.
    pub key_pem: Zeroizing<Vec<u8>>,
}

fn new_key() -> Result<PKey<Private>, CryptoError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(CryptoError::openssl)?;
    let ec = EcKey::generate(&group).map_err(CryptoError::openssl)?;
    PKey::from_ec_key(ec).map_err(CryptoError::openssl)
}

fn serial() -> Result<Asn1Integer, CryptoError> {
    let mut b = crate::random_bytes::<16>()?;
    b[0] &= 0x7f;
    BigNum::from_slice(&b)
        .and_then(|bn| bn.to_asn1_integer())
        .map_err(CryptoError::openssl)
}

fn builder(cn: &str, days: u32, key: &PKey<Private>) -> Result<X509Builder, CryptoError> {
    let e = CryptoError::openssl;
    let mut name = X509NameBuilder::new().map_err(e)?;
    name.append_entry_by_text("O", "Keyhaven").map_err(e)?;
    name.append_entry_by_text("CN", cn).map_err(e)?;
    let name = name.build();
    let mut b = X509Builder::new().map_err(e)?;
    b.set_version(2).map_err(e)?;
    let sn = serial()?;
    b.set_serial_number(&sn).map_err(e)?;
    b.set_subject_name(&name).map_err(e)?;
    // Back-date an hour so that clients with a slightly slow clock accept a fresh certificate.
    let now = keyhaven_model::Clock::now(&keyhaven_model::SystemClock);
    let nb = Asn1Time::from_unix(now - 3600).map_err(e)?;
    b.set_not_before(&nb).map_err(e)?;
    let na = Asn1Time::days_from_now(days).map_err(e)?;
    b.set_not_after(&na).map_err(e)?;
    b.set_pubkey(key).map_err(e)?;
    Ok(b)
}

/// A new local certificate authority (EC P-256, ten years).
pub fn issue_ca(common_name: &str) -> Result<CertifiedKey, CryptoError> {
    let e = CryptoError::openssl;
    let key = new_key()?;
    let mut b = builder(common_name, 3650, &key)?;
    let name = X509NameBuilder::new().map_err(e).and_then(|mut n| {
        n.append_entry_by_text("O", "Keyhaven").map_err(e)?;
        n.append_entry_by_text("CN", common_name).map_err(e)?;
        Ok(n.build())
    })?;
    b.set_issuer_name(&name).map_err(e)?;
    b.append_extension(
        BasicConstraints::new()
            .critical()
            .ca()
            .pathlen(0)
            .build()
            .map_err(e)?,
    )
    .map_err(e)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .map_err(e)?,
    )
    .map_err(e)?;
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .map_err(e)?;
    b.append_extension(ski).map_err(e)?;
    b.sign(&key, MessageDigest::sha256()).map_err(e)?;
    let cert = b.build();
    Ok(CertifiedKey {
        cert_pem: cert.to_pem().map_err(e)?,
        key_pem: Zeroizing::new(key.private_key_to_pem_pkcs8().map_err(e)?),
    })
}

/// A server certificate signed by `ca`, valid for `dns_names` and `ip_addresses` (one year).
pub fn issue_server_certificate(
    ca: &CertifiedKey,
    dns_names: &[String],
    ip_addresses: &[String],
) -> Result<CertifiedKey, CryptoError> {
    let e = CryptoError::openssl;
    let ca_cert = X509::from_pem(&ca.cert_pem).map_err(e)?;
    let ca_key = PKey::private_key_from_pem(&ca.key_pem).map_err(e)?;
    let key = new_key()?;
    let cn = dns_names.first().map(String::as_str).unwrap_or("localhost");
    let mut b = builder(cn, 397, &key)?;
    b.set_issuer_name(ca_cert.subject_name()).map_err(e)?;
    b.append_extension(BasicConstraints::new().critical().build().map_err(e)?)
        .map_err(e)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_agreement()
            .build()
            .map_err(e)?,
    )
    .map_err(e)?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build().map_err(e)?)
        .map_err(e)?;
    let mut san = SubjectAlternativeName::new();
    for d in dns_names {
        san.dns(d);
    }
    for ip in ip_addresses {
        san.ip(ip);
    }
    let san = san
        .build(&b.x509v3_context(Some(&ca_cert), None))
        .map_err(e)?;
    b.append_extension(san).map_err(e)?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(&ca_cert), None))
        .map_err(e)?;
    b.append_extension(aki).map_err(e)?;
    b.sign(&ca_key, MessageDigest::sha256()).map_err(e)?;
    let cert = b.build();
    Ok(CertifiedKey {
        cert_pem: cert.to_pem().map_err(e)?,
        key_pem: Zeroizing::new(key.private_key_to_pem_pkcs8().map_err(e)?),
    })
}
