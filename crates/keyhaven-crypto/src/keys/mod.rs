//! Vault keys (Azure Key Vault "keys"): RSA, EC and symmetric (oct) key material, JWK import/export, and the
//! cryptographic operations Azure defines on them. All primitives are OpenSSL's.
//!
//! Algorithm names are Azure's/JOSE's (`RS256`, `RSA-OAEP-256`, `A256GCM`, `A256KW`, …). Inputs that do not
//! fit (unknown algorithm, algorithm for another key type, wrong digest length, wrong key size, malformed JWK)
//! give [`CryptoError::Malformed`] with a message that is safe to show to the caller.

mod alg;
mod ec;
mod implicit_rejection;
mod jwk;
mod oct;
mod pkey;
mod rsa;
#[cfg(test)]
mod tests;

pub use jwk::Jwk;
pub(crate) use pkey::curve_of;

use crate::CryptoError;
use alg::{needs, EncAlg, SignAlg, WrapAlg};
use openssl::ec::EcKey;
use openssl::pkey::{PKey, Private};
use zeroize::Zeroizing;

/// The largest RSA modulus Keyhaven takes in as a new key, generated or imported (JWK, PKCS#12, PEM): Azure Key
/// Vault's own limit. Keys stored before this limit (up to 16384 bits) still load, sign and decrypt.
pub const MAX_NEW_RSA_BITS: u32 = 4096;

/// Key types as Azure names them (the `-HSM` variants are handled by the caller and map to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA (`RSA`, `RSA-HSM`).
    Rsa,
    /// Elliptic curve (`EC`, `EC-HSM`).
    Ec,
    /// Symmetric AES key (`oct`, `oct-HSM`).
    Oct,
}

/// Elliptic curves Azure supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (secp256r1), for ES256.
    P256,
    /// NIST P-384 (secp384r1), for ES384.
    P384,
    /// NIST P-521 (secp521r1), for ES512.
    P521,
    /// secp256k1, for ES256K.
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

    /// Parses an Azure curve name; `SECP256K1` is accepted for `P-256K`. Case-sensitive.
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
    /// The ciphertext, without the tag.
    pub ciphertext: Vec<u8>,
    /// The IV used (given or generated) for AES-GCM and AES-CBC; `None` for RSA.
    pub iv: Option<Vec<u8>>,
    /// The 16-byte authentication tag for AES-GCM; `None` otherwise.
    pub tag: Option<Vec<u8>>,
}

/// Key material with its private part. Zeroized on drop; `Debug` never shows it.
pub struct PrivateKey {
    inner: Inner,
}

/// OpenSSL frees RSA and EC private parts with `BN_clear_free`, which wipes them; the AES key bytes are wiped by
/// `Zeroizing`.
enum Inner {
    Rsa(PKey<Private>),
    Ec(EcKey<Private>, Curve),
    Oct(Zeroizing<Vec<u8>>),
}

/// Refuses an RSA modulus of `bits` as a new key when it is over [`MAX_NEW_RSA_BITS`].
pub(crate) fn check_new_rsa_bits(bits: u32) -> Result<(), CryptoError> {
    if bits > MAX_NEW_RSA_BITS {
        return Err(CryptoError::Malformed(format!(
            "RSA keys over {MAX_NEW_RSA_BITS} bits are not supported (as in Azure Key Vault); this one is {bits} bits"
        )));
    }
    Ok(())
}

/// The bit length of a big-endian unsigned number (leading zero bytes allowed).
fn bit_length(be: &[u8]) -> u32 {
    let significant = be.iter().skip_while(|&&b| b == 0).count();
    match be.iter().find(|&&b| b != 0) {
        Some(first) => (significant as u32 - 1) * 8 + (8 - first.leading_zeros()),
        None => 0,
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, <redacted>)", self.key_type())
    }
}

impl PrivateKey {
    /// A new RSA key of `bits` (2048, 3072 or 4096) with the given public exponent (65537 when None).
    pub fn generate_rsa(bits: u32, public_exponent: Option<u32>) -> Result<Self, CryptoError> {
        Ok(PrivateKey {
            inner: Inner::Rsa(rsa::generate(bits, public_exponent)?),
        })
    }

