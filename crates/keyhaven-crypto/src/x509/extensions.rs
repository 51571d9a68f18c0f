//! The extensions a certificate policy asks for (subject alternative names, key usage, extended key usage):
//! checking them, building them for OpenSSL, and reading them back from a certificate.

use super::der::{self, Der, Invalid};
use super::CertificateRequest;
use crate::CryptoError;
use openssl::asn1::Asn1Object;
use openssl::x509::extension::{ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Extension, X509v3Context};
use std::net::IpAddr;

/// The otherName type of a user principal name (Microsoft's `szOID_NT_PRINCIPAL_NAME`).
pub(super) const UPN_OID: &str = "1.3.6.1.4.1.311.20.2.3";
const UPN_OID_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03];
/// id-ce-subjectAltName (2.5.29.17).
const SAN_OID_DER: &[u8] = &[0x55, 0x1d, 0x11];
/// id-ce-keyUsage (2.5.29.15).
const KU_OID_DER: &[u8] = &[0x55, 0x1d, 0x0f];
/// id-ce-extKeyUsage (2.5.29.37).
const EKU_OID_DER: &[u8] = &[0x55, 0x1d, 0x25];

/// GeneralName tags: `[0]` otherName (constructed), `[1]` rfc822Name, `[2]` dNSName,
/// `[6]` uniformResourceIdentifier, `[7]` iPAddress.
const GN_OTHER_NAME: u8 = 0xa0;
const GN_EMAIL: u8 = 0x81;
const GN_DNS: u8 = 0x82;
const GN_URI: u8 = 0x86;
const GN_IP: u8 = 0x87;
/// `[0] EXPLICIT` around an otherName's value.
const EXPLICIT_0: u8 = 0xa0;

/// Key usages as Azure names them, in the order of their bits in the KeyUsage BIT STRING (RFC 5280 §4.2.1.3).
pub(super) const KEY_USAGES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// Longest DNS name (RFC 1035) and e-mail address (RFC 5321 path limit) accepted.
const MAX_DNS_LEN: usize = 253;
const MAX_EMAIL_LEN: usize = 254;
const MAX_UPN_LEN: usize = 1024;
const MAX_URI_LEN: usize = 2048;

/// Checks the request's names, key usages and EKUs; returns the key usage bits asked for.
pub(super) fn check(req: &CertificateRequest) -> Result<Vec<usize>, CryptoError> {
    for d in &req.dns_names {
        let ok = !d.is_empty() && d.len() <= MAX_DNS_LEN && d.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(CryptoError::Malformed(format!(
                "'{}' is not a valid DNS name (printable ASCII without spaces, at most {MAX_DNS_LEN} characters)",
                d.escape_default()
            )));
        }
    }
    for e in &req.emails {
        let ok = e.len() <= MAX_EMAIL_LEN
            && e.bytes().all(|b| b.is_ascii_graphic())
            && e.rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        if !ok {
            return Err(CryptoError::Malformed(format!(
                "'{}' is not a valid e-mail address (ASCII local@domain, at most {MAX_EMAIL_LEN} characters)",
                e.escape_default()
            )));
        }
    }
    for u in &req.upns {
        if u.is_empty() || u.len() > MAX_UPN_LEN || u.chars().any(char::is_control) {
            return Err(CryptoError::Malformed(format!(
                "'{}' is not a valid user principal name (UPN)",
                u.escape_default()
            )));
        }
    }
    for ip in &req.ip_addresses {
        if ip.parse::<IpAddr>().is_err() {
            return Err(CryptoError::Malformed(format!(
                "'{}' is not an IP address (IPv4 such as 192.0.2.1 or IPv6 such as 2001:db8::1)",
                ip.escape_default()
            )));
        }
    }
    for u in &req.uris {
        if !is_uri(u) {
            return Err(CryptoError::Malformed(format!(
                "'{}' is not a URI (scheme:rest in printable ASCII without spaces, at most {MAX_URI_LEN} characters)",
                u.escape_default()
            )));
        }
    }
    for oid in &req.ekus {
        der::check_dotted_oid(oid).map_err(|_| {
            CryptoError::Malformed(format!(
                "the extended key usage '{}' is not a dotted object identifier (for example 1.3.6.1.5.5.7.3.1 \
                 for server authentication)",
                oid.escape_default()
            ))
        })?;
    }
    let mut bits = Vec::with_capacity(req.key_usage.len());
    for name in &req.key_usage {
        let bit = KEY_USAGES
            .iter()
            .position(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                CryptoError::Malformed(format!(
                    "unknown key usage '{}'; supported: {}",
                    name.escape_default(),
                    KEY_USAGES.join(", ")
                ))
            })?;
        if !bits.contains(&bit) {
            bits.push(bit);
        }
    }
    Ok(bits)
}

