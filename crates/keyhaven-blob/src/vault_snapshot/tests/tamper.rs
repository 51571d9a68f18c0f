//! Truncation, bit flips and chunk-level surgery: each is refused, with the specific error where there is one.

use super::*;

/// About 200 KiB of records: with 64 KiB chunks, three full chunks and a final one.
fn medium() -> (Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
    let records: Vec<Vec<u8>> = (0..40).map(|i| record(i, 5_000 + i * 17)).collect();
    let manifest = b"{\"records\":40}".to_vec();
    let s = write(&records, &manifest);
    (records, manifest, s)
}

/// About 5 KiB in 1 KiB chunks: small enough to try every offset and every bit.
fn small() -> (Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
    let records: Vec<Vec<u8>> = (0..16).map(|i| record(i, i * 37)).collect();
    let manifest = b"{\"records\":16}".to_vec();
    let s = write_with(1024, &records, &manifest);
    (records, manifest, s)
}

/// A prefix of a stream is refused with `Truncated` (inside the header) or `TruncatedStream` (after it), and
/// hands out only a prefix of the records.
fn assert_truncation_refused(s: &[u8], records: &[Vec<u8>], header_len: usize, n: usize) {
    let r = read_all(&s[..n]);
    let want = if n < header_len {
        BlobError::Truncated
    } else {
        BlobError::TruncatedStream
    };
    assert_eq!(r.end.err(), Some(want), "prefix of {n} bytes");
    assert!(records.starts_with(&r.records), "prefix of {n} bytes");
}

#[test]
fn truncation_at_every_offset() {
    let (records, _, s) = small();
    let (h, spans) = layout(&s);
    assert!(spans.len() >= 4);
    for n in 0..s.len() {
        assert_truncation_refused(&s, &records, h, n);
    }
}

#[test]
fn truncation_in_the_header_and_near_every_chunk_edge() {
    let (records, _, s) = medium();
    let (h, spans) = layout(&s);
    assert!(spans.len() >= 4, "{} chunks", spans.len());
    let mut offsets: Vec<usize> = (0..=h).collect();
    for &(start, end) in &spans {
        offsets.extend(start..(start + 2048).min(end));
        offsets.extend(end.saturating_sub(2048).max(start)..=end);
    }
    offsets.sort_unstable();
    offsets.dedup();
    offsets.retain(|&n| n < s.len());
    // About 16,000 reads, most of them opening several 64 KiB chunks (and wiping them, which is slow in debug
    // builds): spread over the available cores.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (s, records, offsets) = (&s, &records, &offsets);
            scope.spawn(move || {
                for &n in offsets.iter().skip(t).step_by(threads) {
                    assert_truncation_refused(s, records, h, n);
                }
            });
        }
    });
}

#[test]
fn every_bit_flip_is_refused() {
    let (records, _, s) = small();
    for i in 0..s.len() {
        for bit in 0..8 {
            let mut bad = s.clone();
            bad[i] ^= 1 << bit;
            let r = read_all(&bad);
            assert!(r.end.is_err(), "byte {i} bit {bit}");
            assert!(records.starts_with(&r.records), "byte {i} bit {bit}");
        }
    }
}

