//! Generation, JWK round trips, and every RSA and EC algorithm in both directions.

use super::*;

const RSA_SIGN: [&str; 6] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const RSA_ENC: [&str; 3] = ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"];
const CURVES: [(Curve, &str, usize); 4] = [
    (Curve::P256, "ES256", 32),
    (Curve::P256K, "ES256K", 32),
    (Curve::P384, "ES384", 48),
    (Curve::P521, "ES512", 66),
];

#[test]
fn rsa_key_properties_and_jwks() {
    let key = rsa_key();
    assert_eq!(key.key_type(), KeyType::Rsa);
    assert_eq!(key.key_size(), Some(2048));
    assert_eq!(key.curve(), None);

    let public = key.public_jwk().unwrap();
    assert_eq!(public.kty, "RSA");
    assert_eq!(public.n.as_ref().unwrap().len(), 256);
    assert_ne!(
        public.n.as_ref().unwrap()[0],
        0,
        "n has no leading zero byte"
    );
    assert_eq!(public.e.as_deref(), Some(&[1u8, 0, 1][..]));
    assert!(!public.has_private());
    assert!(public.p.is_none() && public.qi.is_none() && public.k.is_none());

    let private = key.to_private_jwk().unwrap();
    assert_eq!(private.kty, "RSA");
    for (name, f) in [
        ("d", &private.d),
        ("p", &private.p),
        ("q", &private.q),
        ("dp", &private.dp),
        ("dq", &private.dq),
        ("qi", &private.qi),
    ] {
        let v = f.as_ref().unwrap_or_else(|| panic!("{name} missing"));
        assert_ne!(v[0], 0, "{name} has a leading zero byte");
    }
    assert_eq!(private.clone().public_only(), public);

    // Through JSON and back: the same key.
    let json = serde_json::to_string(&private).unwrap();
    let parsed: Jwk = serde_json::from_str(&json).unwrap();
    let again = PrivateKey::from_jwk(&parsed).unwrap();
    assert_eq!(again.public_jwk().unwrap(), public);
    assert_eq!(again.to_private_jwk().unwrap(), private);
    let sig = again.sign("RS256", &sha256(b"m")).unwrap();
    assert!(key.verify("RS256", &sha256(b"m"), &sig).unwrap());
}

#[test]
fn rsa_hsm_kty_is_accepted_and_exported_without_hsm() {
    let mut jwk = rsa_key().to_private_jwk().unwrap();
    jwk.kty = "RSA-HSM".into();
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.key_type(), KeyType::Rsa);
    assert_eq!(key.public_jwk().unwrap().kty, "RSA");
}

#[test]
fn rsa_import_with_only_n_e_d_works() {
    let full = rsa_key().to_private_jwk().unwrap();
    let mut jwk = Jwk::of_type("RSA");
    jwk.n = full.n.clone();
    jwk.e = full.e.clone();
    jwk.d = full.d.clone();
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.key_size(), Some(2048));
    for alg in RSA_SIGN {
        let digest = digest_for(alg, b"n, e, d only");
        let sig = key.sign(alg, &digest).unwrap();
        assert!(rsa_key().verify(alg, &digest, &sig).unwrap(), "{alg}");
    }
    for alg in RSA_ENC {
        let ct = rsa_key().encrypt(alg, b"secret", None, None).unwrap();
        assert_eq!(
            &key.decrypt(alg, &ct.ciphertext, None, None, None).unwrap()[..],
            b"secret"
        );
    }
    // Its private JWK has just n, e, d.
    let out = key.to_private_jwk().unwrap();
    assert!(out.d.is_some() && out.p.is_none() && out.qi.is_none());
}

