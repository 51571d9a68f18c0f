//! Symmetric keys: AES-GCM, AES-CBC(PAD) and AES key wrap.

use super::*;

const SIZES: [(u32, &str); 3] = [(128, "A128"), (192, "A192"), (256, "A256")];

fn aes_key(bits: u32) -> PrivateKey {
    PrivateKey::generate_oct(bits).unwrap()
}

#[test]
fn oct_generation_and_jwks() {
    for (bits, _) in SIZES {
        let key = aes_key(bits);
        assert_eq!(key.key_type(), KeyType::Oct);
        assert_eq!(key.key_size(), Some(bits));
        assert_eq!(key.curve(), None);
        let public = key.public_jwk().unwrap();
        assert_eq!(public.kty, "oct");
        assert_eq!(
            public,
            Jwk::of_type("oct"),
            "the public JWK of an oct key is just kty"
        );
        let private = key.to_private_jwk().unwrap();
        assert_eq!(private.k.as_ref().unwrap().len(), bits as usize / 8);
        let again = PrivateKey::from_jwk(&private).unwrap();
        assert_eq!(again.to_private_jwk().unwrap(), private);
        assert_ne!(aes_key(bits).to_private_jwk().unwrap(), private);
    }
    for bits in [0, 64, 129, 512] {
        assert_malformed(PrivateKey::generate_oct(bits), "128, 192 or 256");
    }
    let mut jwk = aes_key(256).to_private_jwk().unwrap();
    jwk.kty = "oct-HSM".into();
    assert_eq!(PrivateKey::from_jwk(&jwk).unwrap().key_type(), KeyType::Oct);
}

#[test]
fn oct_debug_hides_the_key() {
    let key = aes_key(128);
    let k = key.to_private_jwk().unwrap().k.clone().unwrap();
    let shown = format!("{key:?}");
    assert_eq!(shown, "PrivateKey(Oct, <redacted>)");
    let jwk_shown = format!("{:?}", key.to_private_jwk().unwrap());
    let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!jwk_shown.contains(&hex) && !jwk_shown.contains(&format!("{k:?}")));
}

#[test]
fn gcm_round_trips_and_tampering() {
    for (bits, prefix) in SIZES {
        let key = aes_key(bits);
        let alg = format!("{prefix}GCM");
        for msg in [&b""[..], b"x", &[7u8; 16], &[9u8; 1000]] {
            for aad in [None, Some(&b""[..]), Some(&b"context"[..])] {
                let out = key.encrypt(&alg, msg, None, aad).unwrap();
                let iv = out.iv.clone().unwrap();
                let tag = out.tag.clone().unwrap();
                assert_eq!(iv.len(), 12);
                assert_eq!(tag.len(), 16);
                assert_eq!(out.ciphertext.len(), msg.len());
                let back = key
                    .decrypt(&alg, &out.ciphertext, Some(&iv), aad, Some(&tag))
                    .unwrap();
                assert_eq!(&back[..], msg);
            }
        }
        let out = key
            .encrypt(&alg, b"attack at dawn", None, Some(b"aad"))
            .unwrap();
        let (iv, tag) = (out.iv.clone().unwrap(), out.tag.clone().unwrap());
        let ct = &out.ciphertext;
        let mut bad_ct = ct.clone();
        bad_ct[0] ^= 1;
        assert_unauthentic(key.decrypt(&alg, &bad_ct, Some(&iv), Some(b"aad"), Some(&tag)));
        let mut bad_tag = tag.clone();
        bad_tag[15] ^= 0x80;
        assert_unauthentic(key.decrypt(&alg, ct, Some(&iv), Some(b"aad"), Some(&bad_tag)));
        assert_unauthentic(key.decrypt(&alg, ct, Some(&iv), Some(b"aaD"), Some(&tag)));
        assert_unauthentic(key.decrypt(&alg, ct, Some(&iv), None, Some(&tag)));
        let mut bad_iv = iv.clone();
        bad_iv[0] ^= 1;
        assert_unauthentic(key.decrypt(&alg, ct, Some(&bad_iv), Some(b"aad"), Some(&tag)));
        assert_unauthentic(aes_key(bits).decrypt(&alg, ct, Some(&iv), Some(b"aad"), Some(&tag)));
        assert_unauthentic(key.decrypt(&alg, &ct[1..], Some(&iv), Some(b"aad"), Some(&tag)));

        // Random IVs differ; a given IV is used as is.
        let a = key.encrypt(&alg, b"m", None, None).unwrap();
        let b = key.encrypt(&alg, b"m", None, None).unwrap();
        assert_ne!(a.iv, b.iv);
        let fixed = [3u8; 12];
        let c = key.encrypt(&alg, b"m", Some(&fixed), None).unwrap();
        assert_eq!(c.iv.as_deref(), Some(&fixed[..]));

        assert_malformed(
            key.encrypt(&alg, b"m", Some(&[0; 16]), None),
            "12-byte iv; 16 bytes",
        );
        assert_malformed(
            key.decrypt(&alg, ct, None, None, Some(&tag)),
            "needs the iv",
        );
        assert_malformed(
            key.decrypt(&alg, ct, Some(&iv), None, None),
            "needs the authentication tag",
        );
        assert_malformed(
            key.decrypt(&alg, ct, Some(&iv), None, Some(&tag[..12])),
            "16 bytes; 12",
        );
        assert_malformed(
            key.decrypt(&alg, ct, Some(&[0; 11]), None, Some(&tag)),
            "12-byte iv",
        );
    }
}

