//! Tests of vault keys: round trips, refusals, known-answer vectors and interoperability with the OpenSSL
//! command line.

mod interop;
mod oct;
mod refusals;
mod roundtrip;
mod rsa1_5;
mod vectors;

use super::*;
use std::sync::OnceLock;

/// One 2048-bit RSA key shared by the tests that only need "an RSA key" (generation is slow in debug builds).
pub(super) fn rsa_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate_rsa(2048, None).unwrap())
}

pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(super) fn b64u(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

pub(super) fn sha256(data: &[u8]) -> Vec<u8> {
    openssl::sha::sha256(data).to_vec()
}

pub(super) fn sha384(data: &[u8]) -> Vec<u8> {
    openssl::sha::sha384(data).to_vec()
}

pub(super) fn sha512(data: &[u8]) -> Vec<u8> {
    openssl::sha::sha512(data).to_vec()
}

/// The digest an algorithm signs, over `msg`.
pub(super) fn digest_for(alg: &str, msg: &[u8]) -> Vec<u8> {
    match alg {
        "RS256" | "PS256" | "ES256" | "ES256K" => sha256(msg),
        "RS384" | "PS384" | "ES384" => sha384(msg),
        "RS512" | "PS512" | "ES512" => sha512(msg),
        other => panic!("no digest for {other}"),
    }
}

/// Asserts a Malformed error whose message contains `needle`.
#[track_caller]
pub(super) fn assert_malformed<T: std::fmt::Debug>(r: Result<T, CryptoError>, needle: &str) {
    match r {
        Err(CryptoError::Malformed(m)) => {
            assert!(
                m.contains(needle),
                "message {m:?} does not mention {needle:?}"
            )
        }
        other => panic!("expected Malformed({needle:?}), got {other:?}"),
    }
}

#[track_caller]
pub(super) fn assert_unauthentic<T: std::fmt::Debug>(r: Result<T, CryptoError>) {
    match r {
        Err(CryptoError::Unauthentic) => {}
        other => panic!("expected Unauthentic, got {other:?}"),
    }
}

#[test]
fn private_key_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PrivateKey>();
    check::<Jwk>();
}
