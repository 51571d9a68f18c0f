//! Round trips, refusals and shared helpers. Tampering lives in `tamper.rs`, streaming limits and random
//! mutation in `stream.rs`, the golden vector in `golden.rs`.

mod golden;
mod stream;
mod tamper;

use super::*;
use crate::{BlobError, GeographyKey};
use keyhaven_crypto::SealingKey;

pub(super) const SUB: [u8; 16] = [0x11; 16];
pub(super) const GEO: &str = "local";

pub(super) fn key(b: u8) -> GeographyKey {
    GeographyKey {
        id: [b; 16],
        key: SealingKey::from_bytes(&[b; 32]).unwrap(),
    }
}

pub(super) fn header() -> SnapshotHeader {
    SnapshotHeader {
        subscription: SUB,
        geography: GEO.into(),
        key_id: [1; 16],
        vault: "source-vault".into(),
        created: 1_767_225_600,
        snapshot_id: [0x5a; 16],
    }
}

/// A snapshot through the public writer (random data key, 64 KiB chunks).
pub(super) fn write(records: &[Vec<u8>], manifest: &[u8]) -> Vec<u8> {
    let mut w = SnapshotWriter::new(Vec::new(), header(), &key(1)).unwrap();
    for r in records {
        w.write_record(r).unwrap();
    }
    let n = w.bytes_written();
    let out = w.finish(manifest).unwrap();
    assert!(out.len() as u64 > n);
    out
}

/// A snapshot with a fixed data key and the given chunk size.
pub(super) fn write_with(chunk_size: usize, records: &[Vec<u8>], manifest: &[u8]) -> Vec<u8> {
    let data_key = SealingKey::from_bytes(&[0x37; 32]).unwrap();
    let mut w = SnapshotWriter::with_parts(
        Vec::new(),
        header(),
        &key(1),
        data_key,
        [0x24; 12],
        chunk_size,
    )
    .unwrap();
    for r in records {
        w.write_record(r).unwrap();
    }
    w.finish(manifest).unwrap()
}

/// What reading a stream to its end gave: the records handed out, then the manifest or the error.
pub(super) struct Read {
    pub records: Vec<Vec<u8>>,
    pub end: Result<Vec<u8>, BlobError>,
}

pub(super) fn read_all(stream: &[u8]) -> Read {
    let mut records = Vec::new();
    let mut r = match SnapshotReader::open(stream, SUB, GEO, &[key(2), key(1)]) {
        Ok(r) => r,
        Err(e) => {
            return Read {
                records,
                end: Err(e),
            }
        }
    };
    loop {
        match r.next_record() {
            // Taken out of its `Zeroizing` wrapper so that the test does not pay for wiping it in debug builds.
            Ok(Some(mut rec)) => records.push(std::mem::take(&mut *rec)),
            Ok(None) => {
                assert_eq!(r.bytes_read(), stream.len() as u64);
                let m = r.manifest().unwrap().to_vec();
                return Read {
                    records,
                    end: Ok(m),
                };
            }
            Err(e) => {
                assert_eq!(r.next_record().err(), Some(e.clone()), "errors are sticky");
                assert!(r.manifest().is_none());
                return Read {
                    records,
                    end: Err(e),
                };
            }
        }
    }
}

pub(super) fn read_ok(stream: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let r = read_all(stream);
    (r.records, r.end.unwrap())
}

/// Header length and the (start, end) byte span of every chunk, parsed from a well-formed stream.
pub(super) fn layout(stream: &[u8]) -> (usize, Vec<(usize, usize)>) {
    let g = stream[24] as usize;
    let v = stream[41 + g] as usize;
    let header_len = 130 + g + v;
    let mut spans = Vec::new();
    let mut at = header_len;
    while at < stream.len() {
        let len = u32::from_be_bytes(stream[at + 1..at + 5].try_into().unwrap()) as usize;
        spans.push((at, at + 5 + len));
        at += 5 + len;
    }
    (header_len, spans)
}

/// xorshift64: deterministic randomness for tests without another dependency.
pub(super) struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Record `i` of a test set: `len` bytes that differ between records (byte `j` is `31·i ⊕ 7·j`, mod 256).
pub(super) fn record(i: usize, len: usize) -> Vec<u8> {
    let block: Vec<u8> = (0..256usize)
        .map(|j| (i.wrapping_mul(31) ^ j.wrapping_mul(7)) as u8)
        .collect();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = (len - out.len()).min(block.len());
        out.extend_from_slice(&block[..n]);
    }
    out
}

#[test]
fn round_trip_without_records() {
    let s = write(&[], b"{\"records\":0}");
    let (records, manifest) = read_ok(&s);
    assert!(records.is_empty());
    assert_eq!(manifest, b"{\"records\":0}");
}

