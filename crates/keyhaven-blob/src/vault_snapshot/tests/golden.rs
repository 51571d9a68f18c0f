//! The version-1 golden vector (docs/vault-backup-format.md, "Golden vector").

use super::*;

const GOLDEN_HEX: &str = include_str!("../../../testdata/vault-snapshot-v1.hex");
const GOLDEN_MANIFEST: &[u8] = b"{\"format\":\"keyhaven.vault-snapshot-test/1\",\"records\":4}";

fn golden_header() -> SnapshotHeader {
    SnapshotHeader {
        subscription: [0x11; 16],
        geography: "local".into(),
        key_id: [0x42; 16],
        vault: "golden-vault".into(),
        created: 1_767_225_600,
        snapshot_id: std::array::from_fn(|i| i as u8),
    }
}

fn golden_records() -> Vec<Vec<u8>> {
    vec![
        b"first record".to_vec(),
        Vec::new(),
        (0..2_500u32).map(|j| (j % 251) as u8).collect(),
        br#"{"name":"golden-secret"}"#.to_vec(),
    ]
}

/// The golden snapshot as the writer makes it from the fixed inputs: data key 32 × 0x37, wrap nonce 12 × 0x24,
/// 1 KiB chunks, geography key 32 × 0x42 (id 16 × 0x42).
fn make_golden() -> Vec<u8> {
    let data_key = SealingKey::from_bytes(&[0x37; 32]).unwrap();
    let mut w = SnapshotWriter::with_parts(
        Vec::new(),
        golden_header(),
        &key(0x42),
        data_key,
        [0x24; 12],
        1024,
    )
    .unwrap();
    for r in golden_records() {
        w.write_record(&r).unwrap();
    }
    w.finish(GOLDEN_MANIFEST).unwrap()
}

fn golden_bytes() -> Vec<u8> {
    let hex: Vec<u8> = GOLDEN_HEX
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    hex.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Writes the golden vector: `KEYHAVEN_WRITE_GOLDEN=1 cargo test -p keyhaven-blob -- --ignored`.
#[test]
#[ignore]
fn write_golden_vector() {
    if std::env::var("KEYHAVEN_WRITE_GOLDEN").is_err() {
        return;
    }
    let bytes = make_golden();
    let lines: Vec<String> = bytes
        .chunks(32)
        .map(|l| l.iter().map(|x| format!("{x:02x}")).collect())
        .collect();
    std::fs::write(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/vault-snapshot-v1.hex"
        ),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

/// A snapshot written by format version 1 must open forever.
#[test]
fn golden_vector_v1() {
    let bytes = golden_bytes();
    let (header_len, spans) = layout(&bytes);
    assert_eq!(header_len, 130 + 5 + 12);
    assert_eq!(spans.len(), 3, "two full 1 KiB chunks and the final one");
    let mut r = SnapshotReader::open(&bytes[..], [0x11; 16], "local", &[key(0x42)]).unwrap();
    assert_eq!(r.header(), &golden_header());
    for want in golden_records() {
        assert_eq!(r.next_record().unwrap().unwrap().to_vec(), want);
    }
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.manifest(), Some(GOLDEN_MANIFEST));
    assert_eq!(r.bytes_read(), bytes.len() as u64);
}

/// The writer still produces the golden bytes from the golden inputs: the format has not drifted.
#[test]
fn writer_reproduces_golden_vector() {
    assert!(
        make_golden() == golden_bytes(),
        "the writer's output changed"
    );
}
