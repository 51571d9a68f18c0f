//! Attestation tokens and authority keys as secure key release reads them: the compact JWS splitter and its
//! base64url/JSON header and claims (`release::jws_header`, `jws_unverified_claims`), signature checks against an
//! RSA and an EC P-256 key (`release::verify_jws`, every algorithm name the header may give), and a JWKS entry's
//! certificate (`release::jwk_from_certificate`), on any input.
//!
//! The first byte picks a mode:
//! - even: the rest is the token text;
//! - odd: the rest is a certificate's DER, given as `x5c` (standard base64).
//!
//! Checked: no panic, no allocation beyond libFuzzer's limits; a token never verifies (the keys are made here and
//! nothing is signed with them); what `jws_header` reads, `verify_jws` reads the same way (it never calls a token
//! malformed whose header reads, unless its algorithm or signature encoding is refused); a certificate's key reads
//! back as a public JWK usable as a verification key.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keyhaven_crypto::keys::Jwk;
use keyhaven_crypto::release::{jwk_from_certificate, jws_header, jws_unverified_claims, verify_jws};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// An RSA-2048 and an EC P-256 public JWK, made once.
fn keys() -> &'static [Jwk; 2] {
    static KEYS: OnceLock<[Jwk; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = openssl::rsa::Rsa::generate(2048).expect("rsa");
        let mut r = Jwk::default();
        r.kty = "RSA".into();
        r.n = Some(rsa.n().to_vec());
        r.e = Some(rsa.e().to_vec());
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).expect("group");
        let ec = openssl::ec::EcKey::generate(&group).expect("ec");
        let mut ctx = openssl::bn::BigNumContext::new().expect("ctx");
        let (mut x, mut y) = (openssl::bn::BigNum::new().expect("x"), openssl::bn::BigNum::new().expect("y"));
        ec.public_key().affine_coordinates(&group, &mut x, &mut y, &mut ctx).expect("point");
        let mut e = Jwk::default();
        e.kty = "EC".into();
        e.crv = Some("P-256".into());
        e.x = Some(x.to_vec_padded(32).expect("x"));
        e.y = Some(y.to_vec_padded(32).expect("y"));
        [r, e]
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        if let Ok(jwk) = jwk_from_certificate(&STANDARD.encode(rest)) {
            assert!(jwk.kty == "RSA" || jwk.kty == "EC", "a certificate's key is RSA or EC");
            assert!(!jwk.has_private(), "a certificate gives a public key");
            let _ = verify_jws("e30.e30.", &jwk);
        }
        return;
    }
    let Ok(token) = std::str::from_utf8(rest) else {
        return;
    };
    let header = jws_header(token);
    let _ = jws_unverified_claims(token);
    for key in keys() {
        match verify_jws(token, key) {
            Ok(_) => panic!("a token verified with a key nothing was signed with"),
            Err(keyhaven_crypto::CryptoError::Malformed(_)) | Err(keyhaven_crypto::CryptoError::Unauthentic) => {}
            Err(e) => {
                let _ = e;
            }
        }
    }
    if header.is_err() {
        assert!(keys().iter().all(|k| verify_jws(token, k).is_err()));
    }
});
