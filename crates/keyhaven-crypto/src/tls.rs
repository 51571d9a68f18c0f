use crate::CryptoError;
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time, Asn1TimeRef};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509Builder, X509Extension, X509NameBuilder, X509StoreContext, X509};
use std::net::IpAddr;
use zeroize::Zeroizing;

/// A certificate and its private key, both PEM.
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key, PEM (the keys issued here are EC P-256, PKCS#8); zeroized on drop.
    pub key_pem: Zeroizing<Vec<u8>>,
}

/// The names a certificate authority may sign for (the permitted subtrees of its X.509 name constraints,
/// RFC 5280 §4.2.1.10). Names of other kinds (e-mail, URI) stay unconstrained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermittedNames {
    /// DNS subtrees: `example.com` permits `example.com` and every name under it (`*.example.com` too).
    pub dns: Vec<String>,
    /// IP ranges: an address and its prefix length (`127.0.0.0/8`, `::1/128`).
    pub ip_ranges: Vec<(IpAddr, u8)>,
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

/// Back-dating of `notBefore`, so that clients with a slightly slow clock accept a fresh certificate.
const BACKDATE_SECS: i64 = 3600;

fn builder(
    cn: &str,
    not_before: i64,
    not_after: i64,
    key: &PKey<Private>,
) -> Result<X509Builder, CryptoError> {
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
    let nb = Asn1Time::from_unix(not_before as _).map_err(e)?;
    b.set_not_before(&nb).map_err(e)?;
    let na = Asn1Time::from_unix(not_after as _).map_err(e)?;
    b.set_not_after(&na).map_err(e)?;
    b.set_pubkey(key).map_err(e)?;
    Ok(b)
}

/// A DER tag–length–value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = len.to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (be.len() - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The DER value of a NameConstraints extension with `permitted` as its permitted subtrees.
fn name_constraints_der(permitted: &PermittedNames) -> Result<Vec<u8>, CryptoError> {
    let mut subtrees = Vec::new();
    for d in &permitted.dns {
        let d = d.trim_start_matches("*.").trim_start_matches('.');
        if d.is_empty() || !d.is_ascii() {
            return Err(CryptoError::Malformed(format!(
                "'{}' is not a DNS name",
                d.escape_default()
            )));
        }
        // GeneralSubtree { base: dNSName [2] IA5String }
        subtrees.extend(tlv(0x30, &tlv(0x82, d.as_bytes())));
    }
    for (ip, prefix) in &permitted.ip_ranges {
        let (addr, bits): (Vec<u8>, u32) = match ip {
            IpAddr::V4(a) => (a.octets().to_vec(), 32),
            IpAddr::V6(a) => (a.octets().to_vec(), 128),
        };
        let prefix = u32::from(*prefix);
        if prefix > bits {
            return Err(CryptoError::Malformed(format!(
                "{ip}/{prefix} is not an IP range"
            )));
        }
        let mut value = Vec::with_capacity(addr.len() * 2);
        let mut mask = Vec::with_capacity(addr.len());
        for (i, byte) in addr.iter().enumerate() {
            let ones = prefix.saturating_sub(i as u32 * 8).min(8);
            let m = if ones == 0 { 0u8 } else { 0xffu8 << (8 - ones) };
            value.push(byte & m);
            mask.push(m);
        }
        value.extend(mask);
        // GeneralSubtree { base: iPAddress [7] OCTET STRING (address, then mask) }
        subtrees.extend(tlv(0x30, &tlv(0x87, &value)));
    }
    // NameConstraints ::= SEQUENCE { permittedSubtrees [0] IMPLICIT GeneralSubtrees }
    Ok(tlv(0x30, &tlv(0xa0, &subtrees)))
}

/// A new local certificate authority (EC P-256, ten years from `now`), restricted to `permitted` names when given.
pub fn issue_ca(
    common_name: &str,
    permitted: Option<&PermittedNames>,
    now: i64,
) -> Result<CertifiedKey, CryptoError> {
    let e = CryptoError::openssl;
    let key = new_key()?;
    let mut b = builder(common_name, now - BACKDATE_SECS, now + 3650 * 86_400, &key)?;
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
    if let Some(p) = permitted {
        let oid = Asn1Object::from_str("2.5.29.30").map_err(e)?;
        let value = Asn1OctetString::new_from_bytes(&name_constraints_der(p)?).map_err(e)?;
        // RFC 5280: conforming CAs mark name constraints critical.
        b.append_extension(X509Extension::new_from_der(&oid, true, &value).map_err(e)?)
            .map_err(e)?;
    }
    b.sign(&key, MessageDigest::sha256()).map_err(e)?;
    let cert = b.build();
    Ok(CertifiedKey {
        cert_pem: cert.to_pem().map_err(e)?,
        key_pem: Zeroizing::new(key.private_key_to_pem_pkcs8().map_err(e)?),
    })
}

