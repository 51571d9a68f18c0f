//! The vault snapshot reader (`keyhaven_blob::vault_snapshot::SnapshotReader`) on any input.
//!
//! The first byte picks a mode:
//! - even: the rest is a whole snapshot, read as a restore reads it (header checks, chunk framing and lengths,
//!   authentication, frames, manifest, trailing data);
//! - odd: the rest is a plaintext stream P, sealed here into valid chunks of 1 KiB under the golden vector's header
//!   and data key, so that every chunk authenticates and the frame parser behind authentication (frame types,
//!   lengths, records spanning chunks, the manifest ending the final chunk) sees arbitrary input.
//!
//! Checked: no panic, no allocation beyond libFuzzer's limits, an error repeats on every later call, a
//! manifest is only offered after the stream ended well.
#![no_main]

use keyhaven_blob::vault_snapshot::SnapshotReader;
use keyhaven_blob::GeographyKey;
use keyhaven_crypto::SealingKey;
use libfuzzer_sys::fuzz_target;

/// The golden vector (crates/keyhaven-blob/testdata/vault-snapshot-v1.hex): its 147-byte header is reused by
/// the sealing mode.
const GOLDEN_HEX: &str = include_str!("../../crates/keyhaven-blob/testdata/vault-snapshot-v1.hex");
const HEADER_LEN: usize = 147;
const CHUNK: usize = 1024;

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

fn geography_key() -> GeographyKey {
    GeographyKey {
        id: [0x42; 16],
        key: SealingKey::from_bytes(&[0x42; 32]).expect("key"),
    }
}

/// Seals `plain` into chunks after the golden header, as the writer would (docs/vault-backup-format.md).
fn seal(plain: &[u8]) -> Vec<u8> {
    let golden = unhex(GOLDEN_HEX);
    let header = &golden[..HEADER_LEN];
    let digest = keyhaven_crypto::sha256(header);
    let data_key = SealingKey::from_bytes(&[0x37; 32]).expect("data key");
    let mut out = header.to_vec();
    let pieces: Vec<&[u8]> = if plain.is_empty() {
        vec![&[][..]]
    } else {
        plain.chunks(CHUNK).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let flag = u8::from(last);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let mut aad = digest.to_vec();
        aad.extend_from_slice(&(i as u64).to_be_bytes());
        aad.push(flag);
        let sealed = data_key.seal_with_nonce(&nonce, &aad, piece).expect("seal");
        let body = &sealed[12..];
        out.push(flag);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
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
    let keys = [geography_key()];
    let Ok(mut r) = SnapshotReader::open(&input[..], [0x11; 16], "local", &keys) else {
        return;
    };
    let mut total = 0usize;
    loop {
        match r.next_record() {
            Ok(Some(rec)) => {
                total += rec.len();
                assert!(
                    total <= input.len(),
                    "records hold more bytes than the input"
                );
                assert!(r.manifest().is_none(), "a manifest before the end");
            }
            Ok(None) => {
                assert!(
                    r.manifest().is_some(),
                    "a stream that ended well has a manifest"
                );
                assert!(matches!(r.next_record(), Ok(None)), "the end repeats");
                break;
            }
            Err(e) => {
                let again = r.next_record();
                assert_eq!(
                    format!("{:?}", again),
                    format!("{:?}", Err::<(), _>(e)),
                    "an error repeats on every later call"
                );
                break;
            }
        }
    }
});
