//! PEM text: a private key and certificates, as Azure imports and exports them (`application/x-pem-file`).

use super::bundle::{assemble, certificates_for, Leaf};
use super::CertificateBundle;
use crate::keys::PrivateKey;
use crate::CryptoError;
use base64::Engine;
use openssl::ec::EcKey;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use zeroize::Zeroizing;

const ENCRYPTED: &str =
    "encrypted PEM private keys are not supported; decrypt the key first (for example with \
     `openssl pkey -in key.pem -out plain.pem`) or import a PKCS#12 (PFX) file with its password";

/// Reads PEM text holding certificates and at most one private key, in any order: `PRIVATE KEY` (PKCS#8),
/// `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC 1), and `CERTIFICATE` blocks. Text outside blocks (such
/// as the "Bag Attributes" lines `openssl pkcs12 -nodes` writes) and `EC PARAMETERS` blocks are ignored.
///
/// The bundle's chain starts with the certificate that holds the key's public part (see [`parse_pkcs12`] for the
/// order). Encrypted keys (`ENCRYPTED PRIVATE KEY`, or `Proc-Type: 4,ENCRYPTED` headers), other block types,
/// several keys, a key that matches no certificate ("the private key does not match the certificate"), and text
/// without a certificate give [`CryptoError::Malformed`].
///
/// [`parse_pkcs12`]: super::parse_pkcs12
pub fn parse_pem(text: &str) -> Result<CertificateBundle, CryptoError> {
    let blocks = blocks(text)?;
    if blocks.is_empty() {
        return Err(CryptoError::Malformed(
            "no PEM blocks found; expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY----- blocks"
                .into(),
        ));
    }
    let mut key: Option<PKey<Private>> = None;
    let mut certs = Vec::new();
    for block in &blocks {
        let is_key = matches!(
            block.label,
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
        );
        match block.label {
            "CERTIFICATE" | "X509 CERTIFICATE" => {
                let der = block.decode()?;
                certs.push(X509::from_der(&der).map_err(|_| {
                    CryptoError::Malformed(
                        "a CERTIFICATE block in the PEM text is not a valid X.509 certificate".into(),
                    )
                })?);
            }
            "ENCRYPTED PRIVATE KEY" => return Err(CryptoError::Malformed(ENCRYPTED.into())),
            _ if is_key && block.has_headers => {
                return Err(CryptoError::Malformed(ENCRYPTED.into()))
            }
            label if is_key => {
                if key.is_some() {
                    return Err(CryptoError::Malformed(
                        "the PEM text holds more than one private key".into(),
                    ));
                }
                let der = block.decode()?;
                key = Some(read_key(label, &der)?);
            }
            "EC PARAMETERS" => {}
            other => {
                return Err(CryptoError::Malformed(format!(
                    "unsupported PEM block '{}'; expected CERTIFICATE blocks and one PRIVATE KEY (or RSA PRIVATE \
                     KEY, EC PRIVATE KEY) block",
                    other.escape_default()
                )))
            }
        }
    }
    let key = key.map(PrivateKey::from_pkey).transpose()?;
    assemble(key, certs, "the PEM text")
}

/// PEM text with `key` (if any) as `-----BEGIN PRIVATE KEY-----` (unencrypted PKCS#8) followed by `chain` (DER,
/// leaf first) as `CERTIFICATE` blocks. The key, when given, must belong to the first certificate.
pub fn to_pem(
    key: Option<&PrivateKey>,
    chain: &[Vec<u8>],
) -> Result<Zeroizing<String>, CryptoError> {
    write_pem(key, chain, Leaf::First)
}

/// As [`to_pem`], with the certificates in the order given: the key's certificate may be anywhere among them
/// (Azure's `preserveCertOrder`).
pub fn to_pem_as_given(
    key: Option<&PrivateKey>,
    chain: &[Vec<u8>],
) -> Result<Zeroizing<String>, CryptoError> {
    write_pem(key, chain, Leaf::Anywhere)
}

