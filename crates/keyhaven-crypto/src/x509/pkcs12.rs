//! PKCS#12 (PFX) files: reading them with their password, and writing them without one.

use super::bundle::{assemble, certificates_for};
use super::pkcs12_cost::{kdf_iterations, MAX_KDF_ITERATIONS};
use super::CertificateBundle;
use crate::keys::PrivateKey;
use crate::CryptoError;
use openssl::error::ErrorStack;
use openssl::pkcs12::{ParsedPkcs12_2, Pkcs12};
use openssl::stack::Stack;
use zeroize::Zeroizing;

const NOT_PKCS12: &str = "the data is not a valid PKCS#12 (PFX) file";
const WRONG_PASSWORD: &str =
    "the password is wrong for this PKCS#12 (PFX) file (its integrity check failed)";
const UNDECRYPTABLE: &str =
    "the PKCS#12 (PFX) file could not be decrypted: the password is wrong or the file is damaged";
const UNSUPPORTED: &str = "the PKCS#12 (PFX) file uses an algorithm that is not supported (such as RC2, used by \
     old exports); export it again with AES-256 (the default of `openssl pkcs12 -export` since OpenSSL 3)";
const MAC_ABSENT: &str =
    "the PKCS#12 (PFX) file has no integrity check (MAC), and OpenSSL reads such files only \
     without a password; export it again with a MAC (the default of `openssl pkcs12 -export`)";
const DAMAGED: &str =
    "the PKCS#12 (PFX) file could not be read: it is damaged or in an unsupported form";

/// Reads a PKCS#12 (PFX) file with its password (`""` for a file without one).
///
/// The bundle's chain starts with the certificate that holds the key's public part, followed by its issuers
/// (as far as present) and then any other certificates. Only RSA (2048 to 4096 bits) and EC (P-256, P-256K, P-384,
/// P-521) keys are accepted.
///
/// Failures are [`CryptoError::Malformed`] with distinct messages for data that is not PKCS#12, a wrong password
/// (the file's MAC does not verify), a password given for a file without a MAC (which OpenSSL 3.0 cannot read),
/// a file that does not decrypt, an unsupported algorithm, a key that matches no
/// certificate, and a file without certificates. Files that use legacy algorithms (RC2, as OpenSSL 1.x exported by
/// default) are read when OpenSSL's legacy provider is installed: it is loaded on first need.
///
/// A file whose key derivations (its MAC's and its encrypted parts' iteration counts) add up to more than
/// [`MAX_PKCS12_KDF_ITERATIONS`](super::MAX_PKCS12_KDF_ITERATIONS) is refused before OpenSSL runs any of them.
pub fn parse_pkcs12(der: &[u8], password: &str) -> Result<CertificateBundle, CryptoError> {
    if password.contains('\0') {
        return Err(CryptoError::Malformed(
            "the password contains a NUL character, which PKCS#12 passwords cannot hold".into(),
        ));
    }
    let p12 = Pkcs12::from_der(der).map_err(|_| CryptoError::Malformed(NOT_PKCS12.into()))?;
    // OpenSSL runs whatever key derivations the file names, with no upper bound: count them first.
    let iterations = kdf_iterations(der).map_err(|_| Failure::Damaged.error())?;
    if iterations > MAX_KDF_ITERATIONS {
        return Err(CryptoError::Malformed(format!(
            "the PKCS#12 (PFX) file asks for {} key-derivation iterations in total; at most {MAX_KDF_ITERATIONS} \
             are accepted (export it again with the usual iteration counts)",
            if iterations == u64::MAX {
                "more than 18446744073709551614".to_string()
            } else {
                iterations.to_string()
            }
        )));
    }
    let parsed = match p12.parse2(password) {
        Ok(parsed) => parsed,
        Err(stack) => match failure(&stack) {
            Failure::Unsupported if load_legacy_provider() => p12
                .parse2(password)
                .map_err(|stack| failure(&stack).error())?,
            other => return Err(other.error()),
        },
    };
    let ParsedPkcs12_2 { pkey, cert, ca } = parsed;
    let key = pkey.map(PrivateKey::from_pkey).transpose()?;
    let mut certs: Vec<_> = cert.into_iter().collect();
    if let Some(ca) = ca {
        certs.extend(ca);
    }
    assemble(key, certs, "the PKCS#12 (PFX) file")
}

/// A PKCS#12 (PFX) file with no password (the empty password), holding `key` (if any) and `chain` (DER, leaf
/// first; may be empty). The key, when given, must belong to the first certificate.
///
/// The file is what `openssl pkcs12 -export -passout pass:` writes with OpenSSL 3's defaults (AES-256-CBC with
/// PBKDF2, HMAC-SHA-256 MAC), so `openssl pkcs12 -passin pass:`, Python's
/// `pkcs12.load_key_and_certificates(data, None)` and .NET read it.
pub fn to_pkcs12(
    key: Option<&PrivateKey>,
    chain: &[Vec<u8>],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let certs = certificates_for(key, chain)?;
    if key.is_none() && certs.is_empty() {
        return Err(CryptoError::Malformed(
            "a PKCS#12 (PFX) file needs a key or a certificate".into(),
        ));
    }
    let e = CryptoError::openssl;
    let mut builder = Pkcs12::builder();
    if let Some(key) = key {
        let pkey = key.to_pkey()?;
        builder.pkey(&pkey);
    }
    if let Some((leaf, rest)) = certs.split_first() {
        builder.cert(leaf);
        if !rest.is_empty() {
            let mut ca = Stack::new().map_err(e)?;
            for cert in rest {
                ca.push(cert.clone()).map_err(e)?;
            }
            builder.ca(ca);
        }
    }
    let p12 = builder.build2("").map_err(e)?;
    Ok(Zeroizing::new(p12.to_der().map_err(e)?))
}

/// Why OpenSSL could not read a PKCS#12 file.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    WrongPassword,
    MacAbsent,
    Undecryptable,
    Unsupported,
    Damaged,
}

impl Failure {
    fn error(self) -> CryptoError {
        CryptoError::Malformed(
            match self {
                Failure::WrongPassword => WRONG_PASSWORD,
                Failure::MacAbsent => MAC_ABSENT,
                Failure::Undecryptable => UNDECRYPTABLE,
                Failure::Unsupported => UNSUPPORTED,
                Failure::Damaged => DAMAGED,
            }
            .into(),
        )
    }
}

/// Classifies OpenSSL's errors by their reason strings.
fn failure(stack: &ErrorStack) -> Failure {
    let reasons: Vec<&str> = stack.errors().iter().filter_map(|e| e.reason()).collect();
    if reasons.contains(&"mac absent") {
        Failure::MacAbsent
    } else if reasons.contains(&"mac verify failure") {
        Failure::WrongPassword
    } else if reasons.iter().any(|r| r.contains("unsupported")) {
        Failure::Unsupported
    } else if reasons.contains(&"bad decrypt") {
        Failure::Undecryptable
    } else {
        Failure::Damaged
    }
}

/// Loads OpenSSL's legacy provider (RC2, DES, …) next to the default one, once per process; whether it is loaded.
fn load_legacy_provider() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(
        || match openssl::provider::Provider::try_load(None, "legacy", true) {
            Ok(provider) => {
                // Kept loaded for the life of the process (unloading it would break files read later).
                std::mem::forget(provider);
                true
            }
            Err(_) => false,
        },
    )
}
