//! EC keys: generation, JWK import/export and ECDSA over a digest with JOSE `r ‖ s` signatures.

use super::alg::SignAlg;
use super::jwk::{public_bn, secret_bn};
use super::{Curve, Jwk};
use crate::CryptoError;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::Private;

impl Curve {
    pub(crate) fn nid(self) -> Nid {
        match self {
            Curve::P256 => Nid::X9_62_PRIME256V1,
            Curve::P384 => Nid::SECP384R1,
            Curve::P521 => Nid::SECP521R1,
            Curve::P256K => Nid::SECP256K1,
        }
    }

    /// Bytes in a coordinate, a private scalar, and each half of a JOSE signature.
    pub(crate) fn width(self) -> usize {
        match self {
            Curve::P256 | Curve::P256K => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn group(self) -> Result<EcGroup, CryptoError> {
        EcGroup::from_curve_name(self.nid()).map_err(CryptoError::openssl)
    }
}

/// A new key on `curve`.
pub(super) fn generate(curve: Curve) -> Result<EcKey<Private>, CryptoError> {
    let group = curve.group()?;
    EcKey::generate(&group).map_err(CryptoError::openssl)
}

/// Imports crv, x, y, d: checks sizes, that (x, y) is on the curve, that d is in range, and that d·G = (x, y).
pub(super) fn from_jwk(jwk: &Jwk) -> Result<(EcKey<Private>, Curve), CryptoError> {
    let Some(crv) = jwk.crv.as_deref() else {
        return Err(CryptoError::Malformed("an EC JWK needs crv".into()));
    };
    let curve = Curve::parse(crv)?;
    let (Some(x), Some(y)) = (jwk.x.as_deref(), jwk.y.as_deref()) else {
        return Err(CryptoError::Malformed("an EC JWK needs x and y".into()));
    };
    let Some(d) = jwk.d.as_deref() else {
        return Err(CryptoError::Malformed(
            "an EC JWK needs its private key d".into(),
        ));
    };
    let w = curve.width();
    for (name, v) in [("x", x), ("y", y), ("d", d)] {
        // Exactly `w` bytes is the standard form; shorter values (leading zeros dropped) are accepted too.
        if v.is_empty() || v.len() > w {
            return Err(CryptoError::Malformed(format!(
                "the EC field {name} on {} is {w} bytes; {} were given",
                curve.as_str(),
                v.len()
            )));
        }
    }
    let group = curve.group()?;
    let mut ctx = BigNumContext::new_secure().map_err(CryptoError::openssl)?;
    let (x, y) = (public_bn(x)?, public_bn(y)?);
    let public = EcKey::from_public_key_affine_coordinates(&group, &x, &y).map_err(|_| {
        CryptoError::Malformed(format!(
            "the EC public point (x, y) is not a valid point on {}",
            curve.as_str()
        ))
    })?;
    let d = secret_bn(d)?;
    let mut order = BigNum::new().map_err(CryptoError::openssl)?;
    group
        .order(&mut order, &mut ctx)
        .map_err(CryptoError::openssl)?;
    if d.num_bits() == 0 || d.ucmp(&order) != std::cmp::Ordering::Less {
        return Err(CryptoError::Malformed(format!(
            "the EC private key d is out of range for {}",
            curve.as_str()
        )));
    }
    let mut derived = EcPoint::new(&group).map_err(CryptoError::openssl)?;
    derived
        .mul_generator2(&group, &d, &mut ctx)
        .map_err(CryptoError::openssl)?;
    let matches = derived
        .eq(&group, public.public_key(), &mut ctx)
        .map_err(CryptoError::openssl)?;
    if !matches {
        return Err(CryptoError::Malformed(
            "the EC public point (x, y) does not belong to the private key d".into(),
        ));
    }
    let key = EcKey::from_private_components(&group, &d, &derived).map_err(CryptoError::openssl)?;
    key.check_key()
        .map_err(|_| CryptoError::Malformed("the EC key failed its consistency check".into()))?;
    Ok((key, curve))
}

/// The key as a JWK: crv, x, y, plus d when `private`; all fixed width for the curve.
pub(super) fn to_jwk(
    key: &EcKey<Private>,
    curve: Curve,
    private: bool,
) -> Result<Jwk, CryptoError> {
    let w = width_i32(curve);
    let mut ctx = BigNumContext::new().map_err(CryptoError::openssl)?;
    let mut x = BigNum::new().map_err(CryptoError::openssl)?;
    let mut y = BigNum::new().map_err(CryptoError::openssl)?;
    key.public_key()
        .affine_coordinates(key.group(), &mut x, &mut y, &mut ctx)
        .map_err(CryptoError::openssl)?;
    let mut jwk = Jwk::of_type("EC");
    jwk.crv = Some(curve.as_str().to_string());
    jwk.x = Some(x.to_vec_padded(w).map_err(CryptoError::openssl)?);
    jwk.y = Some(y.to_vec_padded(w).map_err(CryptoError::openssl)?);
    if private {
        jwk.d = Some(
            key.private_key()
                .to_vec_padded(w)
                .map_err(CryptoError::openssl)?,
        );
    }
    Ok(jwk)
}

/// The curve width as OpenSSL's padding functions take it (at most 66).
fn width_i32(curve: Curve) -> i32 {
    curve.width() as i32
}

/// Signs a digest (length checked by the caller) with ECDSA; returns `r ‖ s`, each left-padded to the curve width.
pub(super) fn sign(
    key: &EcKey<Private>,
    curve: Curve,
    digest: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let sig = EcdsaSig::sign(digest, key).map_err(CryptoError::openssl)?;
    let w = width_i32(curve);
    let mut out = sig.r().to_vec_padded(w).map_err(CryptoError::openssl)?;
    out.extend_from_slice(&sig.s().to_vec_padded(w).map_err(CryptoError::openssl)?);
    Ok(out)
}

/// Verifies a JOSE `r ‖ s` signature over a digest (length checked by the caller). A signature that is not twice
/// the curve width is refused as malformed; a well-formed one that does not verify is Ok(false).
pub(super) fn verify(
    key: &EcKey<Private>,
    alg: SignAlg,
    curve: Curve,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let w = curve.width();
    if signature.len() != 2 * w {
        return Err(CryptoError::Malformed(format!(
            "{} signatures are {} bytes (r ‖ s, {w} bytes each); {} were given",
            alg.name(),
            2 * w,
            signature.len()
        )));
    }
    let (r, s) = signature.split_at(w);
    let sig = EcdsaSig::from_private_components(public_bn(r)?, public_bn(s)?)
        .map_err(CryptoError::openssl)?;
    match sig.verify(digest, key) {
        Ok(true) => Ok(true),
        _ => {
            // A rejected signature (r or s zero or out of range) can leave its reason on OpenSSL's error stack;
            // clear it so that it does not surface in an unrelated later call.
            let _ = ErrorStack::get();
            Ok(false)
        }
    }
}