#[test]
fn bit_flips_in_the_header_refuse_the_stream_at_open() {
    let (_, _, s) = medium();
    let (h, _) = layout(&s);
    for i in 0..h {
        for bit in 0..8 {
            let mut bad = s.clone();
            bad[i] ^= 1 << bit;
            assert!(
                SnapshotReader::open(&bad[..], SUB, GEO, &[key(1)]).is_err(),
                "byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn bit_flips_in_every_chunk_are_refused() {
    let (records, _, s) = medium();
    let (_, spans) = layout(&s);
    for (c, &(start, end)) in spans.iter().enumerate() {
        let body = start + 5;
        let mut places: Vec<usize> = (start..body).collect(); // flag and length field
        places.extend([body, body + 1, (body + end) / 2, end - 17]); // ciphertext
        places.extend(end - 16..end); // tag
        for i in places {
            for bit in 0..8 {
                let mut bad = s.clone();
                bad[i] ^= 1 << bit;
                let r = read_all(&bad);
                assert!(r.end.is_err(), "chunk {c} byte {i} bit {bit}");
                assert!(records.starts_with(&r.records));
                if i >= body {
                    assert_eq!(r.end.err(), Some(BlobError::Unauthentic));
                }
            }
        }
    }
}

/// Rebuilds a stream from its header and a list of chunk spans.
fn splice(s: &[u8], h: usize, chunks: &[(usize, usize)]) -> Vec<u8> {
    let mut out = s[..h].to_vec();
    for &(a, b) in chunks {
        out.extend_from_slice(&s[a..b]);
    }
    out
}

#[test]
fn duplicated_swapped_and_removed_chunks_are_refused() {
    for (records, _, s) in [medium(), small()] {
        let (h, spans) = layout(&s);
        let last = spans.len() - 1;
        for c in 0..spans.len() {
            let mut dup = spans.clone();
            dup.insert(c, spans[c]);
            let want = if c == last {
                BlobError::TrailingData
            } else {
                BlobError::Unauthentic
            };
            let r = read_all(&splice(&s, h, &dup));
            assert_eq!(r.end.err(), Some(want), "duplicate {c}");
            assert!(records.starts_with(&r.records));

            let mut removed = spans.clone();
            removed.remove(c);
            let want = if c == last {
                BlobError::TruncatedStream
            } else {
                BlobError::Unauthentic
            };
            let r = read_all(&splice(&s, h, &removed));
            assert_eq!(r.end.err(), Some(want), "remove {c}");
            assert!(records.starts_with(&r.records));

            if c < last {
                let mut swapped = spans.clone();
                swapped.swap(c, c + 1);
                let r = read_all(&splice(&s, h, &swapped));
                assert_eq!(r.end.err(), Some(BlobError::Unauthentic), "swap {c}");
                assert!(records.starts_with(&r.records));
            }
        }
    }
}

#[test]
fn a_chunk_cannot_be_marked_final_or_not_final() {
    let (_, _, s) = small();
    let (_, spans) = layout(&s);
    // A full chunk relabelled final is refused by its associated data.
    let mut bad = s.clone();
    bad[spans[0].0] = CHUNK_FINAL;
    assert_eq!(read_all(&bad).end.err(), Some(BlobError::Unauthentic));
    // The short final chunk relabelled non-final has the wrong length for a non-final chunk.
    let mut bad = s.clone();
    bad[spans[spans.len() - 1].0] = CHUNK_MORE;
    assert_eq!(
        read_all(&bad).end.err(),
        Some(BlobError::MalformedStream("chunk length out of range"))
    );
    let mut bad = s.clone();
    bad[spans[1].0] = 7;
    assert_eq!(
        read_all(&bad).end.err(),
        Some(BlobError::MalformedStream("unknown chunk flag"))
    );
}

#[test]
fn length_fields_are_bounded_before_anything_is_allocated() {
    let (_, _, s) = small();
    let (_, spans) = layout(&s);
    let (at, _) = spans[spans.len() - 1];
    for len in [0u32, 16, 1024 + 17, u32::MAX] {
        let mut bad = s.clone();
        bad[at + 1..at + 5].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            read_all(&bad).end.err(),
            Some(BlobError::MalformedStream("chunk length out of range")),
            "{len}"
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let (records, manifest, s) = small();
    assert_eq!(read_ok(&s), (records.clone(), manifest));
    for extra in [&[0u8][..], b"garbage", &s[..]] {
        let mut bad = s.clone();
        bad.extend_from_slice(extra);
        let r = read_all(&bad);
        assert_eq!(r.end.err(), Some(BlobError::TrailingData));
        assert_eq!(r.records, records, "the records themselves were intact");
    }
}

#[test]
fn chunks_of_another_snapshot_are_refused() {
    let (_, _, a) = medium();
    let (_, _, b) = medium(); // same contents, another data key
    let (h, spans) = layout(&a);
    let mut mixed = a[..spans[1].0].to_vec();
    mixed.extend_from_slice(&b[spans[1].0..]);
    assert_eq!(read_all(&mixed).end.err(), Some(BlobError::Unauthentic));
    let mut other_header = b[..h].to_vec();
    other_header.extend_from_slice(&a[h..]);
    assert_eq!(
        read_all(&other_header).end.err(),
        Some(BlobError::Unauthentic)
    );
}