#[test]
fn cbc_round_trips() {
    for (bits, prefix) in SIZES {
        let key = aes_key(bits);
        let nopad = format!("{prefix}CBC");
        let pad = format!("{prefix}CBCPAD");
        for len in [0usize, 16, 32, 160] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let out = key.encrypt(&nopad, &msg, None, None).unwrap();
            assert_eq!(out.ciphertext.len(), len);
            assert!(out.tag.is_none());
            let iv = out.iv.clone().unwrap();
            assert_eq!(iv.len(), 16);
            let back = key
                .decrypt(&nopad, &out.ciphertext, Some(&iv), None, None)
                .unwrap();
            assert_eq!(&back[..], &msg[..]);
        }
        for len in [0usize, 1, 15, 16, 17, 100] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let out = key.encrypt(&pad, &msg, None, None).unwrap();
            assert_eq!(out.ciphertext.len(), (len / 16 + 1) * 16);
            let iv = out.iv.clone().unwrap();
            let back = key
                .decrypt(&pad, &out.ciphertext, Some(&iv), None, None)
                .unwrap();
            assert_eq!(&back[..], &msg[..]);
        }
        // A given IV is used as is: CBC with the same key and IV is deterministic.
        let iv = [5u8; 16];
        let a = key.encrypt(&pad, b"hello", Some(&iv), None).unwrap();
        let b = key.encrypt(&pad, b"hello", Some(&iv), None).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.iv.as_deref(), Some(&iv[..]));

        assert_malformed(
            key.encrypt(&nopad, &[0; 15], None, None),
            "multiple of 16 bytes; 15 bytes",
        );
        assert_malformed(
            key.encrypt(&nopad, &[0; 16], Some(&[0; 12]), None),
            "16-byte iv; 12 bytes",
        );
        assert_malformed(
            key.encrypt(&pad, b"m", None, Some(b"aad")),
            "takes no additional authenticated data",
        );
        assert_malformed(
            key.decrypt(&pad, &a.ciphertext, None, None, None),
            "needs the iv",
        );
        assert_malformed(
            key.decrypt(&pad, &a.ciphertext[1..], Some(&iv), None, None),
            "multiple of 16",
        );
        assert_malformed(
            key.decrypt(&pad, &[], Some(&iv), None, None),
            "non-zero multiple of 16",
        );
        assert_malformed(
            key.decrypt(&pad, &a.ciphertext, Some(&iv), None, Some(&[1; 16])),
            "no authentication tag",
        );
        // Empty aad and tag count as not given.
        assert!(key
            .decrypt(&pad, &a.ciphertext, Some(&iv), Some(b""), Some(b""))
            .is_ok());
    }
}

