//! Algorithm names (Azure's/JOSE's) and what they mean.

use super::Curve;
use crate::CryptoError;
use openssl::md::{Md, MdRef};

/// A digest algorithm, by its output length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub(super) fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "SHA-1",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    pub(super) fn md(self) -> &'static MdRef {
        match self {
            Hash::Sha1 => Md::sha1(),
            Hash::Sha256 => Md::sha256(),
            Hash::Sha384 => Md::sha384(),
            Hash::Sha512 => Md::sha512(),
        }
    }
}

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignAlg {
    /// RSASSA-PKCS1-v1_5.
    Rs(Hash),
    /// RSASSA-PSS, MGF1 with the same hash, salt length = hash length.
    Ps(Hash),
    /// ECDSA on the given curve, JOSE `r ‖ s` encoding.
    Es(Curve),
}

impl SignAlg {
    pub(super) fn parse(alg: &str) -> Result<SignAlg, CryptoError> {
        Ok(match alg {
            "RS256" => SignAlg::Rs(Hash::Sha256),
            "RS384" => SignAlg::Rs(Hash::Sha384),
            "RS512" => SignAlg::Rs(Hash::Sha512),
            "PS256" => SignAlg::Ps(Hash::Sha256),
            "PS384" => SignAlg::Ps(Hash::Sha384),
            "PS512" => SignAlg::Ps(Hash::Sha512),
            "ES256" => SignAlg::Es(Curve::P256),
            "ES256K" => SignAlg::Es(Curve::P256K),
            "ES384" => SignAlg::Es(Curve::P384),
            "ES512" => SignAlg::Es(Curve::P521),
            other => {
                return Err(CryptoError::Malformed(format!(
                    "unknown signature algorithm {}; supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, \
                     ES256K, ES384, ES512",
                    shown(other)
                )))
            }
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            SignAlg::Rs(Hash::Sha384) => "RS384",
            SignAlg::Rs(Hash::Sha512) => "RS512",
            SignAlg::Rs(_) => "RS256",
            SignAlg::Ps(Hash::Sha384) => "PS384",
            SignAlg::Ps(Hash::Sha512) => "PS512",
            SignAlg::Ps(_) => "PS256",
            SignAlg::Es(Curve::P256) => "ES256",
            SignAlg::Es(Curve::P256K) => "ES256K",
            SignAlg::Es(Curve::P384) => "ES384",
            SignAlg::Es(Curve::P521) => "ES512",
        }
    }

    pub(super) fn hash(self) -> Hash {
        match self {
            SignAlg::Rs(h) | SignAlg::Ps(h) => h,
            SignAlg::Es(Curve::P256 | Curve::P256K) => Hash::Sha256,
            SignAlg::Es(Curve::P384) => Hash::Sha384,
            SignAlg::Es(Curve::P521) => Hash::Sha512,
        }
    }

    /// Refuses a digest that is not this algorithm's hash length.
    pub(super) fn check_digest(self, digest: &[u8]) -> Result<(), CryptoError> {
        let h = self.hash();
        if digest.len() == h.len() {
            Ok(())
        } else {
            Err(CryptoError::Malformed(format!(
                "{} signs a {}-byte {} digest; {} bytes were given",
                self.name(),
                h.len(),
                h.name(),
                digest.len()
            )))
        }
    }
}

/// An RSA encryption scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RsaPad {
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1 (`RSA-OAEP`).
    Oaep,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (`RSA-OAEP-256`).
    Oaep256,
    /// RSAES-PKCS1-v1_5 (`RSA1_5`).
    Pkcs1,
}

impl RsaPad {
    pub(super) fn name(self) -> &'static str {
        match self {
            RsaPad::Oaep => "RSA-OAEP",
            RsaPad::Oaep256 => "RSA-OAEP-256",
            RsaPad::Pkcs1 => "RSA1_5",
        }
    }

    fn parse(alg: &str) -> Option<RsaPad> {
        match alg {
            "RSA-OAEP" => Some(RsaPad::Oaep),
            "RSA-OAEP-256" => Some(RsaPad::Oaep256),
            "RSA1_5" => Some(RsaPad::Pkcs1),
            _ => None,
        }
    }

    /// The longest message this scheme encrypts under a modulus of `k` bytes.
    pub(super) fn max_message(self, k: usize) -> usize {
        match self {
            RsaPad::Oaep => k.saturating_sub(2 * Hash::Sha1.len() + 2),
            RsaPad::Oaep256 => k.saturating_sub(2 * Hash::Sha256.len() + 2),
            RsaPad::Pkcs1 => k.saturating_sub(11),
        }
    }
}