fn write_pem(
    key: Option<&PrivateKey>,
    chain: &[Vec<u8>],
    leaf: Leaf,
) -> Result<Zeroizing<String>, CryptoError> {
    let (certs, _) = certificates_for(key, chain, leaf)?;
    let e = CryptoError::openssl;
    let key_pem = match key {
        Some(key) => Zeroizing::new(key.to_pkey()?.private_key_to_pem_pkcs8().map_err(e)?),
        None => Zeroizing::new(Vec::new()),
    };
    let cert_pems = certs
        .iter()
        .map(|c| c.to_pem().map_err(e))
        .collect::<Result<Vec<_>, _>>()?;
    // Sized up front so that the text holding the key is never reallocated (which would leave copies behind).
    let len = key_pem.len() + cert_pems.iter().map(Vec::len).sum::<usize>();
    let mut out = Zeroizing::new(String::with_capacity(len));
    for pem in std::iter::once(&*key_pem).chain(cert_pems.iter()) {
        let text = std::str::from_utf8(pem)
            .map_err(|_| CryptoError::Library("OpenSSL wrote PEM that is not text".into()))?;
        out.push_str(text);
    }
    Ok(out)
}

/// A private key from the DER of a key block.
fn read_key(label: &str, der: &[u8]) -> Result<PKey<Private>, CryptoError> {
    let bad = || {
        CryptoError::Malformed(format!(
            "the {label} block in the PEM text is not a valid private key"
        ))
    };
    match label {
        "RSA PRIVATE KEY" => Rsa::private_key_from_der(der)
            .and_then(PKey::from_rsa)
            .map_err(|_| bad()),
        "EC PRIVATE KEY" => EcKey::private_key_from_der(der)
            .and_then(PKey::from_ec_key)
            .map_err(|_| bad()),
        _ => PKey::private_key_from_pkcs8(der).map_err(|_| bad()),
    }
}

/// One `-----BEGIN label-----` … `-----END label-----` block.
struct Block<'a> {
    label: &'a str,
    /// Lines of the form `Name: value` before the base64 (RFC 1421 headers, as in `Proc-Type: 4,ENCRYPTED`).
    has_headers: bool,
    /// The base64 lines.
    body: Vec<&'a str>,
}

impl Block<'_> {
    /// The block's bytes, wiped on drop (a key block's bytes are the key).
    fn decode(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let chars: usize = self.body.iter().map(|l| l.len()).sum();
        let mut b64 = Zeroizing::new(String::with_capacity(chars));
        for line in &self.body {
            b64.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
        let engine = &base64::engine::general_purpose::STANDARD;
        let mut out = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(b64.len())]);
        let n = engine.decode_slice(b64.as_bytes(), &mut out).map_err(|_| {
            CryptoError::Malformed(format!(
                "the {} block in the PEM text is not valid base64",
                self.label
            ))
        })?;
        out.truncate(n);
        Ok(out)
    }
}

/// Splits PEM text into its blocks; text between blocks is ignored.
fn blocks(text: &str) -> Result<Vec<Block<'_>>, CryptoError> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let mut block = Block {
            label,
            has_headers: false,
            body: Vec::new(),
        };
        let mut ended = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if let Some(end) = line
                .strip_prefix("-----END ")
                .and_then(|l| l.strip_suffix("-----"))
            {
                if end != label {
                    return Err(CryptoError::Malformed(format!(
                        "the PEM block BEGIN {} ends with END {}",
                        label.escape_default(),
                        end.escape_default()
                    )));
                }
                ended = true;
                break;
            }
            if line.contains(':') {
                block.has_headers = true;
            } else {
                block.body.push(line);
            }
        }
        if !ended {
            return Err(CryptoError::Malformed(format!(
                "the PEM block BEGIN {} has no END line",
                label.escape_default()
            )));
        }
        out.push(block);
    }
    Ok(out)
}
