//! PKCS#12 (PFX) certificate import (`keyhaven_crypto::x509::parse_pkcs12`: OpenSSL's reader behind Keyhaven's
//! checks, error classification, key checks and chain ordering) on any input.
//!
//! The first byte picks the password: even, none (`""`); odd, `fuzz` (the seeds are exported with both).
//!
//! Checked: no panic, no allocation beyond libFuzzer's limits; what reads well round-trips: `to_pkcs12` of the
//! bundle reads back (without a password) to the same chain and the same key.
#![no_main]

use keyhaven_crypto::x509::{parse_pkcs12, to_pkcs12};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, der)) = data.split_first() else {
        return;
    };
    let password = if mode & 1 == 0 { "" } else { "fuzz" };
    let Ok(bundle) = parse_pkcs12(der, password) else {
        return;
    };
    let Ok(p12) = to_pkcs12(bundle.key.as_ref(), &bundle.chain) else {
        // A file of certificates only may hold none that OpenSSL writes back; a key always comes with its leaf.
        assert!(bundle.key.is_none(), "a key and its chain write back");
        return;
    };
    let back = parse_pkcs12(&p12, "").expect("PKCS#12 written here reads back");
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
