//! Compact JWS verification against a public JWK, for attestation tokens issued by an outside authority.
//! RS256/RS384/RS512, PS256/PS384/PS512 and ES256/ES384/ES512 are accepted; `none` and HMAC never are.

use crate::keys::{Curve, Jwk};
use crate::CryptoError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{PKey, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::Value;

fn bad(m: &str) -> CryptoError {
    CryptoError::Malformed(m.to_string())
}

/// The three parts of a compact JWS.
fn parts(token: &str) -> Result<(&str, &str, &str), CryptoError> {
    let mut it = token.trim().split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(c), Some(s), None) => Ok((h, c, s)),
        _ => Err(bad(
            "the token is not a compact JWS (three dot-separated parts)",
        )),
    }
}

fn json_part(part: &str, what: &str) -> Result<Value, CryptoError> {
    let bytes = B64
        .decode(part)
        .map_err(|_| bad(&format!("the token's {what} is not base64url")))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| bad(&format!("the token's {what} is not JSON")))?;
    if !v.is_object() {
        return Err(bad(&format!("the token's {what} is not a JSON object")));
    }
    Ok(v)
}

/// A token's protected header, read without checking anything (to find its `kid`).
pub fn jws_header(token: &str) -> Result<Value, CryptoError> {
    let (h, _, _) = parts(token)?;
    json_part(h, "header")
}

/// The unverified claims of a token (to find its issuer before its key is known).
pub fn jws_unverified_claims(token: &str) -> Result<Value, CryptoError> {
    let (_, c, _) = parts(token)?;
    json_part(c, "claims")
}

/// Checks a compact JWS's signature with `key` (a public JWK: RSA `n`/`e`, or EC `crv`/`x`/`y`) and returns its
/// claims. The algorithm comes from the header and must fit the key's type. Expiry and claims are the caller's.
pub fn verify_jws(token: &str, key: &Jwk) -> Result<Value, CryptoError> {
    let (h, c, s) = parts(token)?;
    let header = json_part(h, "header")?;
    let alg = header["alg"].as_str().unwrap_or_default();
    let sig = B64
        .decode(s)
        .map_err(|_| bad("the token's signature is not base64url"))?;
    let signed = &token.trim().as_bytes()[..h.len() + 1 + c.len()];
    let valid = match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let pkey = rsa_public(key)?;
            let md = digest(&alg[2..]);
            let mut v = Verifier::new(md, &pkey).map_err(CryptoError::openssl)?;
            if alg.starts_with("PS") {
                v.set_rsa_padding(Padding::PKCS1_PSS)
                    .map_err(CryptoError::openssl)?;
                v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                    .map_err(CryptoError::openssl)?;
            }
            v.update(signed).map_err(CryptoError::openssl)?;
            v.verify(&sig).unwrap_or(false)
        }
        "ES256" | "ES384" | "ES512" => {
            let (ec, curve) = ec_public(key)?;
            let expected = match alg {
                "ES256" => Curve::P256,
                "ES384" => Curve::P384,
                _ => Curve::P521,
            };
            if curve != expected {
                return Err(CryptoError::Unauthentic);
            }
            let w = curve.width();
            if sig.len() != 2 * w {
                return Err(CryptoError::Unauthentic);
            }
            let r = BigNum::from_slice(&sig[..w]).map_err(CryptoError::openssl)?;
            let s = BigNum::from_slice(&sig[w..]).map_err(CryptoError::openssl)?;
            let esig = EcdsaSig::from_private_components(r, s).map_err(CryptoError::openssl)?;
            let d = hash(digest(&alg[2..]), signed).map_err(CryptoError::openssl)?;
            esig.verify(&d, &ec).unwrap_or(false)
        }
        _ => return Err(bad(
            "the token's algorithm is not accepted (RS256/384/512, PS256/384/512, ES256/384/512)",
        )),
    };
    // Verification failures leave errors on OpenSSL's queue; they are not ours to report.
    let _ = openssl::error::ErrorStack::get();
    if !valid {
        return Err(CryptoError::Unauthentic);
    }
    json_part(c, "claims")
}

fn digest(bits: &str) -> MessageDigest {
    match bits {
        "384" => MessageDigest::sha384(),
        "512" => MessageDigest::sha512(),
        _ => MessageDigest::sha256(),
    }
}

/// The public key of a JWKS entry given only as a certificate (`x5c[0]`, standard base64 DER), as a JWK: RSA `n`/`e`
/// or EC `crv`/`x`/`y`. The certificate itself is not judged: the JWKS it came from is the trust anchor.
pub fn jwk_from_certificate(x5c0: &str) -> Result<Jwk, CryptoError> {
    use base64::engine::general_purpose::STANDARD;
    let der = STANDARD
        .decode(x5c0.trim())
        .map_err(|_| bad("x5c is not base64"))?;
    let cert =
        openssl::x509::X509::from_der(&der).map_err(|_| bad("x5c is not a DER certificate"))?;
    let key = cert.public_key().map_err(CryptoError::openssl)?;
    let mut jwk = Jwk::default();
    if let Ok(rsa) = key.rsa() {
        jwk.kty = "RSA".into();
        jwk.n = Some(rsa.n().to_vec());
        jwk.e = Some(rsa.e().to_vec());
        return Ok(jwk);
    }
    let ec = key
        .ec_key()
        .map_err(|_| bad("the certificate's key is neither RSA nor EC"))?;
    let curve = crate::keys::curve_of(ec.group().curve_name())?;
    let mut ctx = openssl::bn::BigNumContext::new().map_err(CryptoError::openssl)?;
    let (mut x, mut y) = (
        BigNum::new().map_err(CryptoError::openssl)?,
        BigNum::new().map_err(CryptoError::openssl)?,
    );
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .map_err(CryptoError::openssl)?;
    let w = curve.width() as i32;
    jwk.kty = "EC".into();
    jwk.crv = Some(curve.as_str().to_string());
    jwk.x = Some(x.to_vec_padded(w).map_err(CryptoError::openssl)?);
    jwk.y = Some(y.to_vec_padded(w).map_err(CryptoError::openssl)?);
    Ok(jwk)
}

