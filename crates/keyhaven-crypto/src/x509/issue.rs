//! Making certificates and certificate signing requests from a [`CertificateRequest`].

use super::{extensions, name, validity, CertificateRequest};
use crate::keys::{Curve, PrivateKey};
use crate::CryptoError;
use openssl::asn1::Asn1Integer;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::stack::Stack;
use openssl::x509::extension::{BasicConstraints, SubjectKeyIdentifier};
use openssl::x509::{X509Builder, X509Name, X509ReqBuilder};

/// A self-signed X.509 v3 certificate (DER) for `key` as `req` describes it.
///
/// The certificate has a random positive 16-byte serial number; issuer = subject; validity from
/// `req.not_before` to `req.validity_months` calendar months later; a subject key identifier; basicConstraints
/// CA:FALSE (not critical); key usage (critical) and extended key usage when asked for; subject alternative names
/// (DNS, e-mail, UPN) when any are asked for. It is signed with sha256WithRSAEncryption for RSA keys and ECDSA
/// with SHA-256 (P-256, P-256K), SHA-384 (P-384) or SHA-512 (P-521) for EC keys.
///
/// A request that does not check out (see [`CertificateRequest`]) or an oct key gives
/// [`CryptoError::Malformed`].
pub fn self_signed(key: &PrivateKey, req: &CertificateRequest) -> Result<Vec<u8>, CryptoError> {
    let checked = Checked::new(req)?;
    let not_after = validity::add_months(req.not_before, req.validity_months)?;
    let pkey = key.to_pkey()?;
    let digest = digest_for(key);
    let e = CryptoError::openssl;

    let mut b = X509Builder::new().map_err(e)?;
    b.set_version(2).map_err(e)?;
    let serial = serial()?;
    b.set_serial_number(&serial).map_err(e)?;
    b.set_subject_name(&checked.subject).map_err(e)?;
    b.set_issuer_name(&checked.subject).map_err(e)?;
    let (start, end) = (
        validity::asn1_time(req.not_before)?,
        validity::asn1_time(not_after)?,
    );
    b.set_not_before(&start).map_err(e)?;
    b.set_not_after(&end).map_err(e)?;
    b.set_pubkey(&pkey).map_err(e)?;
    b.append_extension(BasicConstraints::new().build().map_err(e)?)
        .map_err(e)?;
    let (exts, ski) = {
        let ctx = b.x509v3_context(None, None);
        let exts = extensions::build(req, &checked.key_usage_bits, checked.san_critical, &ctx)?;
        let ski = SubjectKeyIdentifier::new().build(&ctx).map_err(e)?;
        (exts, ski)
    };
    for ext in exts {
        b.append_extension(ext).map_err(e)?;
    }
    b.append_extension(ski).map_err(e)?;
    b.sign(&pkey, digest).map_err(e)?;
    b.build().to_der().map_err(e)
}

/// A PKCS#10 certificate signing request (DER) for `key` with the subject of `req` and an extensionRequest
/// attribute holding its subject alternative names, key usage and extended key usage (each only when asked for).
/// Signed as [`self_signed`] signs. The validity fields of `req` are not used (the issuer sets the validity).
pub fn signing_request(key: &PrivateKey, req: &CertificateRequest) -> Result<Vec<u8>, CryptoError> {
    let checked = Checked::new(req)?;
    let pkey = key.to_pkey()?;
    let digest = digest_for(key);
    let e = CryptoError::openssl;

    let mut b = X509ReqBuilder::new().map_err(e)?;
    b.set_version(0).map_err(e)?;
    b.set_subject_name(&checked.subject).map_err(e)?;
    b.set_pubkey(&pkey).map_err(e)?;
    let exts = {
        let ctx = b.x509v3_context(None);
        extensions::build(req, &checked.key_usage_bits, checked.san_critical, &ctx)?
    };
    if !exts.is_empty() {
        let mut stack = Stack::new().map_err(e)?;
        for ext in exts {
            stack.push(ext).map_err(e)?;
        }
        b.add_extensions(&stack).map_err(e)?;
    }
    b.sign(&pkey, digest).map_err(e)?;
    b.build().to_der().map_err(e)
}

/// A request whose subject and extensions have been checked.
struct Checked {
    subject: X509Name,
    key_usage_bits: Vec<usize>,
    /// RFC 5280 §4.2.1.6: with an empty subject, the subject alternative names are critical.
    san_critical: bool,
}

impl Checked {
    fn new(req: &CertificateRequest) -> Result<Checked, CryptoError> {
        let subject = name::parse_subject(&req.subject)?;
        let key_usage_bits = extensions::check(req)?;
        let empty_subject = subject.entries().next().is_none();
        if empty_subject && !extensions::has_alt_names(req) {
            return Err(CryptoError::Malformed(
                "a certificate needs a subject or at least one subject alternative name".into(),
            ));
        }
        Ok(Checked {
            subject,
            key_usage_bits,
            san_critical: empty_subject,
        })
    }
}

/// The signature digest for a key: SHA-256 for RSA; for EC the one that matches the curve size.
fn digest_for(key: &PrivateKey) -> MessageDigest {
    match key.curve() {
        Some(Curve::P384) => MessageDigest::sha384(),
        Some(Curve::P521) => MessageDigest::sha512(),
        Some(Curve::P256 | Curve::P256K) | None => MessageDigest::sha256(),
    }
}

/// A random positive serial number of exactly 16 bytes (the first byte is in 0x01..=0x7f).
fn serial() -> Result<Asn1Integer, CryptoError> {
    let mut b = crate::random_bytes::<16>()?;
    b[0] &= 0x7f;
    if b[0] == 0 {
        b[0] = 0x01;
    }
    BigNum::from_slice(&b)
        .and_then(|bn| bn.to_asn1_integer())
        .map_err(CryptoError::openssl)
}