#[test]
fn rsa_generation_sizes_and_exponents() {
    for bits in [0, 1024, 2047, 2049, 8192] {
        assert_malformed(PrivateKey::generate_rsa(bits, None), "2048, 3072 or 4096");
    }
    for e in [0, 1, 2, 65536] {
        assert_malformed(
            PrivateKey::generate_rsa(2048, Some(e)),
            "odd and at least 3",
        );
    }
    let key = PrivateKey::generate_rsa(2048, Some(3)).unwrap();
    assert_eq!(key.public_jwk().unwrap().e.as_deref(), Some(&[3u8][..]));
    let sig = key.sign("PS256", &sha256(b"e=3")).unwrap();
    assert!(key.verify("PS256", &sha256(b"e=3"), &sig).unwrap());
}

#[test]
fn rsa_sign_and_verify_every_algorithm() {
    let key = rsa_key();
    for alg in RSA_SIGN {
        let digest = digest_for(alg, b"the message");
        let sig = key.sign(alg, &digest).unwrap();
        assert_eq!(sig.len(), 256, "{alg}");
        assert!(key.verify(alg, &digest, &sig).unwrap(), "{alg}");

        let other = digest_for(alg, b"another message");
        assert!(
            !key.verify(alg, &other, &sig).unwrap(),
            "{alg}: other digest"
        );
        let mut bad = sig.clone();
        bad[100] ^= 1;
        assert!(
            !key.verify(alg, &digest, &bad).unwrap(),
            "{alg}: altered signature"
        );
        assert!(
            !key.verify(alg, &digest, &vec![0xff; 256]).unwrap(),
            "{alg}: signature >= n"
        );
        assert!(
            !key.verify(alg, &digest, &[0; 256]).unwrap(),
            "{alg}: zero signature"
        );

        assert_malformed(key.verify(alg, &digest, &sig[1..]), "256 bytes");
        assert_malformed(key.sign(alg, &digest[1..]), "digest");
        assert_malformed(key.verify(alg, &digest[1..], &sig), "digest");
    }
    // PKCS#1 v1.5 is deterministic, PSS is not.
    let d = sha256(b"x");
    assert_eq!(
        key.sign("RS256", &d).unwrap(),
        key.sign("RS256", &d).unwrap()
    );
    assert_ne!(
        key.sign("PS256", &d).unwrap(),
        key.sign("PS256", &d).unwrap()
    );
    // A PKCS#1 signature is not a PSS one with the same hash, and RS256 is not RS512.
    let rs = key.sign("RS256", &d).unwrap();
    assert!(!key.verify("PS256", &d, &rs).unwrap());
}

#[test]
fn rsa_digest_length_message() {
    let r = rsa_key().sign("RS256", &[0u8; 20]);
    assert_malformed(
        r,
        "RS256 signs a 32-byte SHA-256 digest; 20 bytes were given",
    );
}

#[test]
fn rsa_encrypt_decrypt_every_algorithm() {
    let key = rsa_key();
    for alg in RSA_ENC {
        for msg in [&b""[..], b"x", b"a short secret", &[0x5a; 100]] {
            let out = key.encrypt(alg, msg, None, None).unwrap();
            assert_eq!(out.ciphertext.len(), 256);
            assert!(out.iv.is_none() && out.tag.is_none());
            let back = key.decrypt(alg, &out.ciphertext, None, None, None).unwrap();
            assert_eq!(&back[..], msg, "{alg}");
        }
        // Randomized padding: two encryptions differ.
        let a = key.encrypt(alg, b"same", None, None).unwrap();
        let b = key.encrypt(alg, b"same", None, None).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        // Zero decrypts to zero, which no padding accepts: OAEP refuses it, RSA1_5 answers a synthetic message
        // (implicit rejection, see rsa1_5.rs).
        if alg == "RSA1_5" {
            assert!(
                key.decrypt(alg, &[0u8; 256], None, None, None)
                    .unwrap()
                    .len()
                    <= 245
            );
        } else {
            assert_unauthentic(key.decrypt(alg, &[0u8; 256], None, None, None));
        }
        assert_malformed(
            key.decrypt(alg, &a.ciphertext[1..], None, None, None),
            "256 bytes",
        );
    }
    let ct = key
        .encrypt("RSA-OAEP-256", b"msg", None, None)
        .unwrap()
        .ciphertext;
    let mut bad = ct.clone();
    bad[10] ^= 0x40;
    assert_unauthentic(key.decrypt("RSA-OAEP-256", &bad, None, None, None));
    // Decrypting with another scheme fails.
    assert_unauthentic(key.decrypt("RSA-OAEP", &ct, None, None, None));

    // Size limits: 2048-bit OAEP-SHA1 takes 214 bytes, OAEP-SHA256 190, PKCS#1 v1.5 245.
    for (alg, max) in [("RSA-OAEP", 214), ("RSA-OAEP-256", 190), ("RSA1_5", 245)] {
        assert!(key.encrypt(alg, &vec![1; max], None, None).is_ok(), "{alg}");
        assert_malformed(
            key.encrypt(alg, &vec![1; max + 1], None, None),
            &format!("at most {max} bytes"),
        );
    }
}