/// An RSA public key from a JWK's `n` and `e`.
pub(crate) fn rsa_public(key: &Jwk) -> Result<PKey<Public>, CryptoError> {
    if !key.kty.starts_with("RSA") {
        return Err(bad("the key is not an RSA key"));
    }
    let (Some(n), Some(e)) = (&key.n, &key.e) else {
        return Err(bad("the RSA key lacks n or e"));
    };
    let bn = |b: &[u8]| BigNum::from_slice(b).map_err(CryptoError::openssl);
    let rsa = Rsa::from_public_components(bn(n)?, bn(e)?).map_err(CryptoError::openssl)?;
    if rsa.size() < 256 {
        return Err(bad("RSA keys under 2048 bits are not accepted"));
    }
    PKey::from_rsa(rsa).map_err(CryptoError::openssl)
}

fn ec_public(key: &Jwk) -> Result<(EcKey<Public>, Curve), CryptoError> {
    if !key.kty.starts_with("EC") {
        return Err(bad("the key is not an EC key"));
    }
    let curve = Curve::parse(key.crv.as_deref().unwrap_or_default())?;
    let (Some(x), Some(y)) = (&key.x, &key.y) else {
        return Err(bad("the EC key lacks x or y"));
    };
    let group = EcGroup::from_curve_name(curve.nid()).map_err(CryptoError::openssl)?;
    let bn = |b: &[u8]| BigNum::from_slice(b).map_err(CryptoError::openssl);
    let ec = EcKey::from_public_key_affine_coordinates(&group, &*bn(x)?, &*bn(y)?)
        .map_err(|_| bad("the EC key's point is not on its curve"))?;
    Ok((ec, curve))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_jwk(n: Vec<u8>, e: Vec<u8>) -> Jwk {
        let mut j = Jwk::default();
        j.kty = "RSA".into();
        j.n = Some(n);
        j.e = Some(e);
        j
    }
    use openssl::sign::Signer;

    fn token(alg: &str, pkey: &PKey<openssl::pkey::Private>, claims: &Value) -> String {
        let h = B64.encode(serde_json::json!({"alg": alg, "kid": "k"}).to_string());
        let c = B64.encode(claims.to_string());
        let input = format!("{h}.{c}");
        let sig = if alg.starts_with("ES") {
            let d = hash(MessageDigest::sha256(), input.as_bytes()).unwrap();
            let s = EcdsaSig::sign(&d, &pkey.ec_key().unwrap()).unwrap();
            let mut out = s.r().to_vec_padded(32).unwrap();
            out.extend(s.s().to_vec_padded(32).unwrap());
            out
        } else {
            let mut s = Signer::new(MessageDigest::sha256(), pkey).unwrap();
            s.update(input.as_bytes()).unwrap();
            s.sign_to_vec().unwrap()
        };
        format!("{input}.{}", B64.encode(sig))
    }

    #[test]
    fn rs256_and_es256_verify_and_forgeries_fail() {
        let claims = serde_json::json!({"iss": "https://a.example", "x": 1});
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let r = rsa.rsa().unwrap();
        let rjwk = rsa_jwk(r.n().to_vec(), r.e().to_vec());
        let t = token("RS256", &rsa, &claims);
        assert_eq!(verify_jws(&t, &rjwk).unwrap(), claims);
        let mut forged: Vec<&str> = t.split('.').collect();
        let other = B64.encode(serde_json::json!({"iss": "https://a.example", "x": 2}).to_string());
        forged[1] = &other;
        assert!(matches!(
            verify_jws(&forged.join("."), &rjwk),
            Err(CryptoError::Unauthentic)
        ));

        let group = EcGroup::from_curve_name(Curve::P256.nid()).unwrap();
        let ec = EcKey::generate(&group).unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        ec.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        let ejwk = {
            let mut j = Jwk::default();
            j.kty = "EC".into();
            j.crv = Some("P-256".into());
            j.x = Some(x.to_vec_padded(32).unwrap());
            j.y = Some(y.to_vec_padded(32).unwrap());
            j
        };
        let t = token("ES256", &PKey::from_ec_key(ec).unwrap(), &claims);
        assert_eq!(verify_jws(&t, &ejwk).unwrap(), claims);
        // The RSA key does not verify an ES256 token, nor the EC key an RS256 one.
        assert!(verify_jws(&t, &rjwk).is_err());
        assert!(verify_jws(&token("RS256", &rsa, &claims), &ejwk).is_err());
    }
}
