//! Conversions between [`PrivateKey`] and OpenSSL's `PKey`, for the code that hands keys to OpenSSL as a whole
//! (certificates, certificate requests, PKCS#12, PEM).

use super::{Curve, Inner, PrivateKey};
use crate::CryptoError;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use zeroize::Zeroizing;

/// Smallest RSA modulus accepted from a PKCS#12 or PEM file (the same floor as JWK import).
const MIN_RSA_BITS: u32 = 2048;

impl PrivateKey {
    /// The key as an OpenSSL `PKey` (RSA or EC). Oct keys have no such form and give [`CryptoError::Malformed`].
    ///
    /// The `PKey` shares the key with `self` (OpenSSL reference counting), so nothing is copied.
    pub(crate) fn to_pkey(&self) -> Result<PKey<Private>, CryptoError> {
        match &self.inner {
            Inner::Rsa(k) => Ok(k.clone()),
            Inner::Ec(k, _) => PKey::from_ec_key(k.clone()).map_err(CryptoError::openssl),
            Inner::Oct(_) => Err(CryptoError::Malformed(
                "a symmetric (oct) key cannot be used with certificates; use an RSA or EC key"
                    .into(),
            )),
        }
    }

    /// Takes an OpenSSL key read from a file (PKCS#12, PEM) as a new key: RSA of 2048 to
    /// [`MAX_NEW_RSA_BITS`](super::MAX_NEW_RSA_BITS) bits (refused before the consistency check, which tests the
    /// primes), or EC on P-256, P-256K
    /// (secp256k1), P-384 or P-521. The key must pass OpenSSL's consistency check. Anything else gives
    /// [`CryptoError::Malformed`].
    pub(crate) fn from_pkey(pkey: PKey<Private>) -> Result<PrivateKey, CryptoError> {
        let inner = match pkey.id() {
            Id::RSA => {
                let rsa = pkey.rsa().map_err(CryptoError::openssl)?;
                let bits = rsa.size().saturating_mul(8);
                if bits < MIN_RSA_BITS {
                    return Err(CryptoError::Malformed(format!(
                        "RSA keys must be at least {MIN_RSA_BITS} bits; this one is {bits} bits"
                    )));
                }
                super::check_new_rsa_bits(bits)?;
                if !rsa.check_key().unwrap_or(false) {
                    let _ = openssl::error::ErrorStack::get();
                    return Err(CryptoError::Malformed(
                        "the RSA private key failed its consistency check".into(),
                    ));
                }
                Inner::Rsa(PKey::from_rsa(rsa).map_err(CryptoError::openssl)?)
            }
            Id::EC => {
                let ec = pkey.ec_key().map_err(CryptoError::openssl)?;
                let curve = curve_of(ec.group().curve_name())?;
                if ec.check_key().is_err() {
                    return Err(CryptoError::Malformed(
                        "the EC private key failed its consistency check".into(),
                    ));
                }
                Inner::Ec(ec, curve)
            }
            _ => {
                return Err(CryptoError::Malformed(
                    "only RSA and EC private keys are supported".into(),
                ))
            }
        };
        Ok(PrivateKey { inner })
    }
}

/// The Azure curve for an OpenSSL named curve.
pub(crate) fn curve_of(nid: Option<Nid>) -> Result<Curve, CryptoError> {
    match nid {
        Some(Nid::X9_62_PRIME256V1) => Ok(Curve::P256),
        Some(Nid::SECP384R1) => Ok(Curve::P384),
        Some(Nid::SECP521R1) => Ok(Curve::P521),
        Some(Nid::SECP256K1) => Ok(Curve::P256K),
        _ => Err(CryptoError::Malformed(
            "unsupported elliptic curve; supported: P-256, P-384, P-521, P-256K".into(),
        )),
    }
}

impl PrivateKey {
    /// The key as secure key release hands it over: PKCS#8 DER for RSA and EC, the raw bytes for oct. Zeroized
    /// on drop.
    pub fn release_material(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match &self.inner {
            Inner::Oct(k) => Ok(Zeroizing::new(k.to_vec())),
            _ => Ok(Zeroizing::new(
                self.to_pkey()?
                    .private_key_to_pkcs8()
                    .map_err(CryptoError::openssl)?,
            )),
        }
    }
}
