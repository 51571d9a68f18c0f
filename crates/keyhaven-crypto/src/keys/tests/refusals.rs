//! JWK imports that must be refused, and what the refusals say.

use super::*;
use openssl::rsa::Rsa;

fn rsa_jwk() -> Jwk {
    rsa_key().to_private_jwk().unwrap()
}

/// The secret parts of a JWK, as they could appear in an error message.
fn secrets(jwk: &Jwk) -> Vec<String> {
    use base64::Engine;
    [&jwk.d, &jwk.p, &jwk.q, &jwk.k]
        .into_iter()
        .flatten()
        .flat_map(|v| {
            [
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v),
                v.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            ]
        })
        .collect()
}

#[track_caller]
fn refused(jwk: &Jwk, needle: &str) {
    let r = PrivateKey::from_jwk(jwk);
    if let Err(e) = &r {
        let text = e.to_string();
        for s in secrets(jwk).iter().filter(|s| s.len() >= 16) {
            assert!(
                !text.contains(&s[..16]),
                "the error shows key material: {text}"
            );
        }
    }
    assert_malformed(r, needle);
}

#[test]
fn unknown_kty() {
    let mut jwk = rsa_jwk();
    jwk.kty = "RSA-PSS".into();
    refused(&jwk, "unknown key type (kty) \"RSA-PSS\"");
    jwk.kty = "rsa".into();
    refused(&jwk, "unknown key type");
    jwk.kty = String::new();
    refused(&jwk, "unknown key type");
}

#[test]
fn rsa_missing_fields() {
    let mut jwk = rsa_jwk();
    jwk.n = None;
    refused(&jwk, "an RSA JWK needs n and e");
    let mut jwk = rsa_jwk();
    jwk.e = None;
    refused(&jwk, "an RSA JWK needs n and e");
    let mut jwk = rsa_jwk();
    jwk.d = None;
    refused(&jwk, "needs its private exponent d");
    for field in ["p", "q", "dp", "dq", "qi"] {
        let mut jwk = rsa_jwk();
        match field {
            "p" => jwk.p = None,
            "q" => jwk.q = None,
            "dp" => jwk.dp = None,
            "dq" => jwk.dq = None,
            _ => jwk.qi = None,
        }
        refused(&jwk, "needs all five");
    }
}

#[test]
fn rsa_small_key_is_refused() {
    let small = Rsa::generate(1024).unwrap();
    let mut jwk = Jwk::of_type("RSA");
    jwk.n = Some(small.n().to_vec());
    jwk.e = Some(small.e().to_vec());
    jwk.d = Some(small.d().to_vec());
    refused(&jwk, "at least 2048 bits; this one is 1024 bits");
    jwk.p = Some(small.p().unwrap().to_vec());
    jwk.q = Some(small.q().unwrap().to_vec());
    jwk.dp = Some(small.dmp1().unwrap().to_vec());
    jwk.dq = Some(small.dmq1().unwrap().to_vec());
    jwk.qi = Some(small.iqmp().unwrap().to_vec());
    refused(&jwk, "at least 2048 bits");
    // Leading zero bytes do not make a key bigger.
    let mut padded = vec![0u8; 128];
    padded.extend_from_slice(small.n().to_vec().as_slice());
    jwk.n = Some(padded);
    refused(&jwk, "at least 2048 bits; this one is 1024 bits");
}

#[test]
fn rsa_leading_zero_bytes_are_accepted_on_import() {
    let mut jwk = rsa_jwk();
    let mut n = vec![0u8, 0];
    n.extend_from_slice(jwk.n.as_ref().unwrap());
    jwk.n = Some(n);
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.key_size(), Some(2048));
    assert_eq!(key.public_jwk().unwrap(), rsa_key().public_jwk().unwrap());
}