#[test]
fn round_trip_one_record() {
    let s = write(&[b"one".to_vec()], b"m");
    assert_eq!(read_ok(&s), (vec![b"one".to_vec()], b"m".to_vec()));
}

#[test]
fn round_trip_many_records() {
    let mut records: Vec<Vec<u8>> = (0..10_000).map(|i| record(i, i % 97)).collect();
    records.insert(17, record(1, 200_000));
    records.insert(5_000, record(2, 1 << 20));
    records.insert(5_001, Vec::new());
    records.push(record(3, 3 * CHUNK_BYTES + 1));
    let manifest = record(9, 100_000);
    let s = write(&records, &manifest);
    let (h, spans) = layout(&s);
    assert!(spans.len() > 30 && h > 0);
    let (got, m) = read_ok(&s);
    assert!(got == records, "records differ");
    assert_eq!(m, manifest);
}

#[test]
fn empty_records_and_empty_manifest() {
    let records = vec![Vec::new(), b"x".to_vec(), Vec::new(), Vec::new()];
    let s = write(&records, b"");
    assert_eq!(read_ok(&s), (records, Vec::new()));
}

#[test]
fn every_alignment_of_frames_to_chunk_boundaries() {
    // With 1 KiB chunks, frames of these sizes end on, just before and just after chunk boundaries.
    for first in 1005..1030 {
        for manifest_len in [0, 1, 4, 5, 6, 1019, 1024] {
            let records = vec![record(first, first), Vec::new(), record(1, 3)];
            let manifest = record(7, manifest_len);
            let s = write_with(1024, &records, &manifest);
            assert_eq!(read_ok(&s), (records, manifest), "{first}/{manifest_len}");
        }
    }
}

#[test]
fn header_round_trips_and_geography_ignores_case() {
    let h = SnapshotHeader {
        subscription: [0xab; 16],
        geography: "West-Europe".into(),
        key_id: [7; 16],
        vault: "v".repeat(64),
        created: -42,
        snapshot_id: [0xcd; 16],
    };
    let k = key(7);
    let mut w = SnapshotWriter::new(Vec::new(), h.clone(), &k).unwrap();
    w.write_record(b"r").unwrap();
    let s = w.finish(b"m").unwrap();
    let mut r = SnapshotReader::open(&s[..], [0xab; 16], "west-europe", &[k]).unwrap();
    assert_eq!(r.header(), &h);
    assert!(r.manifest().is_none());
    assert_eq!(r.next_record().unwrap().unwrap().to_vec(), b"r");
    assert!(r.next_record().unwrap().is_none());
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.manifest(), Some(&b"m"[..]));
}

fn open_err(stream: &[u8], sub: [u8; 16], geo: &str, keys: &[GeographyKey]) -> BlobError {
    match SnapshotReader::open(stream, sub, geo, keys) {
        Ok(_) => panic!("opened"),
        Err(e) => e,
    }
}

#[test]
fn refusals_say_why() {
    let s = write(&[b"a".to_vec()], b"m");
    assert_eq!(
        open_err(&s, [0; 16], GEO, &[key(1)]),
        BlobError::ForeignSubscription
    );
    assert_eq!(
        open_err(&s, SUB, "eu", &[key(1)]),
        BlobError::ForeignGeography {
            blob: GEO.into(),
            vault: "eu".into()
        }
    );
    assert_eq!(open_err(&s, SUB, GEO, &[key(2)]), BlobError::UnknownKey);
    let impostor = GeographyKey {
        id: [1; 16],
        key: SealingKey::from_bytes(&[2; 32]).unwrap(),
    };
    assert_eq!(open_err(&s, SUB, GEO, &[impostor]), BlobError::Unauthentic);
    assert_eq!(
        open_err(b"hello world", SUB, GEO, &[key(1)]),
        BlobError::NotABlob
    );
    assert_eq!(
        open_err(b"KHOB\x01", SUB, GEO, &[key(1)]),
        BlobError::NotABlob
    );
    assert_eq!(open_err(b"", SUB, GEO, &[key(1)]), BlobError::Truncated);
    assert_eq!(open_err(b"KH", SUB, GEO, &[key(1)]), BlobError::Truncated);
    let mut v2 = s.clone();
    v2[4] = 2;
    assert_eq!(
        open_err(&v2, SUB, GEO, &[key(1)]),
        BlobError::UnsupportedVersion(2)
    );
    assert_eq!(
        open_err(&v2[..5], SUB, GEO, &[key(1)]),
        BlobError::UnsupportedVersion(2)
    );
    for at in 5..8 {
        let mut bad = s.clone();
        bad[at] = 1;
        assert!(matches!(
            open_err(&bad, SUB, GEO, &[key(1)]),
            BlobError::MalformedHeader(_)
        ));
    }
    let (h, _) = layout(&s);
    let chunk_size_at = h - 60 - 4;
    for size in [0u32, 1023, (1 << 20) + 1, u32::MAX] {
        let mut bad = s.clone();
        bad[chunk_size_at..chunk_size_at + 4].copy_from_slice(&size.to_be_bytes());
        assert_eq!(
            open_err(&bad, SUB, GEO, &[key(1)]),
            BlobError::MalformedHeader("chunk size out of range")
        );
    }
    let mut bad = s.clone();
    bad[chunk_size_at..chunk_size_at + 4].copy_from_slice(&2048u32.to_be_bytes());
    assert_eq!(open_err(&bad, SUB, GEO, &[key(1)]), BlobError::Unauthentic);
}

