//! The object backup blob reader (`keyhaven_blob::open_object_blob`, `peek_header`) on any input.
//!
//! The first byte picks a mode:
//! - even: the rest is a whole blob (header parsing, refusals, authentication);
//! - odd: the rest is the compressed payload, sealed here under the golden blob's header and key so that it
//!   authenticates and the inflater behind authentication (and its size limit) sees arbitrary deflate data.
//!
//! Checked: no panic; an opened payload never exceeds `MAX_PAYLOAD_BYTES`.
#![no_main]

use keyhaven_blob::{open_object_blob, peek_header, GeographyKey, MAX_PAYLOAD_BYTES};
use keyhaven_crypto::SealingKey;
use keyhaven_model::ObjectKind;
use libfuzzer_sys::fuzz_target;

/// The golden blob (crates/keyhaven-blob/testdata/golden-secret-v1.hex): its header is reused by the sealing mode.
const GOLDEN_HEX: &str = include_str!("../../crates/keyhaven-blob/testdata/golden-secret-v1.hex");

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| {
            let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            (v(p[0]) << 4) | v(*p.get(1).unwrap_or(&b'0'))
        })
        .collect()
}

fn key() -> GeographyKey {
    GeographyKey {
        id: [0x42; 16],
        key: SealingKey::from_bytes(&[0x42; 32]).expect("key"),
    }
}

fn seal(compressed: &[u8]) -> Vec<u8> {
    let golden = unhex(GOLDEN_HEX);
    let (_, header_len) = peek_header(&golden).expect("golden header");
    let header = &golden[..header_len];
    let sealed = key()
        .key
        .seal_with_nonce(&[0x24; 12], header, compressed)
        .expect("seal");
    let mut out = header.to_vec();
    out.extend_from_slice(&sealed);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        seal(rest)
    };
    let _ = peek_header(&input);
    let keys = [key()];
    for kind in [ObjectKind::Secret, ObjectKind::Key] {
        if let Ok(plain) = open_object_blob(&input, kind, [0x11; 16], "local", &keys) {
            assert!(plain.len() as u64 <= MAX_PAYLOAD_BYTES);
        }
    }
});
