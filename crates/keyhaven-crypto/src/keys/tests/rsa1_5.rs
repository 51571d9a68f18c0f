//! RSA1_5 decryption with implicit rejection: a ciphertext whose padding is wrong decrypts to a synthetic message
//! (the same for the same ciphertext and key, of a length a message could have) instead of failing; one whose
//! padding is right decrypts exactly as OpenSSL's own PKCS#1 v1.5 decryption does.

use super::*;
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;

fn pkey(key: &PrivateKey) -> &PKey<Private> {
    match &key.inner {
        Inner::Rsa(k) => k,
        _ => panic!("an RSA key"),
    }
}

/// `m^e mod n` of a whole encryption block, without padding.
fn raw_encrypt(key: &PrivateKey, block: &[u8]) -> Vec<u8> {
    let mut ctx = PkeyCtx::new(pkey(key)).unwrap();
    ctx.encrypt_init().unwrap();
    ctx.set_rsa_padding(Padding::NONE).unwrap();
    let mut out = Vec::new();
    ctx.encrypt_to_vec(block, &mut out).unwrap();
    out
}

/// OpenSSL's own PKCS#1 v1.5 decryption (explicit rejection).
fn openssl_decrypt(key: &PrivateKey, ct: &[u8]) -> Option<Vec<u8>> {
    let mut ctx = PkeyCtx::new(pkey(key)).unwrap();
    ctx.decrypt_init().unwrap();
    ctx.set_rsa_padding(Padding::PKCS1).unwrap();
    let mut out = Vec::new();
    ctx.decrypt_to_vec(ct, &mut out).ok().map(|_| out)
}

/// `00 02 PS 00 M` of 256 bytes, with PS of `pad` non-zero bytes; `tweak` edits the block afterwards.
fn block(pad: usize, msg: &[u8], tweak: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = vec![0u8, 2];
    b.extend((0..pad).map(|i| (i % 255) as u8 + 1));
    b.push(0);
    b.extend_from_slice(msg);
    assert_eq!(b.len(), 256, "the block is the modulus length");
    tweak(&mut b);
    b
}

#[test]
fn conforming_blocks_decrypt_as_openssl_does() {
    let key = rsa_key();
    for len in [0usize, 1, 16, 24, 32, 100, 245] {
        let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let ct = raw_encrypt(key, &block(253 - len, &msg, |_| {}));
        let ours = key.decrypt("RSA1_5", &ct, None, None, None).unwrap();
        assert_eq!(&ours[..], &msg[..], "a {len}-byte message");
        assert_eq!(openssl_decrypt(key, &ct).as_deref(), Some(&msg[..]));
        assert_eq!(&key.unwrap_key("RSA1_5", &ct).unwrap()[..], &msg[..]);
    }
    // A message may itself hold zero bytes; the first zero after the padding separates.
    let msg = [0u8, 0, 5, 0];
    let ct = raw_encrypt(key, &block(249, &msg, |_| {}));
    assert_eq!(
        &key.decrypt("RSA1_5", &ct, None, None, None).unwrap()[..],
        &msg
    );
}

#[test]
fn bad_padding_gives_a_stable_synthetic_message() {
    let key = rsa_key();
    let other = PrivateKey::generate_rsa(2048, None).unwrap();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("first byte not zero", block(221, &[9; 32], |b| b[0] = 1)),
        ("block type 1", block(221, &[9; 32], |b| b[1] = 1)),
        ("seven bytes of padding", block(221, &[9; 32], |b| b[9] = 0)),
        ("no separator", block(221, &[9; 32], |b| b[223] = 0xff)),
        ("all zero", vec![0u8; 256]),
    ];
    let mut seen = std::collections::HashSet::new();
    for (what, b) in &bad {
        let ct = raw_encrypt(key, b);
        assert!(
            openssl_decrypt(key, &ct).is_none(),
            "{what}: OpenSSL refuses it"
        );
        let first = key.decrypt("RSA1_5", &ct, None, None, None).unwrap();
        assert!(
            first.len() <= 245,
            "{what}: at most what a 2048-bit key encrypts"
        );
        let again = key.decrypt("RSA1_5", &ct, None, None, None).unwrap();
        assert_eq!(first, again, "{what}: the same ciphertext, the same answer");
        assert_eq!(key.unwrap_key("RSA1_5", &ct).unwrap(), first, "{what}");
        // (Unless the ciphertext is not below the other key's modulus: that is refused.)
        if let Ok(theirs) = other.decrypt("RSA1_5", &ct, None, None, None) {
            assert_ne!(theirs, first, "{what}: another key, another answer");
        }
        assert!(
            seen.insert(first.to_vec()),
            "{what}: every ciphertext its own"
        );
    }
    // A tampered real ciphertext: almost surely bad padding, never an error.
    let real = key
        .encrypt("RSA1_5", b"a short secret", None, None)
        .unwrap();
    let mut lengths = std::collections::HashSet::new();
    for i in 0..32 {
        let mut ct = real.ciphertext.clone();
        ct[100 + i] ^= 1 << (i % 8);
        let out = key.decrypt("RSA1_5", &ct, None, None, None).unwrap();
        assert_ne!(&out[..], b"a short secret");
        lengths.insert(out.len());
    }
    assert!(lengths.len() > 10, "synthetic lengths vary: {lengths:?}");
    // What the modulus rules out is public, and still refused.
    assert_unauthentic(key.decrypt("RSA1_5", &[0xff; 256], None, None, None));
}
