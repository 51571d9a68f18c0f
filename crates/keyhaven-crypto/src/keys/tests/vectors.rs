//! Known-answer vectors: RFC 3394 (AES key wrap), the GCM specification, RFC 7515 appendices A.2–A.4.

use super::*;

fn oct(k: &[u8]) -> PrivateKey {
    let mut jwk = Jwk::of_type("oct");
    jwk.k = Some(k.to_vec());
    PrivateKey::from_jwk(&jwk).unwrap()
}

/// RFC 3394 section 4: (section, KEK, key data, ciphertext).
const RFC3394: [(&str, &str, &str, &str); 6] = [
    (
        "4.1",
        "000102030405060708090A0B0C0D0E0F",
        "00112233445566778899AABBCCDDEEFF",
        "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5",
    ),
    (
        "4.2",
        "000102030405060708090A0B0C0D0E0F1011121314151617",
        "00112233445566778899AABBCCDDEEFF",
        "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D",
    ),
    (
        "4.3",
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF",
        "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7",
    ),
    (
        "4.4",
        "000102030405060708090A0B0C0D0E0F1011121314151617",
        "00112233445566778899AABBCCDDEEFF0001020304050607",
        "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
    ),
    (
        "4.5",
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF0001020304050607",
        "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1",
    ),
    (
        "4.6",
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
        "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
    ),
];

#[test]
fn rfc3394_aes_key_wrap() {
    for (section, kek, data, expected) in RFC3394 {
        let kek = hex(kek);
        let alg = format!("A{}KW", kek.len() * 8);
        let key = oct(&kek);
        let wrapped = key.wrap_key(&alg, &hex(data)).unwrap();
        assert_eq!(wrapped, hex(expected), "RFC 3394 {section}");
        let unwrapped = key.unwrap_key(&alg, &hex(expected)).unwrap();
        assert_eq!(&unwrapped[..], &hex(data)[..], "RFC 3394 {section}");
    }
}

const GCM_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const GCM_A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const GCM_IV: &str = "cafebabefacedbaddecaf888";

/// The GCM specification's test cases 4 (AES-128) and 16 (AES-256): 60-byte plaintext, 20-byte AAD.
#[test]
fn gcm_specification_vectors() {
    let cases = [
        (
            "A128GCM",
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            "A256GCM",
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (alg, k, c, t) in cases {
        let key = oct(&hex(k));
        let (p, a, iv) = (hex(GCM_P), hex(GCM_A), hex(GCM_IV));
        let out = key.encrypt(alg, &p, Some(&iv), Some(&a)).unwrap();
        assert_eq!(out.ciphertext, hex(c), "{alg}");
        assert_eq!(out.tag, Some(hex(t)), "{alg}");
        assert_eq!(out.iv, Some(iv.clone()));
        let back = key
            .decrypt(alg, &hex(c), Some(&iv), Some(&a), Some(&hex(t)))
            .unwrap();
        assert_eq!(&back[..], &p[..]);
    }
}

/// RFC 7515 appendix A.2.1: the RSA key (also RFC 7517 appendix A.2's shape).
const A2_JWK: &str = r#"{"kty":"RSA",
 "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
 "e":"AQAB",
 "d":"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ",
 "p":"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc",
 "q":"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc",
 "dp":"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0",
 "dq":"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU",
 "qi":"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"
}"#;

const A2_INPUT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

#[test]
fn rfc7515_a2_rs256() {
    let jwk: Jwk = serde_json::from_str(A2_JWK).unwrap();
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.key_size(), Some(2048));
    let digest = sha256(A2_INPUT.as_bytes());
    let expected = b64u(A2_SIG);
    assert!(key.verify("RS256", &digest, &expected).unwrap());
    // RSASSA-PKCS1-v1_5 is deterministic: signing gives the RFC's bytes.
    assert_eq!(key.sign("RS256", &digest).unwrap(), expected);
    // The export is the imported JWK (big integers without leading zeros).
    assert_eq!(key.to_private_jwk().unwrap(), jwk);

    // The same key from n, e, d alone signs the same.
    let mut bare = Jwk::of_type("RSA");
    bare.n = jwk.n.clone();
    bare.e = jwk.e.clone();
    bare.d = jwk.d.clone();
    let bare = PrivateKey::from_jwk(&bare).unwrap();
    assert_eq!(bare.sign("RS256", &digest).unwrap(), expected);

    let mut tampered = A2_INPUT.to_string();
    tampered.push('x');
    assert!(!key
        .verify("RS256", &sha256(tampered.as_bytes()), &expected)
        .unwrap());
}

#[test]
fn rfc7515_a3_es256() {
    let jwk: Jwk = serde_json::from_str(
        r#"{"kty":"EC","crv":"P-256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#,
    )
    .unwrap();
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.curve(), Some(Curve::P256));
    assert_eq!(key.to_private_jwk().unwrap(), jwk);
    let input = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    let sig = b64u(
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
    );
    let digest = sha256(input.as_bytes());
    assert!(key.verify("ES256", &digest, &sig).unwrap());
    let mut bad = sig.clone();
    bad[0] ^= 1;
    assert!(!key.verify("ES256", &digest, &bad).unwrap());
    let mine = key.sign("ES256", &digest).unwrap();
    assert!(key.verify("ES256", &digest, &mine).unwrap());
}

#[test]
fn rfc7515_a4_es512() {
    let jwk: Jwk = serde_json::from_str(
        r#"{"kty":"EC","crv":"P-521",
            "x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
            "y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2",
            "d":"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0ferB0d53vM9mE15j2C"}"#,
    )
    .unwrap();
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.curve(), Some(Curve::P521));
    assert_eq!(key.to_private_jwk().unwrap(), jwk);
    let sig = b64u(
        "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2Y\
         BJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn",
    );
    assert_eq!(sig.len(), 132);
    let digest = sha512(b"eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA");
    assert!(key.verify("ES512", &digest, &sig).unwrap());
    assert!(!key.verify("ES512", &sha512(b"other"), &sig).unwrap());
}
