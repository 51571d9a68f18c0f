//! The only crate that touches OpenSSL or aws-lc (AES-256-GCM sealing and random numbers, through aws-lc-rs).
//! Everything cryptographic in Keyhaven goes through here: random numbers,
//! authenticated encryption with bound associated data, the key hierarchy (root → vault, geography keys),
//! client-secret hashing, access-token signatures, the local TLS certificate authority, and the X.509 certificates of
//! Azure Key Vault "certificates" ([`x509`]).
#![warn(missing_docs)]

mod aead;
mod error;
mod jwt;
pub mod keys;
mod mac;
mod passphrase;
mod password;
pub mod release;
mod tls;
pub mod x509;

pub use aead::{SealingKey, KEY_LEN, NONCE_LEN, TAG_LEN};
pub use error::CryptoError;
pub use jwt::TokenSigner;
pub use mac::{hmac_sha256, MacKey};
pub use passphrase::{open_with_passphrase, seal_with_passphrase};
pub use password::{hash_client_secret, verify_client_secret};
pub use tls::{
    certificate_validity, issue_ca, issue_server_certificate, name_constraints, verify_issued,
    CertifiedKey, PermittedNames,
};

use zeroize::Zeroizing;

/// Fills `buf` from aws-lc's CSPRNG (cheap per call: nonces are drawn once per seal).
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf)
        .map_err(|_| CryptoError::Library("the random generator failed".into()))
}

/// Random bytes from [`fill_random`].
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    fill_random(&mut buf)?;
    Ok(buf)
}

/// A fresh random object version.
pub fn random_version() -> Result<keyhaven_model::Version, CryptoError> {
    Ok(keyhaven_model::Version::from_bytes(random_bytes::<16>()?))
}

/// A random UUID (version 4), as text.
pub fn random_uuid() -> Result<String, CryptoError> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    Ok(s)
}

/// A random credential string (32 bytes, base64url without padding).
pub fn random_token() -> Result<Zeroizing<String>, CryptoError> {
    use base64::Engine;
    let b = Zeroizing::new(random_bytes::<32>()?);
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*b),
    ))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref());
    out
}

/// Compares two byte strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

/// Lower-case hexadecimal of `bytes` (digests, ids; never secret material).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Incremental SHA-256.
pub struct Sha256(openssl::sha::Sha256);

impl Default for Sha256 {
    fn default() -> Self {
        Sha256(openssl::sha::Sha256::new())
    }
}

impl Sha256 {
    /// Feeds `data` into the hash.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The SHA-256 digest of everything fed so far.
    pub fn finish(self) -> [u8; 32] {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_uuids() {
        let u = random_uuid().map_err(|e| e.to_string());
        let u = u.as_deref().unwrap_or_default();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]), "variant: {u}");
        for (i, c) in u.char_indices() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(c, '-', "{u}");
            } else {
                assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{u}");
            }
        }
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn ct_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
