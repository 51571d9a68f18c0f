//! Opening an object backup blob leaves no copy of its plaintext in the process's memory once the result is dropped:
//! every buffer that held decrypted or inflated bytes is zeroized before it is freed.
//!
//! The test reads its own memory (`/proc/self/mem`) for a random marker the blob's payload repeats. The blob is
//! sealed by a child process (a second run of this test binary), so that this process never holds the plaintext
//! except through the decoder under test; the marker is only ever held here masked.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyhaven_blob::{open_object_blob, seal_object_blob, GeographyKey};
use keyhaven_crypto::SealingKey;
use keyhaven_model::ObjectKind;
use std::io::{Read, Seek, SeekFrom};

const SUB: [u8; 16] = [0x11; 16];
/// What the marker is XORed with wherever this process keeps it.
const MASK: u8 = 0xA5;
const MARKER_LEN: usize = 32;
/// 96 KiB of payload: several growths of the output buffer, all small enough to live on the heap (not in mappings
/// returned to the system when freed).
const REPEATS: usize = 3072;

fn key() -> GeographyKey {
    GeographyKey {
        id: [7; 16],
        key: SealingKey::from_bytes(&[7; 32]).unwrap(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// In the child: seals a blob whose payload is the unmasked marker repeated, into the file the parent names.
fn seal_in_child(masked_hex: &str, out: &str) {
    let marker: Vec<u8> = unhex(masked_hex).iter().map(|b| b ^ MASK).collect();
    let payload: Vec<u8> = marker
        .iter()
        .copied()
        .cycle()
        .take(MARKER_LEN * REPEATS)
        .collect();
    let blob = seal_object_blob(ObjectKind::Secret, SUB, "local", &key(), &payload).unwrap();
    std::fs::write(out, blob).unwrap();
}

/// Whether any writable private mapping of this process holds the marker (given masked).
fn memory_holds(masked: &[u8; MARKER_LEN]) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            continue;
        };
        let path = parts.nth(3).unwrap_or("");
        if !perms.starts_with("rw") || !(path.is_empty() || path == "[heap]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) = (
            u64::from_str_radix(start, 16).unwrap(),
            u64::from_str_radix(end, 16).unwrap(),
        );
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(buf.len());
            if mem.seek(SeekFrom::Start(at)).is_err() || mem.read_exact(&mut buf[..n]).is_err() {
                break;
            }
            let window = &buf[..n];
            if window.windows(MARKER_LEN).any(|w| {
                w[0] ^ MASK == masked[0] && w.iter().zip(masked).all(|(a, m)| a ^ MASK == *m)
            }) {
                return true;
            }
            // Overlap so that a marker across two reads is seen.
            at += (n - (MARKER_LEN - 1).min(n)).max(1) as u64;
        }
    }
    false
}

#[test]
fn plaintext_is_not_left_in_freed_memory() {
    if let (Ok(m), Ok(out)) = (
        std::env::var("KEYHAVEN_TEST_MARKER"),
        std::env::var("KEYHAVEN_TEST_SEAL_TO"),
    ) {
        seal_in_child(&m, &out);
        return;
    }
    let mut masked = [0u8; MARKER_LEN];
    keyhaven_crypto::fill_random(&mut masked).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blob");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "plaintext_is_not_left_in_freed_memory",
            "--quiet",
        ])
        .env("KEYHAVEN_TEST_MARKER", hex(&masked))
        .env("KEYHAVEN_TEST_SEAL_TO", &out)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the child seals the blob");
    let blob = std::fs::read(&out).unwrap();
    assert!(
        !memory_holds(&masked),
        "the marker is nowhere before the blob is opened"
    );

    let plain = open_object_blob(&blob, ObjectKind::Secret, SUB, "local", &[key()]).unwrap();
    assert_eq!(plain.len(), MARKER_LEN * REPEATS);
    assert!(
        plain
            .chunks(MARKER_LEN)
            .all(|c| c.iter().zip(&masked).all(|(a, m)| a ^ MASK == *m)),
        "the payload opens as sealed"
    );
    assert!(
        memory_holds(&masked),
        "the scan finds the plaintext while it is held"
    );
    drop(plain);
    assert!(
        !memory_holds(&masked),
        "no copy of the plaintext is left once the opened payload is dropped"
    );
}