#[test]
fn cbcpad_bad_padding_is_unauthentic() {
    let key = aes_key(256);
    let iv = [0u8; 16];
    // A block whose last byte is 0 is never valid PKCS#7 padding.
    let mut block = [0x41u8; 16];
    block[15] = 0;
    let ct = key
        .encrypt("A256CBC", &block, Some(&iv), None)
        .unwrap()
        .ciphertext;
    assert_unauthentic(key.decrypt("A256CBCPAD", &ct, Some(&iv), None, None));
    // A padding byte larger than the block.
    block[15] = 17;
    let ct = key
        .encrypt("A256CBC", &block, Some(&iv), None)
        .unwrap()
        .ciphertext;
    assert_unauthentic(key.decrypt("A256CBCPAD", &ct, Some(&iv), None, None));
    // Inconsistent padding bytes.
    block[14] = 1;
    block[15] = 2;
    let ct = key
        .encrypt("A256CBC", &block, Some(&iv), None)
        .unwrap()
        .ciphertext;
    assert_unauthentic(key.decrypt("A256CBCPAD", &ct, Some(&iv), None, None));
}

#[test]
fn aes_key_size_must_match_algorithm() {
    let k128 = aes_key(128);
    let k256 = aes_key(256);
    assert_malformed(
        k128.encrypt("A256GCM", b"m", None, None),
        "algorithm A256GCM needs a 256-bit key; this key is 128 bits",
    );
    assert_malformed(
        k256.encrypt("A192CBCPAD", b"m", None, None),
        "algorithm A192CBCPAD needs a 192-bit key",
    );
    assert_malformed(
        k256.decrypt("A128CBC", &[0; 16], Some(&[0; 16]), None, None),
        "needs a 128-bit key",
    );
    assert_malformed(
        k256.wrap_key("A128KW", &[0; 16]),
        "algorithm A128KW needs a 128-bit key; this key is 256 bits",
    );
    assert_malformed(k128.unwrap_key("A192KW", &[0; 24]), "needs a 192-bit key");
}

#[test]
fn oct_keys_refuse_rsa_and_ec_algorithms() {
    let key = aes_key(256);
    assert_malformed(
        key.encrypt("RSA-OAEP", b"m", None, None),
        "algorithm RSA-OAEP needs an RSA key",
    );
    assert_malformed(
        key.decrypt("RSA1_5", &[0; 256], None, None, None),
        "needs an RSA key",
    );
    assert_malformed(key.wrap_key("RSA-OAEP-256", &[0; 32]), "needs an RSA key");
    assert_malformed(
        key.unwrap_key("RSA-OAEP-256", &[0; 256]),
        "needs an RSA key",
    );
    assert_malformed(key.sign("RS256", &[0; 32]), "needs an RSA key");
    assert_malformed(key.verify("PS256", &[0; 32], &[0; 256]), "needs an RSA key");
    assert_malformed(key.sign("ES256", &[0; 32]), "needs a P-256 key");
    assert_malformed(
        key.sign("HS256", &[0; 32]),
        "unknown signature algorithm \"HS256\"",
    );
    // And RSA keys refuse AES.
    assert_malformed(
        rsa_key().encrypt("A256GCM", b"m", None, None),
        "needs a 256-bit oct (AES) key",
    );
    assert_malformed(
        rsa_key().wrap_key("A128KW", &[0; 16]),
        "needs a 128-bit oct (AES) key",
    );
    assert_malformed(
        rsa_key().encrypt("RSA-OAEP", b"m", Some(&[1; 12]), None),
        "RSA-OAEP takes no iv",
    );
    assert_malformed(
        rsa_key().encrypt("RSA-OAEP", b"m", None, Some(b"a")),
        "takes no additional",
    );
    assert_malformed(
        rsa_key().decrypt("RSA1_5", &[0; 256], None, None, Some(&[1; 16])),
        "takes no authentication tag",
    );
}