#[test]
fn rsa_inconsistent_parts_are_refused() {
    // d altered, with the CRT parts present.
    let mut jwk = rsa_jwk();
    let mut d = jwk.d.clone().unwrap();
    d[200] ^= 4;
    jwk.d = Some(d.clone());
    refused(&jwk, "do not make one key");
    // d altered, with only n, e, d: the pairwise check catches it.
    let mut bare = Jwk::of_type("RSA");
    bare.n = jwk.n.clone();
    bare.e = jwk.e.clone();
    bare.d = Some(d);
    refused(&bare, "does not belong to the public key");
    // n altered (still odd), CRT parts present.
    let mut jwk = rsa_jwk();
    let mut n = jwk.n.clone().unwrap();
    n[255] ^= 2;
    jwk.n = Some(n);
    refused(&jwk, "do not make one key");
    // p and q swapped: dp, dq and qi no longer fit.
    let mut jwk = rsa_jwk();
    let (p, q) = (jwk.p.clone(), jwk.q.clone());
    jwk.p = q;
    jwk.q = p;
    refused(&jwk, "do not make one key");
    // A CRT part altered. (OpenSSL would quietly fall back to d for such a key; the import refuses it.)
    for field in ["dp", "dq", "qi"] {
        let mut jwk = rsa_jwk();
        let slot = match field {
            "dp" => &mut jwk.dp,
            "dq" => &mut jwk.dq,
            _ => &mut jwk.qi,
        };
        let mut v = slot.clone().unwrap();
        v[50] ^= 1;
        *slot = Some(v);
        refused(&jwk, "do not make one key");
    }
    // Another e.
    let mut jwk = rsa_jwk();
    jwk.e = Some(vec![3]);
    refused(&jwk, "do not make one key");
}

#[test]
fn rsa_bad_public_values() {
    let mut jwk = rsa_jwk();
    jwk.e = Some(vec![1, 0, 0]);
    refused(&jwk, "public exponent e must be odd");
    jwk.e = Some(vec![1]);
    refused(&jwk, "public exponent e must be odd");
    jwk.e = Some(vec![]);
    refused(&jwk, "public exponent e must be odd");
    jwk.e = Some(vec![0xff; 9]);
    refused(&jwk, "at most 64 bits");
    let mut jwk = rsa_jwk();
    let mut n = jwk.n.clone().unwrap();
    n[255] &= 0xfe;
    jwk.n = Some(n);
    refused(&jwk, "modulus n is even");
    let mut jwk = rsa_jwk();
    jwk.d = Some(vec![0xff; 256]);
    refused(&jwk, "out of range");
    jwk.d = Some(vec![1]);
    refused(&jwk, "out of range");
    let mut jwk = rsa_jwk();
    jwk.n = Some(vec![0xff; 2049]);
    refused(&jwk, "over 16384 bits");
}

fn ec_jwk(curve: Curve) -> Jwk {
    PrivateKey::generate_ec(curve)
        .unwrap()
        .to_private_jwk()
        .unwrap()
}

#[test]
fn ec_missing_or_bad_fields() {
    let mut jwk = ec_jwk(Curve::P256);
    jwk.crv = None;
    refused(&jwk, "an EC JWK needs crv");
    jwk.crv = Some("P-999".into());
    refused(&jwk, "unknown curve 'P-999'");
    jwk.crv = Some("p-256".into());
    refused(&jwk, "unknown curve");
    let mut jwk = ec_jwk(Curve::P256);
    jwk.x = None;
    refused(&jwk, "an EC JWK needs x and y");
    let mut jwk = ec_jwk(Curve::P256);
    jwk.y = None;
    refused(&jwk, "an EC JWK needs x and y");
    let mut jwk = ec_jwk(Curve::P256);
    jwk.d = None;
    refused(&jwk, "needs its private key d");
    let mut jwk = ec_jwk(Curve::P256);
    jwk.x = Some(vec![1; 33]);
    refused(&jwk, "the EC field x on P-256 is 32 bytes; 33 were given");
    let mut jwk = ec_jwk(Curve::P384);
    jwk.d = Some(vec![]);
    refused(&jwk, "the EC field d on P-384 is 48 bytes; 0 were given");
}