/// A server certificate signed by `ca`, valid for `dns_names` and `ip_addresses` from an hour before `now` until
/// `not_after` (both Unix seconds).
pub fn issue_server_certificate(
    ca: &CertifiedKey,
    dns_names: &[String],
    ip_addresses: &[String],
    now: i64,
    not_after: i64,
) -> Result<CertifiedKey, CryptoError> {
    let e = CryptoError::openssl;
    let ca_cert = X509::from_pem(&ca.cert_pem).map_err(e)?;
    let ca_key = PKey::private_key_from_pem(&ca.key_pem).map_err(e)?;
    let key = new_key()?;
    let cn = dns_names.first().map(String::as_str).unwrap_or("localhost");
    let mut b = builder(cn, now - BACKDATE_SECS, not_after, &key)?;
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

fn unix(t: &Asn1TimeRef) -> Result<i64, CryptoError> {
    let epoch = Asn1Time::from_unix(0).map_err(CryptoError::openssl)?;
    let d = epoch.diff(t).map_err(CryptoError::openssl)?;
    Ok(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

fn first_certificate(pem: &[u8]) -> Result<X509, CryptoError> {
    X509::from_pem(pem).map_err(|_| CryptoError::Malformed("not a PEM certificate".into()))
}

/// The validity of the first certificate in `pem`: `notBefore` and `notAfter`, Unix seconds.
pub fn certificate_validity(pem: &[u8]) -> Result<(i64, i64), CryptoError> {
    let cert = first_certificate(pem)?;
    Ok((unix(cert.not_before())?, unix(cert.not_after())?))
}

/// The name constraints of the first certificate in `pem`, as OpenSSL prints them (`None` when it has none).
pub fn name_constraints(pem: &[u8]) -> Result<Option<String>, CryptoError> {
    let cert = first_certificate(pem)?;
    let text = cert.to_text().map_err(CryptoError::openssl)?;
    let text = String::from_utf8_lossy(&text);
    let mut lines = text
        .lines()
        .skip_while(|l| !l.contains("X509v3 Name Constraints"));
    if lines.next().is_none() {
        return Ok(None);
    }
    let body: Vec<&str> = lines
        .take_while(|l| {
            !l.trim_start().starts_with("X509v3") && !l.trim_start().starts_with("Signature")
        })
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Ok(Some(body.join(" ")))
}

/// Checks with OpenSSL that `leaf_pem` chains to the certificate authority `ca_pem` at time `at` (Unix seconds),
/// name constraints included; the error is OpenSSL's reason.
pub fn verify_issued(ca_pem: &[u8], leaf_pem: &[u8], at: i64) -> Result<(), CryptoError> {
    let e = CryptoError::openssl;
    let ca = first_certificate(ca_pem)?;
    let leaf = first_certificate(leaf_pem)?;
    let mut store = X509StoreBuilder::new().map_err(e)?;
    store.add_cert(ca).map_err(e)?;
    let mut param = X509VerifyParam::new().map_err(e)?;
    param.set_time(at as _);
    store.set_param(&param).map_err(e)?;
    let store = store.build();
    let chain = Stack::new().map_err(e)?;
    let mut ctx = X509StoreContext::new().map_err(e)?;
    let result = ctx
        .init(&store, &leaf, &chain, |c| {
            Ok(if c.verify_cert()? {
                None
            } else {
                Some(c.error().error_string())
            })
        })
        .map_err(e)?;
    match result {
        None => Ok(()),
        Some(reason) => Err(CryptoError::Malformed(reason.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn permitted() -> PermittedNames {
        PermittedNames {
            dns: vec![
                "vault.localhost".into(),
                "localhost".into(),
                "kv.example.com".into(),
            ],
            ip_ranges: vec![
                ("127.0.0.0".parse().unwrap(), 8),
                ("::1".parse().unwrap(), 128),
                ("192.0.2.7".parse().unwrap(), 32),
            ],
        }
    }

    #[test]
    fn a_constrained_ca_signs_only_for_its_names() {
        let now = keyhaven_model::Clock::now(&keyhaven_model::SystemClock);
        let ca = issue_ca("test CA", Some(&permitted()), now).unwrap();
        let text = name_constraints(&ca.cert_pem).unwrap().unwrap();
        assert!(text.contains("DNS:kv.example.com"), "{text}");
        assert!(text.contains("IP:127.0.0.0/255.0.0.0"), "{text}");
        let ok = |dns: &[&str], ips: &[&str]| {
            let dns: Vec<String> = dns.iter().map(|s| s.to_string()).collect();
            let ips: Vec<String> = ips.iter().map(|s| s.to_string()).collect();
            let leaf = issue_server_certificate(&ca, &dns, &ips, now, now + 86_400).unwrap();
            verify_issued(&ca.cert_pem, &leaf.cert_pem, now)
        };
        ok(
            &["localhost", "*.vault.localhost", "a.kv.example.com"],
            &["127.0.0.1", "::1", "192.0.2.7"],
        )
        .unwrap();
        let err = ok(&["localhost", "evil.example.com"], &["127.0.0.1"]).unwrap_err();
        assert!(
            err.to_string().contains("permitted subtree violation"),
            "{err}"
        );
        assert!(ok(&["localhost"], &["192.0.2.8"]).is_err());
        assert!(
            ok(&["example.com"], &[]).is_err(),
            "a parent of a permitted name is not permitted"
        );
    }

    #[test]
    fn an_unconstrained_ca_says_so_and_validity_reads_back() {
        let now = 1_700_000_000;
        let ca = issue_ca("test CA", None, now).unwrap();
        assert_eq!(name_constraints(&ca.cert_pem).unwrap(), None);
        let leaf =
            issue_server_certificate(&ca, &["localhost".into()], &[], now, now + 30 * 86_400)
                .unwrap();
        assert_eq!(
            certificate_validity(&leaf.cert_pem).unwrap(),
            (now - 3600, now + 30 * 86_400)
        );
        verify_issued(&ca.cert_pem, &leaf.cert_pem, now).unwrap();
        assert!(verify_issued(&ca.cert_pem, &leaf.cert_pem, now + 31 * 86_400).is_err());
    }

    #[test]
    fn ip_masks_are_encoded_from_the_prefix() {
        let der = name_constraints_der(&PermittedNames {
            dns: vec![],
            ip_ranges: vec![("10.1.2.3".parse().unwrap(), 12)],
        })
        .unwrap();
        assert_eq!(
            der,
            [0x30, 0x0e, 0xa0, 0x0c, 0x30, 0x0a, 0x87, 0x08, 10, 0, 0, 0, 255, 240, 0, 0]
        );
    }
}