#[test]
fn rsa_wrap_unwrap_every_algorithm() {
    let key = rsa_key();
    for alg in RSA_ENC {
        for len in [16, 24, 32, 64] {
            let cek: Vec<u8> = (0..len as u8).collect();
            let wrapped = key.wrap_key(alg, &cek).unwrap();
            assert_eq!(wrapped.len(), 256);
            assert_eq!(
                &key.unwrap_key(alg, &wrapped).unwrap()[..],
                &cek[..],
                "{alg}"
            );
        }
        if alg == "RSA1_5" {
            assert!(key.unwrap_key(alg, &[0u8; 256]).unwrap().len() <= 245);
        } else {
            assert_unauthentic(key.unwrap_key(alg, &[0u8; 256]));
        }
        assert_malformed(key.wrap_key(alg, b""), "empty");
        assert_malformed(key.unwrap_key(alg, &[1u8; 255]), "256 bytes");
    }
}

#[test]
fn ec_every_curve() {
    for (curve, alg, w) in CURVES {
        let key = PrivateKey::generate_ec(curve).unwrap();
        assert_eq!(key.key_type(), KeyType::Ec);
        assert_eq!(key.key_size(), None);
        assert_eq!(key.curve(), Some(curve));

        let public = key.public_jwk().unwrap();
        assert_eq!(public.kty, "EC");
        assert_eq!(public.crv.as_deref(), Some(curve.as_str()));
        assert_eq!(public.x.as_ref().unwrap().len(), w);
        assert_eq!(public.y.as_ref().unwrap().len(), w);
        assert!(!public.has_private());
        let private = key.to_private_jwk().unwrap();
        assert_eq!(private.d.as_ref().unwrap().len(), w);
        assert_eq!(private.clone().public_only(), public);

        let json = serde_json::to_vec(&private).unwrap();
        let again = PrivateKey::from_jwk(&serde_json::from_slice(&json).unwrap()).unwrap();
        assert_eq!(again.to_private_jwk().unwrap(), private);

        // Many signatures, so that r or s with leading zero bytes come up (always for P-521).
        for i in 0..20u8 {
            let digest = digest_for(alg, &[i; 3]);
            let sig = key.sign(alg, &digest).unwrap();
            assert_eq!(sig.len(), 2 * w, "{alg}");
            assert!(again.verify(alg, &digest, &sig).unwrap(), "{alg} #{i}");
            let mut bad = sig.clone();
            bad[w + 3] ^= 0x10;
            assert!(!key.verify(alg, &digest, &bad).unwrap(), "{alg}: altered s");
            let other = digest_for(alg, &[i; 4]);
            assert!(
                !key.verify(alg, &other, &sig).unwrap(),
                "{alg}: other digest"
            );
        }
        let digest = digest_for(alg, b"m");
        // r = 0, s = 0 and r, s ≥ n are well-formed but wrong.
        assert!(!key.verify(alg, &digest, &vec![0; 2 * w]).unwrap());
        assert!(!key.verify(alg, &digest, &vec![0xff; 2 * w]).unwrap());
        // And the error stack is left clean: a later good verify still works.
        let sig = key.sign(alg, &digest).unwrap();
        assert!(key.verify(alg, &digest, &sig).unwrap());

        assert_malformed(
            key.verify(alg, &digest, &sig[1..]),
            &format!("{} bytes", 2 * w),
        );
        assert_malformed(key.sign(alg, &digest[1..]), "digest");
        assert_malformed(key.verify(alg, &digest[1..], &sig), "digest");
        assert_malformed(key.sign("RS256", &sha256(b"m")), "needs an RSA key");
        assert_malformed(
            key.encrypt("RSA-OAEP", b"m", None, None),
            "needs an RSA key",
        );
        assert_malformed(
            key.decrypt("RSA-OAEP", &[0; 256], None, None, None),
            "needs an RSA key",
        );
        assert_malformed(key.wrap_key("A256KW", &[0; 32]), "needs a 256-bit oct");
        assert_malformed(key.unwrap_key("RSA1_5", &[0; 256]), "needs an RSA key");
        assert_malformed(
            key.encrypt("A128GCM", b"m", None, None),
            "needs a 128-bit oct",
        );
    }
}