#[test]
fn ec_point_not_on_curve() {
    for curve in [Curve::P256, Curve::P256K, Curve::P384, Curve::P521] {
        let mut jwk = ec_jwk(curve);
        let mut y = jwk.y.clone().unwrap();
        let last = y.len() - 1;
        y[last] ^= 1;
        jwk.y = Some(y);
        refused(&jwk, &format!("not a valid point on {}", curve.as_str()));
    }
    // Coordinates beyond the field prime.
    let mut jwk = ec_jwk(Curve::P256);
    jwk.x = Some(vec![0xff; 32]);
    refused(&jwk, "not a valid point");
}

#[test]
fn ec_point_of_another_key() {
    let mut jwk = ec_jwk(Curve::P384);
    let other = ec_jwk(Curve::P384);
    jwk.x = other.x.clone();
    jwk.y = other.y.clone();
    refused(&jwk, "does not belong to the private key d");
    // A curve's key labelled as another curve.
    let mut jwk = ec_jwk(Curve::P256);
    jwk.crv = Some("P-256K".into());
    refused(&jwk, "not a valid point on P-256K");
}

#[test]
fn ec_private_scalar_out_of_range() {
    let mut jwk = ec_jwk(Curve::P256);
    jwk.d = Some(vec![0xff; 32]);
    refused(&jwk, "out of range");
    jwk.d = Some(vec![0; 32]);
    refused(&jwk, "out of range");
}

#[test]
fn oct_bad_k() {
    let mut jwk = Jwk::of_type("oct");
    refused(&jwk, "an oct JWK needs k");
    for len in [0usize, 8, 20, 31, 33, 64] {
        jwk.k = Some(vec![7; len]);
        refused(&jwk, &format!("16, 24 or 32 bytes; {len} bytes were given"));
    }
}

#[test]
fn bad_base64_in_json_is_refused_by_serde() {
    let r: Result<Jwk, _> = serde_json::from_str(r#"{"kty":"oct","k":"not base64!"}"#);
    assert!(r.is_err());
    // Padded and standard base64 are accepted too.
    let j: Jwk = serde_json::from_str(r#"{"kty":"oct","k":"AAECAwQFBgcICQoLDA0ODw=="}"#).unwrap();
    assert_eq!(j.k.as_deref(), Some(&(0u8..16).collect::<Vec<_>>()[..]));
    assert!(PrivateKey::from_jwk(&j).is_ok());
}

#[test]
fn new_rsa_keys_over_4096_bits_are_refused_stored_ones_still_load() {
    // Only the modulus length is looked at: a 8192-bit n with nothing else right is refused for its size.
    let mut jwk = rsa_jwk();
    let mut n = vec![0u8; 3];
    n.extend(std::iter::repeat_n(0xff, 1024));
    jwk.n = Some(n);
    let e = PrivateKey::import_jwk(&jwk).unwrap_err().to_string();
    assert!(
        e.contains("over 4096 bits") && e.contains("8192 bits"),
        "{e}"
    );
    // 4097 bits: one bit over.
    let mut n = vec![0x01];
    n.extend(std::iter::repeat_n(0xff, 512));
    jwk.n = Some(n);
    let e = PrivateKey::import_jwk(&jwk).unwrap_err().to_string();
    assert!(e.contains("this one is 4097 bits"), "{e}");
    // A 4096-bit key imports; loading (from_jwk, as for stored keys) keeps the wider limit.
    let big = PrivateKey::generate_rsa(4096, None).unwrap();
    PrivateKey::import_jwk(&big.to_private_jwk().unwrap()).unwrap();
    let big = PrivateKey {
        inner: Inner::Rsa(openssl::pkey::PKey::from_rsa(Rsa::generate(4608).unwrap()).unwrap()),
    };
    let jwk = big.to_private_jwk().unwrap();
    assert!(PrivateKey::import_jwk(&jwk).is_err());
    PrivateKey::from_jwk(&jwk).unwrap();
}