    /// A new EC key on `curve`.
    pub fn generate_ec(curve: Curve) -> Result<Self, CryptoError> {
        Ok(PrivateKey {
            inner: Inner::Ec(ec::generate(curve)?, curve),
        })
    }

    /// A new AES key of `bits` (128, 192 or 256).
    pub fn generate_oct(bits: u32) -> Result<Self, CryptoError> {
        Ok(PrivateKey {
            inner: Inner::Oct(oct::generate(bits)?),
        })
    }

    /// Imports a JWK that includes its private parts (RSA: n, e, d and optionally p, q, dp, dq, qi; EC: crv, x, y, d;
    /// oct: k). Checks consistency (the public part matches the private part; x/y on the curve; sizes) and refuses
    /// RSA keys under 2048 bits.
    ///
    /// Details: `kty` may be `RSA`, `EC`, `oct` or their `-HSM` variants. RSA: p, q, dp, dq and qi come all
    /// together or not at all; moduli over 16384 bits and public exponents that are even, below 3 or over 64 bits
    /// are refused; big integers may carry leading zero bytes. EC: x, y and d may be shorter than the curve width
    /// (they are big-endian numbers) but not longer. oct: k is 16, 24 or 32 bytes.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, CryptoError> {
        let inner = match jwk.kty.as_str() {
            "RSA" | "RSA-HSM" => Inner::Rsa(rsa::from_jwk(jwk)?),
            "EC" | "EC-HSM" => {
                let (key, curve) = ec::from_jwk(jwk)?;
                Inner::Ec(key, curve)
            }
            "oct" | "oct-HSM" => Inner::Oct(oct::from_jwk(jwk)?),
            other => {
                return Err(CryptoError::Malformed(format!(
                    "unknown key type (kty) {}; supported: RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM",
                    alg::shown(other)
                )))
            }
        };
        Ok(PrivateKey { inner })
    }

    /// Imports a JWK as a new key: [`PrivateKey::from_jwk`], after refusing an RSA modulus over
    /// [`MAX_NEW_RSA_BITS`] from its length alone, before any arithmetic on it.
    pub fn import_jwk(jwk: &Jwk) -> Result<Self, CryptoError> {
        if matches!(jwk.kty.as_str(), "RSA" | "RSA-HSM") {
            if let Some(n) = jwk.n.as_deref() {
                check_new_rsa_bits(bit_length(n))?;
            }
        }
        Self::from_jwk(jwk)
    }

    /// The key's family.
    pub fn key_type(&self) -> KeyType {
        match self.inner {
            Inner::Rsa(_) => KeyType::Rsa,
            Inner::Ec(..) => KeyType::Ec,
            Inner::Oct(_) => KeyType::Oct,
        }
    }

    /// RSA modulus bits, or AES key bits; None for EC.
    pub fn key_size(&self) -> Option<u32> {
        match &self.inner {
            Inner::Rsa(k) => Some(k.bits()),
            Inner::Ec(..) => None,
            Inner::Oct(k) => u32::try_from(k.len() * 8).ok(),
        }
    }

    /// The curve of an EC key; `None` for RSA and oct keys.
    pub fn curve(&self) -> Option<Curve> {
        match self.inner {
            Inner::Ec(_, curve) => Some(curve),
            _ => None,
        }
    }

    /// The full JWK including private parts (for sealing at rest and for backups).
    pub fn to_private_jwk(&self) -> Result<Jwk, CryptoError> {
        self.jwk(true)
    }

    /// The public JWK: RSA n, e; EC crv, x, y; for oct keys only `kty` (no key material).
    pub fn public_jwk(&self) -> Result<Jwk, CryptoError> {
        self.jwk(false)
    }

    fn jwk(&self, private: bool) -> Result<Jwk, CryptoError> {
        match &self.inner {
            Inner::Rsa(k) => rsa::to_jwk(k, private),
            Inner::Ec(k, curve) => ec::to_jwk(k, *curve, private),
            Inner::Oct(k) => Ok(oct::to_jwk(k, private)),
        }
    }

    /// Signs a digest. RS256/384/512 (PKCS#1 v1.5), PS256/384/512 (PSS, salt length = digest length),
    /// ES256 (P-256), ES256K (P-256K), ES384 (P-384), ES512 (P-521; digest of SHA-512). The digest length must be
    /// the algorithm's hash length. ECDSA signatures are returned as JOSE `r ‖ s` (fixed width), not DER.
    pub fn sign(&self, alg: &str, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let a = SignAlg::parse(alg)?;
        match self.signing_key(a)? {
            SigningKey::Rsa(k) => {
                a.check_digest(digest)?;
                rsa::sign(k, a, digest)
            }
            SigningKey::Ec(k, curve) => {
                a.check_digest(digest)?;
                ec::sign(k, curve, digest)
            }
        }
    }

    /// Verifies a signature made by [`PrivateKey::sign`] (or by anyone with the private key). Ok(false) for a
    /// well-formed but wrong signature.
    ///
    /// A signature of the wrong length for the algorithm and key (RSA: the modulus length; ECDSA: twice the curve
    /// width, `r ‖ s`) is not well-formed and gives [`CryptoError::Malformed`], as does a wrong digest length.
    pub fn verify(&self, alg: &str, digest: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
        let a = SignAlg::parse(alg)?;
        match self.signing_key(a)? {
            SigningKey::Rsa(k) => {
                a.check_digest(digest)?;
                rsa::verify(k, a, digest, signature)
            }
            SigningKey::Ec(k, curve) => {
                a.check_digest(digest)?;
                ec::verify(k, a, curve, digest, signature)
            }
        }
    }

    /// The key for a signature algorithm, or why this key cannot be used with it.
    fn signing_key(&self, a: SignAlg) -> Result<SigningKey<'_>, CryptoError> {
        match (&self.inner, a) {
            (Inner::Rsa(k), SignAlg::Rs(_) | SignAlg::Ps(_)) => Ok(SigningKey::Rsa(k)),
            (Inner::Ec(k, curve), SignAlg::Es(want)) if *curve == want => {
                Ok(SigningKey::Ec(k, *curve))
            }
            (_, SignAlg::Es(want)) => Err(needs(a.name(), &format!("a {} key", want.as_str()))),
            (_, _) => Err(needs(a.name(), "an RSA key")),
        }
    }

    /// Encrypts. RSA: RSA-OAEP (SHA-1), RSA-OAEP-256 (SHA-256, MGF1-SHA-256), RSA1_5. oct: A128GCM/A192GCM/A256GCM
    /// (iv: 12 bytes, generated when None; aad optional; returns the 16-byte tag), A128CBC/A192CBC/A256CBC (no
    /// padding: plaintext a multiple of 16; iv 16 bytes, generated when None), A128CBCPAD/A192CBCPAD/A256CBCPAD
    /// (PKCS#7). The AES key size must match the algorithm.
    ///
    /// An iv or aad given to an algorithm that does not take it (RSA: neither; CBC: no aad) is refused as
    /// malformed; an empty one counts as not given.
    pub fn encrypt(
        &self,
        alg: &str,
        plaintext: &[u8],
        iv: Option<&[u8]>,
        aad: Option<&[u8]>,
    ) -> Result<Encrypted, CryptoError> {
        match (&self.inner, EncAlg::parse(alg)?) {
            (Inner::Rsa(k), EncAlg::Rsa(pad)) => {
                refuse_rsa_params(pad, iv, aad, None)?;
                Ok(Encrypted {
                    ciphertext: rsa::encrypt(k, pad, plaintext, "encrypts")?,
                    iv: None,
                    tag: None,
                })
            }
            (Inner::Oct(k), EncAlg::Aes(mode, len)) => {
                oct::encrypt(k, mode, len, plaintext, iv, aad)
            }
            (_, EncAlg::Rsa(pad)) => Err(needs(pad.name(), "an RSA key")),
            (_, EncAlg::Aes(mode, len)) => Err(needs(
                &alg::aes_name(mode, len),
                &format!("a {}-bit oct (AES) key", len * 8),
            )),
        }
    }

    /// Decrypts what [`PrivateKey::encrypt`] made (GCM needs iv and tag; CBC needs iv). A failed decryption or tag
    /// check gives [`CryptoError::Unauthentic`].
    ///
    /// For CBC, a ciphertext that is not a multiple of 16 bytes is malformed, and bad PKCS#7 padding (CBCPAD) is
    /// unauthentic. For RSA, a ciphertext that is not the modulus length is malformed.
    pub fn decrypt(
        &self,
        alg: &str,
        ciphertext: &[u8],
        iv: Option<&[u8]>,
        aad: Option<&[u8]>,
        tag: Option<&[u8]>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        match (&self.inner, EncAlg::parse(alg)?) {
            (Inner::Rsa(k), EncAlg::Rsa(pad)) => {
                refuse_rsa_params(pad, iv, aad, tag)?;
                rsa::decrypt(k, pad, ciphertext)
            }
            (Inner::Oct(k), EncAlg::Aes(mode, len)) => {
                oct::decrypt(k, mode, len, ciphertext, iv, aad, tag)
            }
            (_, EncAlg::Rsa(pad)) => Err(needs(pad.name(), "an RSA key")),
            (_, EncAlg::Aes(mode, len)) => Err(needs(
                &alg::aes_name(mode, len),
                &format!("a {}-bit oct (AES) key", len * 8),
            )),
        }
    }

    /// Wraps a key. RSA: RSA-OAEP, RSA-OAEP-256, RSA1_5. oct: A128KW/A192KW/A256KW (RFC 3394; the key to wrap is a
    /// multiple of 8 bytes, at least 16).
    pub fn wrap_key(&self, alg: &str, key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match (&self.inner, WrapAlg::parse(alg)?) {
            (Inner::Rsa(k), WrapAlg::Rsa(pad)) => {
                if key.is_empty() {
                    return Err(CryptoError::Malformed("the key to wrap is empty".into()));
                }
                rsa::encrypt(k, pad, key, "wraps")
            }
            (Inner::Oct(k), WrapAlg::AesKw(len)) => oct::wrap(k, len, key),
            (_, WrapAlg::Rsa(pad)) => Err(needs(pad.name(), "an RSA key")),
            (_, WrapAlg::AesKw(len)) => Err(kw_needs(len)),
        }
    }

    /// Unwraps a key wrapped by [`PrivateKey::wrap_key`].
    ///
    /// A wrapped key of impossible length is malformed; one that fails its integrity check (or, for RSA, does not
    /// decrypt) gives [`CryptoError::Unauthentic`].
    pub fn unwrap_key(
        &self,
        alg: &str,
        wrapped: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        match (&self.inner, WrapAlg::parse(alg)?) {
            (Inner::Rsa(k), WrapAlg::Rsa(pad)) => rsa::decrypt(k, pad, wrapped),
            (Inner::Oct(k), WrapAlg::AesKw(len)) => oct::unwrap(k, len, wrapped),
            (_, WrapAlg::Rsa(pad)) => Err(needs(pad.name(), "an RSA key")),
            (_, WrapAlg::AesKw(len)) => Err(kw_needs(len)),
        }
    }
}

/// A key that can make the signatures of one algorithm.
enum SigningKey<'a> {
    Rsa(&'a PKey<Private>),
    Ec(&'a EcKey<Private>, Curve),
}

fn kw_needs(len: usize) -> CryptoError {
    needs(
        &format!("A{}KW", len * 8),
        &format!("a {}-bit oct (AES) key", len * 8),
    )
}

/// RSA encryption takes no iv, aad or tag.
fn refuse_rsa_params(
    pad: alg::RsaPad,
    iv: Option<&[u8]>,
    aad: Option<&[u8]>,
    tag: Option<&[u8]>,
) -> Result<(), CryptoError> {
    for (what, v) in [
        ("iv", iv),
        ("additional authenticated data", aad),
        ("authentication tag", tag),
    ] {
        if v.is_some_and(|v| !v.is_empty()) {
            return Err(CryptoError::Malformed(format!(
                "{} takes no {what}",
                pad.name()
            )));
        }
    }
    Ok(())
}