#[test]
fn ec_algorithm_must_match_curve() {
    let p256 = PrivateKey::generate_ec(Curve::P256).unwrap();
    assert_malformed(
        p256.sign("ES384", &[0; 48]),
        "algorithm ES384 needs a P-384 key",
    );
    assert_malformed(
        p256.sign("ES256K", &[0; 32]),
        "algorithm ES256K needs a P-256K key",
    );
    assert_malformed(
        p256.verify("ES512", &[0; 64], &[0; 132]),
        "needs a P-521 key",
    );
    let k = PrivateKey::generate_ec(Curve::P256K).unwrap();
    assert_malformed(
        k.sign("ES256", &[0; 32]),
        "algorithm ES256 needs a P-256 key",
    );
    // ES512 signs a SHA-512 digest, not a 66-byte one.
    let p521 = PrivateKey::generate_ec(Curve::P521).unwrap();
    assert_malformed(
        p521.sign("ES512", &[0; 66]),
        "ES512 signs a 64-byte SHA-512 digest; 66 bytes were given",
    );
    // And RSA keys refuse ECDSA.
    assert_malformed(rsa_key().sign("ES256", &[0; 32]), "needs a P-256 key");
}

#[test]
fn ec_hsm_kty_and_secp256k1_name() {
    let mut jwk = PrivateKey::generate_ec(Curve::P256K)
        .unwrap()
        .to_private_jwk()
        .unwrap();
    jwk.kty = "EC-HSM".into();
    jwk.crv = Some("SECP256K1".into());
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.curve(), Some(Curve::P256K));
    assert_eq!(key.public_jwk().unwrap().crv.as_deref(), Some("P-256K"));
    assert_eq!(key.public_jwk().unwrap().kty, "EC");
}

#[test]
fn ec_import_accepts_values_without_leading_zeros() {
    // Find a key whose d starts with a zero byte and import it with that byte dropped.
    for _ in 0..2000 {
        let key = PrivateKey::generate_ec(Curve::P256).unwrap();
        let mut jwk = key.to_private_jwk().unwrap();
        if jwk.d.as_ref().unwrap()[0] != 0 {
            continue;
        }
        jwk.d = Some(jwk.d.as_ref().unwrap()[1..].to_vec());
        let again = PrivateKey::from_jwk(&jwk).unwrap();
        assert_eq!(
            again.to_private_jwk().unwrap(),
            key.to_private_jwk().unwrap()
        );
        return;
    }
    panic!("no key with a leading zero byte in d came up");
}