#[test]
fn writer_refusals() {
    let mut h = header();
    h.key_id = [9; 16];
    assert!(matches!(
        SnapshotWriter::new(Vec::new(), h, &key(1)).err(),
        Some(BlobError::Seal(_))
    ));
    for (geo, vault) in [("", "v"), ("g", ""), ("é", "v"), ("g", "vé")] {
        let mut h = header();
        h.geography = geo.into();
        h.vault = vault.into();
        assert!(matches!(
            SnapshotWriter::new(Vec::new(), h, &key(1)).err(),
            Some(BlobError::MalformedHeader(_))
        ));
    }
    let mut h = header();
    h.vault = "v".repeat(65);
    assert!(SnapshotWriter::new(Vec::new(), h, &key(1)).is_err());
    let huge = vec![0u8; MAX_RECORD_BYTES + 1];
    let mut w = SnapshotWriter::new(Vec::new(), header(), &key(1)).unwrap();
    assert_eq!(w.write_record(&huge).err(), Some(BlobError::TooLarge));
    w.write_record(b"still fine").unwrap();
    assert_eq!(w.finish(&huge).err(), Some(BlobError::TooLarge));
}

/// An output that accepts `left` bytes, then fails.
struct Failing {
    left: usize,
}

impl std::io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_poisons_the_writer() {
    assert!(matches!(
        SnapshotWriter::new(Failing { left: 10 }, header(), &key(1)).err(),
        Some(BlobError::Io(_))
    ));
    let mut w = SnapshotWriter::new(Failing { left: 1000 }, header(), &key(1)).unwrap();
    let big = record(0, CHUNK_BYTES * 2);
    assert!(matches!(w.write_record(&big), Err(BlobError::Io(_))));
    assert!(matches!(w.write_record(b"x"), Err(BlobError::Io(_))));
    assert!(matches!(w.finish(b""), Err(BlobError::Io(_))));
}

#[test]
fn bytes_written_and_read_agree_with_the_stream() {
    let mut w = SnapshotWriter::new(Vec::new(), header(), &key(1)).unwrap();
    let h = w.bytes_written();
    assert_eq!(h, w.get_ref().len() as u64);
    w.write_record(&record(0, 3 * CHUNK_BYTES)).unwrap();
    assert_eq!(w.bytes_written(), w.get_ref().len() as u64);
    assert!(w.bytes_written() >= h + 3 * CHUNK_BYTES as u64);
    let s = w.finish(b"").unwrap();
    let mut r = SnapshotReader::open(&s[..], SUB, GEO, &[key(1)]).unwrap();
    assert_eq!(r.bytes_read(), h);
    assert_eq!(r.next_record().unwrap().unwrap().len(), 3 * CHUNK_BYTES);
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.bytes_read(), s.len() as u64);
}

#[test]
fn chunks_are_bound_to_their_header_even_under_one_data_key() {
    // Two snapshots that (against the rules) share a data key but differ in one header field: a chunk of one
    // does not open under the other's header, because every chunk's associated data holds the header digest.
    let records = vec![record(0, 100)];
    let a = write_with(1024, &records, b"m");
    let data_key = SealingKey::from_bytes(&[0x37; 32]).unwrap();
    let mut h = header();
    h.vault = "other-vault".into();
    let w = SnapshotWriter::with_parts(Vec::new(), h, &key(1), data_key, [0x24; 12], 1024).unwrap();
    let b = w.finish(b"m").unwrap();
    let (ha, _) = layout(&a);
    let (hb, _) = layout(&b);
    let mut spliced = b[..hb].to_vec();
    spliced.extend_from_slice(&a[ha..]);
    assert_eq!(read_all(&spliced).end.err(), Some(BlobError::Unauthentic));
}
