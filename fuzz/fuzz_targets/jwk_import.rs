//! JWK key import as the server does it (`serde_json` into `keyhaven_crypto::keys::Jwk`, whose byte fields go
//! through Keyhaven's lenient base64url reader, then `PrivateKey::import_jwk`: the RSA size cap, then sizes,
//! ranges, curve points, RSA CRT consistency and the pairwise check), and reading an imported key back as stored
//! keys are read (`PrivateKey::from_jwk`), on any input.
//!
//! The first byte picks a mode:
//! - even: the rest is JSON text;
//! - odd: the rest is a JWK in fields, so the key checks see arbitrary numbers without JSON or base64 in the way:
//!   a byte choosing `kty`, a byte choosing `crv`, a 16-bit big-endian mask of the fields present (bit 0 `n`, then
//!   `e`, `x`, `y`, `d`, `p`, `q`, `dp`, `dq`, `qi`, `k`), then each present field as a 16-bit big-endian length
//!   and its bytes.
//!
//! Checked: no panic, no allocation beyond libFuzzer's limits; a key that imports re-encodes consistently: its
//! JWK, through JSON, imports again to the same JWK, and its public JWK is its JWK without the private fields.
#![no_main]

use keyhaven_crypto::keys::{Jwk, PrivateKey};
use libfuzzer_sys::fuzz_target;

const KTYS: [&str; 7] = ["RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM", "rsa"];
const CURVES: [&str; 6] = ["P-256", "P-384", "P-521", "P-256K", "P-192", ""];

/// The JWK in the fields mode; None when the input ends early.
fn jwk_from_fields(data: &[u8]) -> Option<Jwk> {
    let (&kty, rest) = data.split_first()?;
    let (&crv, rest) = rest.split_first()?;
    let (mask, mut rest) = rest.split_at_checked(2)?;
    let mask = u16::from_be_bytes([mask[0], mask[1]]);
    let mut jwk = Jwk::default();
    jwk.kty = KTYS[usize::from(kty) % KTYS.len()].to_string();
    jwk.crv = match CURVES[usize::from(crv) % CURVES.len()] {
        "" => None,
        c => Some(c.to_string()),
    };
    let fields = [
        &mut jwk.n,
        &mut jwk.e,
        &mut jwk.x,
        &mut jwk.y,
        &mut jwk.d,
        &mut jwk.p,
        &mut jwk.q,
        &mut jwk.dp,
        &mut jwk.dq,
        &mut jwk.qi,
        &mut jwk.k,
    ];
    for (bit, field) in fields.into_iter().enumerate() {
        if mask & (1 << bit) == 0 {
            continue;
        }
        let (len, after) = rest.split_at_checked(2)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (value, after) = after.split_at_checked(len)?;
        *field = Some(value.to_vec());
        rest = after;
    }
    Some(jwk)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let jwk = if mode & 1 == 0 {
        match serde_json::from_slice::<Jwk>(rest) {
            Ok(jwk) => jwk,
            Err(_) => return,
        }
    } else {
        match jwk_from_fields(rest) {
            Some(jwk) => jwk,
            None => return,
        }
    };
    let Ok(key) = PrivateKey::import_jwk(&jwk) else {
        return;
    };
    let out = key.to_private_jwk().expect("an imported key has a JWK");
    let json = serde_json::to_vec(&out).expect("JSON");
    let read: Jwk = serde_json::from_slice(&json).expect("the JWK's JSON reads back");
    assert!(read == out, "the JWK round-trips through JSON");
    let again = PrivateKey::from_jwk(&read).expect("the key's own JWK imports");
    assert!(
        again.to_private_jwk().expect("jwk") == out,
        "the key re-encodes to the same JWK"
    );
    assert_eq!(
        (again.key_type(), again.key_size(), again.curve()),
        (key.key_type(), key.key_size(), key.curve())
    );
    assert!(
        key.public_jwk().expect("public jwk") == out.clone().public_only(),
        "the public JWK is the JWK without its private fields"
    );
});