/// An AES mode for encrypt/decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AesMode {
    Gcm,
    /// CBC without padding.
    Cbc,
    /// CBC with PKCS#7 padding.
    CbcPad,
}

/// An encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EncAlg {
    Rsa(RsaPad),
    /// AES with a key of `key_len` bytes.
    Aes(AesMode, usize),
}

impl EncAlg {
    pub(super) fn parse(alg: &str) -> Result<EncAlg, CryptoError> {
        if let Some(p) = RsaPad::parse(alg) {
            return Ok(EncAlg::Rsa(p));
        }
        Ok(match alg {
            "A128GCM" => EncAlg::Aes(AesMode::Gcm, 16),
            "A192GCM" => EncAlg::Aes(AesMode::Gcm, 24),
            "A256GCM" => EncAlg::Aes(AesMode::Gcm, 32),
            "A128CBC" => EncAlg::Aes(AesMode::Cbc, 16),
            "A192CBC" => EncAlg::Aes(AesMode::Cbc, 24),
            "A256CBC" => EncAlg::Aes(AesMode::Cbc, 32),
            "A128CBCPAD" => EncAlg::Aes(AesMode::CbcPad, 16),
            "A192CBCPAD" => EncAlg::Aes(AesMode::CbcPad, 24),
            "A256CBCPAD" => EncAlg::Aes(AesMode::CbcPad, 32),
            other => {
                return Err(CryptoError::Malformed(format!(
                    "unknown encryption algorithm {}; supported: RSA-OAEP, RSA-OAEP-256, RSA1_5, A128GCM, A192GCM, \
                     A256GCM, A128CBC, A192CBC, A256CBC, A128CBCPAD, A192CBCPAD, A256CBCPAD",
                    shown(other)
                )))
            }
        })
    }
}

/// The name of an AES encryption algorithm.
pub(super) fn aes_name(mode: AesMode, key_len: usize) -> String {
    let m = match mode {
        AesMode::Gcm => "GCM",
        AesMode::Cbc => "CBC",
        AesMode::CbcPad => "CBCPAD",
    };
    format!("A{}{m}", key_len * 8)
}

/// A key-wrapping algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WrapAlg {
    Rsa(RsaPad),
    /// RFC 3394 AES key wrap with a key-encryption key of this many bytes.
    AesKw(usize),
    /// RFC 3394 AES key wrap with a key-encryption key of any AES size (`CKM_AES_KEY_WRAP`, api-version 7.6).
    AesKwAnySize,
    /// RFC 5649 AES key wrap with padding, any AES size (`CKM_AES_KEY_WRAP_PAD`, api-version 7.6).
    AesKwPad,
}

impl WrapAlg {
    pub(super) fn parse(alg: &str) -> Result<WrapAlg, CryptoError> {
        if let Some(p) = RsaPad::parse(alg) {
            return Ok(WrapAlg::Rsa(p));
        }
        Ok(match alg {
            "A128KW" => WrapAlg::AesKw(16),
            "A192KW" => WrapAlg::AesKw(24),
            "A256KW" => WrapAlg::AesKw(32),
            "CKM_AES_KEY_WRAP" => WrapAlg::AesKwAnySize,
            "CKM_AES_KEY_WRAP_PAD" => WrapAlg::AesKwPad,
            other => {
                return Err(CryptoError::Malformed(format!(
                    "unknown key-wrapping algorithm {}; supported: RSA-OAEP, RSA-OAEP-256, RSA1_5, A128KW, A192KW, \
                     A256KW, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD",
                    shown(other)
                )))
            }
        })
    }
}

/// A caller-given name, quoted and cut short, for error messages.
pub(super) fn shown(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// Refuses a key-type mismatch: `alg` needs `what`.
pub(super) fn needs(alg: &str, what: &str) -> CryptoError {
    CryptoError::Malformed(format!("algorithm {alg} needs {what}"))
}