#[test]
fn key_wrap_round_trips_and_tampering() {
    for (bits, prefix) in SIZES {
        let key = aes_key(bits);
        let alg = format!("{prefix}KW");
        for len in [16usize, 24, 32, 64] {
            let cek: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
            let wrapped = key.wrap_key(&alg, &cek).unwrap();
            assert_eq!(wrapped.len(), len + 8);
            assert_eq!(&key.unwrap_key(&alg, &wrapped).unwrap()[..], &cek[..]);
            let mut bad = wrapped.clone();
            bad[len] ^= 1;
            assert_unauthentic(key.unwrap_key(&alg, &bad));
            assert_unauthentic(aes_key(bits).unwrap_key(&alg, &wrapped));
        }
        for len in [0usize, 8, 15, 17, 33] {
            assert_malformed(
                key.wrap_key(&alg, &vec![0; len]),
                "multiple of 8 bytes, at least 16",
            );
        }
        for len in [0usize, 8, 16, 23, 25] {
            assert_malformed(
                key.unwrap_key(&alg, &vec![0; len]),
                "multiple of 8 bytes, at least 24",
            );
        }
    }
}

#[test]
fn unknown_algorithms_are_malformed() {
    let key = aes_key(256);
    assert_malformed(
        key.encrypt("A256KW", b"m", None, None),
        "unknown encryption algorithm \"A256KW\"",
    );
    assert_malformed(
        key.wrap_key("A256GCM", &[0; 32]),
        "unknown key-wrapping algorithm \"A256GCM\"",
    );
    assert_malformed(
        key.decrypt("a256gcm", &[], None, None, None),
        "unknown encryption algorithm",
    );
    let long = "X".repeat(500);
    match key.encrypt(&long, b"m", None, None) {
        Err(CryptoError::Malformed(m)) => {
            assert!(m.len() < 300, "the message repeats a long name: {m}")
        }
        other => panic!("{other:?}"),
    }
}

/// An AES key from its bytes.
fn aes_key_from(bytes: &[u8]) -> PrivateKey {
    let mut jwk = Jwk::of_type("oct");
    jwk.k = Some(bytes.to_vec());
    PrivateKey::from_jwk(&jwk).unwrap()
}

#[test]
fn ckm_key_wrap_matches_the_rfc_vectors() {
    // RFC 3394 §4.1: CKM_AES_KEY_WRAP is AES key wrap under a key of any AES size.
    let kek = aes_key_from(&hex("000102030405060708090A0B0C0D0E0F"));
    let data = hex("00112233445566778899AABBCCDDEEFF");
    let wrapped = kek.wrap_key("CKM_AES_KEY_WRAP", &data).unwrap();
    assert_eq!(
        wrapped,
        hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
    );
    assert_eq!(wrapped, kek.wrap_key("A128KW", &data).unwrap());
    assert_eq!(
        &kek.unwrap_key("CKM_AES_KEY_WRAP", &wrapped).unwrap()[..],
        &data[..]
    );

    // RFC 5649 §6: with padding, keys of any length.
    let kek = aes_key_from(&hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"));
    for (data, want) in [
        (
            "c37b7e6492584340bed12207808941155068f738",
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
    ] {
        let wrapped = kek.wrap_key("CKM_AES_KEY_WRAP_PAD", &hex(data)).unwrap();
        assert_eq!(wrapped, hex(want));
        assert_eq!(
            &kek.unwrap_key("CKM_AES_KEY_WRAP_PAD", &wrapped).unwrap()[..],
            &hex(data)[..]
        );
        let mut bad = wrapped.clone();
        bad[3] ^= 1;
        assert_unauthentic(kek.unwrap_key("CKM_AES_KEY_WRAP_PAD", &bad));
    }
    assert_malformed(kek.wrap_key("CKM_AES_KEY_WRAP_PAD", &[]), "empty");
    assert_malformed(
        kek.unwrap_key("CKM_AES_KEY_WRAP_PAD", &[0; 12]),
        "at least 16",
    );
    // RSA keys do not take them.
    let rsa = PrivateKey::generate_rsa(2048, None).unwrap();
    for alg in ["CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"] {
        assert_malformed(rsa.wrap_key(alg, &[0; 16]), "needs an oct (AES) key");
    }
}