/// The extensions for a checked request: subject alternative names (critical when `san_critical`), key usage
/// (critical) and extended key usage, each only when asked for.
pub(super) fn build(
    req: &CertificateRequest,
    key_usage_bits: &[usize],
    san_critical: bool,
    ctx: &X509v3Context<'_>,
) -> Result<Vec<X509Extension>, CryptoError> {
    let e = CryptoError::openssl;
    let mut out = Vec::new();
    if !key_usage_bits.is_empty() {
        let mut ku = KeyUsage::new();
        ku.critical();
        for bit in key_usage_bits {
            match bit {
                0 => ku.digital_signature(),
                1 => ku.non_repudiation(),
                2 => ku.key_encipherment(),
                3 => ku.data_encipherment(),
                4 => ku.key_agreement(),
                5 => ku.key_cert_sign(),
                6 => ku.crl_sign(),
                7 => ku.encipher_only(),
                _ => ku.decipher_only(),
            };
        }
        out.push(ku.build().map_err(e)?);
    }
    if !req.ekus.is_empty() {
        let mut eku = ExtendedKeyUsage::new();
        for oid in &req.ekus {
            eku.other(oid);
        }
        out.push(eku.build().map_err(e)?);
    }
    if has_alt_names(req) {
        let mut san = SubjectAlternativeName::new();
        if san_critical {
            san.critical();
        }
        for d in &req.dns_names {
            san.dns(d);
        }
        for m in &req.emails {
            san.email(m);
        }
        for u in &req.upns {
            let oid = Asn1Object::from_str(UPN_OID).map_err(e)?;
            san.other_name2(oid, &der::utf8_string(u));
        }
        for ip in &req.ip_addresses {
            san.ip(ip);
        }
        for u in &req.uris {
            san.uri(u);
        }
        out.push(san.build(ctx).map_err(e)?);
    }
    Ok(out)
}

/// Whether the request asks for any subject alternative name.
pub(super) fn has_alt_names(req: &CertificateRequest) -> bool {
    !(req.dns_names.is_empty()
        && req.emails.is_empty()
        && req.upns.is_empty()
        && req.ip_addresses.is_empty()
        && req.uris.is_empty())
}

/// A URI as RFC 3986 starts one: a scheme (a letter, then letters, digits, `+`, `-`, `.`) and `:`, all in
/// printable ASCII.
fn is_uri(u: &str) -> bool {
    let Some((scheme, _)) = u.split_once(':') else {
        return false;
    };
    u.len() <= MAX_URI_LEN
        && u.bytes().all(|b| b.is_ascii_graphic())
        && scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// What a certificate's extensions say about its names and usages.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) dns_names: Vec<String>,
    pub(super) emails: Vec<String>,
    pub(super) upns: Vec<String>,
    pub(super) ip_addresses: Vec<String>,
    pub(super) uris: Vec<String>,
    pub(super) key_usage: Vec<String>,
    pub(super) ekus: Vec<String>,
}

/// Reads the subject alternative names (DNS, e-mail, UPN, IP address, URI; others are skipped), key usage and extended key usage
/// of a DER certificate.
pub(super) fn read(cert: &[u8]) -> Result<Found, CryptoError> {
    let invalid = |what: &str| {
        let what = what.to_string();
        move |_: Invalid| {
            CryptoError::Malformed(format!("the certificate's {what} is not valid DER"))
        }
    };
    let mut found = Found::default();
    for ext in der::certificate_extensions(cert).map_err(invalid("extension list"))? {
        if ext.oid == SAN_OID_DER {
            read_alt_names(ext.value, &mut found).map_err(invalid("subject alternative name"))?;
        } else if ext.oid == KU_OID_DER {
            found.key_usage = read_key_usage(ext.value).map_err(invalid("key usage"))?;
        } else if ext.oid == EKU_OID_DER {
            found.ekus = read_ekus(ext.value).map_err(invalid("extended key usage"))?;
        }
    }
    Ok(found)
}

fn read_alt_names(value: &[u8], found: &mut Found) -> Result<(), Invalid> {
    let mut names = Der::new(Der::new(value).expect(der::SEQUENCE)?);
    while !names.is_empty() {
        let (tag, content) = names.any()?;
        match tag {
            GN_DNS => found.dns_names.push(ascii(content)?),
            GN_EMAIL => found.emails.push(ascii(content)?),
            GN_URI => found.uris.push(ascii(content)?),
            GN_IP => found.ip_addresses.push(ip_address(content)?),
            GN_OTHER_NAME => {
                let mut other = Der::new(content);
                let oid = other.expect(der::OID)?;
                let mut wrapped = Der::new(other.expect(EXPLICIT_0)?);
                if oid == UPN_OID_DER {
                    let upn = wrapped.expect(der::UTF8_STRING)?;
                    found
                        .upns
                        .push(String::from_utf8(upn.to_vec()).map_err(|_| Invalid)?);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn ascii(bytes: &[u8]) -> Result<String, Invalid> {
    if bytes.is_ascii() {
        String::from_utf8(bytes.to_vec()).map_err(|_| Invalid)
    } else {
        Err(Invalid)
    }
}

/// An iPAddress: 4 octets (IPv4) or 16 (IPv6). (Name constraints use 8 or 32, address and mask; not here.)
fn ip_address(bytes: &[u8]) -> Result<String, Invalid> {
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).map_err(|_| Invalid)?),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).map_err(|_| Invalid)?),
        _ => return Err(Invalid),
    };
    Ok(ip.to_string())
}

fn read_key_usage(value: &[u8]) -> Result<Vec<String>, Invalid> {
    let bits = Der::new(value).expect(der::BIT_STRING)?;
    let (&unused, bytes) = bits.split_first().ok_or(Invalid)?;
    if unused > 7 {
        return Err(Invalid);
    }
    Ok(KEY_USAGES
        .iter()
        .enumerate()
        .filter(|(bit, _)| {
            bytes
                .get(bit / 8)
                .is_some_and(|byte| byte & (0x80 >> (bit % 8)) != 0)
        })
        .map(|(_, name)| (*name).to_string())
        .collect())
}

fn read_ekus(value: &[u8]) -> Result<Vec<String>, Invalid> {
    let mut list = Der::new(Der::new(value).expect(der::SEQUENCE)?);
    let mut out = Vec::new();
    while !list.is_empty() {
        out.push(der::oid_to_string(list.expect(der::OID)?)?);
    }
    Ok(out)
}
