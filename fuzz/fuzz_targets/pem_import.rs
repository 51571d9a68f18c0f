//! PEM certificate import (`keyhaven_crypto::x509::parse_pem`: the hand-written block splitter, base64, then
//! OpenSSL's key and certificate readers, the key checks and the chain ordering) on any text.
//!
//! Checked: no panic, no allocation beyond libFuzzer's limits; what reads well round-trips: `to_pem` of the
//! bundle reads back to the same chain and the same key.
#![no_main]

use keyhaven_crypto::x509::{parse_pem, to_pem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bundle) = parse_pem(text) else {
        return;
    };
    let pem = to_pem(bundle.key.as_ref(), &bundle.chain).expect("a bundle read here writes as PEM");
    let back = parse_pem(&pem).expect("PEM written here reads back");
    assert_eq!(back.chain, bundle.chain, "the chain round-trips");
    match (&bundle.key, &back.key) {
        (None, None) => {}
        (Some(a), Some(b)) => assert!(
            a.to_private_jwk().expect("jwk") == b.to_private_jwk().expect("jwk"),
            "the key round-trips"
        ),
        _ => panic!("the key appeared or vanished in the round trip"),
    }
});
