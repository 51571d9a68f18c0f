//! Vault keys (Azure Key Vault "keys"): RSA, EC and symmetric (oct) key material, JWK import/export, and the
//! cryptographic operations Azure defines on them. All primitives are OpenSSL's.
//!
//! Algorithm names are Azure's/JOSE's (`RS256`, `RSA-OAEP-256`, `A256GCM`, `A256KW`, …). Inputs that do not
//! fit (unknown algorithm, algorithm for another key type, wrong digest length, wrong key size, malformed JWK)
//! give [`CryptoError::Malformed`] with a message that is safe to show to the caller.

mod jwk;

pub use jwk::Jwk;

use crate::CryptoError;

/// Key types as Azure names them (the `-HSM` variants are handled by the caller and map to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ec,
    Oct,
}

/// Elliptic curves Azure supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    P256K,
}

impl Curve {
    /// `P-256`, `P-384`, `P-521`, `P-256K`.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::P256K => "P-256K",
        }
    }

    pub fn parse(s: &str) -> Result<Curve, CryptoError> {
        match s {
            "P-256" => Ok(Curve::P256),
            "P-384" => Ok(Curve::P384),
            "P-521" => Ok(Curve::P521),
            "P-256K" | "SECP256K1" => Ok(Curve::P256K),
            other => Err(CryptoError::Malformed(format!(
                "unknown curve '{other}'; supported: P-256, P-384, P-521, P-256K"
            ))),
        }
    }
}

/// The result of an encryption: ciphertext, plus the IV and tag for symmetric algorithms that have them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    pub ciphertext: Vec<u8>,
    pub iv: Option<Vec<u8>>,
    pub tag: Option<Vec<u8>>,
}

/// Key material with its private part. Zeroized on drop; `Debug` never shows it.
pub struct PrivateKey {
    inner: Inner,
}

enum Inner {
    Placeholder,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, <redacted>)", self.key_type())
    }
}

impl PrivateKey {
    /// A new RSA key of `bits` (2048, 3072 or 4096) with the given public exponent (65537 when None).
    pub fn generate_rsa(bits: u32, public_exponent: Option<u32>) -> Result<Self, CryptoError> {
        let _ = (bits, public_exponent, &Inner::Placeholder);
        Err(CryptoError::Library("not implemented".into()))
    }

    /// A new EC key on `curve`.
    pub fn generate_ec(curve: Curve) -> Result<Self, CryptoError> {
        let _ = curve;
        Err(CryptoError::Library("not implemented".into()))
    }

    /// A new AES key of `bits` (128, 192 or 256).
    pub fn generate_oct(bits: u32) -> Result<Self, CryptoError> {
        let _ = bits;
        Err(CryptoError::Library("not implemented".into()))
    }

    /// Imports a JWK that includes its private parts (RSA: n, e, d and optionally p, q, dp, dq, qi; EC: crv, x, y, d;
    /// oct: k). Checks consistency (the public part matches the private part; x/y on the curve; sizes) and refuses
    /// RSA keys under 2048 bits.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, CryptoError> {
        let _ = jwk;
        Err(CryptoError::Library("not implemented".into()))
    }

    pub fn key_type(&self) -> KeyType {
        KeyType::Oct
    }

    /// RSA modulus bits, or AES key bits; None for EC.
    pub fn key_size(&self) -> Option<u32> {
        None
    }

    pub fn curve(&self) -> Option<Curve> {
        None
    }

    /// The full JWK including private parts (for sealing at rest and for backups).
    pub fn to_private_jwk(&self) -> Result<Jwk, CryptoError> {
        Err(CryptoError::Library("not implemented".into()))
    }

    /// The public JWK: RSA n, e; EC crv, x, y; for oct keys only `kty` (no key material).
    pub fn public_jwk(&self) -> Result<Jwk, CryptoError> {
        Err(CryptoError::Library("not implemented".into()))
    }

    /// Signs a digest. RS256/384/512 (PKCS#1 v1.5), PS256/384/512 (PSS, salt length = digest length),
    /// ES256 (P-256), ES256K (P-256K), ES384 (P-384), ES512 (P-521; digest of SHA-512). The digest length must be
    /// the algorithm's hash length. ECDSA signatures are returned as JOSE `r ‖ s` (fixed width), not DER.
    pub fn sign(&self, alg: &str, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let _ = (alg, digest);
        Err(CryptoError::Library("not implemented".into()))
    }

    /// Verifies a signature made by [`PrivateKey::sign`] (or by anyone with the private key). Ok(false) for a
    /// well-formed but wrong signature.
    pub fn verify(&self, alg: &str, digest: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let _ = (alg, digest, signature);
        Err(CryptoError::Library("not implemented".into()))
    }

    /// Encrypts. RSA: RSA-OAEP (SHA-1), RSA-OAEP-256 (SHA-256, MGF1-SHA-256), RSA1_5. oct: A128GCM/A192GCM/A256GCM
    /// (iv: 12 bytes, generated when None; aad optional; returns the 16-byte tag), A128CBC/A192CBC/A256CBC (no
    /// padding: plaintext a multiple of 16; iv 16 bytes, generated when None), A128CBCPAD/A192CBCPAD/A256CBCPAD
    /// (PKCS#7). The AES key size must match the algorithm.
    pub fn encrypt(
        &self,
        alg: &str,
        plaintext: &[u8],
        iv: Option<&[u8]>,
        aad: Option<&[u8]>,
    ) -> Result<Encrypted, CryptoError> {
        let _ = (alg, plaintext, iv, aad);
        Err(CryptoError::Library("not implemented".into()))
    }

    /// Decrypts what [`PrivateKey::encrypt`] made (GCM needs iv and tag; CBC needs iv). A failed decryption or tag
    /// check gives [`CryptoError::Unauthentic`].
    pub fn decrypt(
        &self,
        alg: &str,
        ciphertext: &[u8],
        iv: Option<&[u8]>,
        aad: Option<&[u8]>,
        tag: Option<&[u8]>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        let _ = (alg, ciphertext, iv, aad, tag);
        Err(CryptoError::Library("not implemented".into()))
    }

    /// Wraps a key. RSA: RSA-OAEP, RSA-OAEP-256, RSA1_5. oct: A128KW/A192KW/A256KW (RFC 3394; the key to wrap is a
    /// multiple of 8 bytes, at least 16).
    pub fn wrap_key(&self, alg: &str, key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let _ = (alg, key);
        Err(CryptoError::Library("not implemented".into()))
    }

    /// Unwraps a key wrapped by [`PrivateKey::wrap_key`].
    pub fn unwrap_key(
        &self,
        alg: &str,
        wrapped: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        let _ = (alg, wrapped);
        Err(CryptoError::Library("not implemented".into()))
    }
}
