//! Streaming in bounded memory, and random mutation of a valid stream.

use super::*;
use std::cell::RefCell;
use std::io::{Read as _, Write};
use std::rc::Rc;

/// Target size of the constant-memory test's record stream.
const STREAM_BYTES: usize = 48 << 20;

/// The record sizes of the constant-memory test: mostly small, now and then up to 1 MiB, one of exactly 1 MiB.
fn plan() -> Vec<usize> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut sizes = vec![1 << 20];
    let mut total = 1 << 20;
    while total < STREAM_BYTES {
        let len = if sizes.len() % 400 == 0 {
            rng.below(1 << 20) + 1
        } else {
            rng.below(4_000)
        };
        total += len;
        sizes.push(len);
    }
    sizes
}

struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer's output, shared with the generator that drains it.
struct Pipe(Rc<RefCell<Vec<u8>>>);

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An input that produces a snapshot on demand: whenever it runs dry it writes the next record.
struct Generator {
    sizes: std::vec::IntoIter<usize>,
    index: usize,
    writer: Option<SnapshotWriter<Pipe>>,
    pipe: Rc<RefCell<Vec<u8>>>,
    pos: usize,
}

impl std::io::Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            {
                let p = self.pipe.borrow();
                if self.pos < p.len() {
                    let n = buf.len().min(p.len() - self.pos);
                    buf[..n].copy_from_slice(&p[self.pos..self.pos + n]);
                    self.pos += n;
                    return Ok(n);
                }
            }
            self.pipe.borrow_mut().clear();
            self.pos = 0;
            let Some(w) = self.writer.as_mut() else {
                return Ok(0);
            };
            match self.sizes.next() {
                Some(len) => {
                    w.write_record(&record(self.index, len))
                        .map_err(std::io::Error::other)?;
                    self.index += 1;
                }
                None => {
                    if let Some(w) = self.writer.take() {
                        w.finish(b"generated").map_err(std::io::Error::other)?;
                    }
                }
            }
        }
    }
}

#[test]
fn streams_in_bounded_memory() {
    let sizes = plan();
    let mut w = SnapshotWriter::new(Counting(0), header(), &key(1)).unwrap();
    for (i, &len) in sizes.iter().enumerate() {
        w.write_record(&record(i, len)).unwrap();
    }
    let written = w.bytes_written();
    let Counting(counted) = w.finish(b"generated").unwrap();
    assert!(counted > written && counted as usize > STREAM_BYTES);

    let pipe = Rc::new(RefCell::new(Vec::new()));
    let generator = Generator {
        sizes: sizes.clone().into_iter(),
        index: 0,
        writer: Some(SnapshotWriter::new(Pipe(pipe.clone()), header(), &key(1)).unwrap()),
        pipe,
        pos: 0,
    };
    let mut r = SnapshotReader::open(generator, SUB, GEO, &[key(1)]).unwrap();
    let mut largest = 0;
    for (i, &len) in sizes.iter().enumerate() {
        let got = r.next_record().unwrap().unwrap();
        assert!(got[..] == record(i, len)[..], "record {i}");
        largest = largest.max(len);
    }
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.manifest(), Some(&b"generated"[..]));
    assert_eq!(r.bytes_read(), counted);
    // Sealed chunk and its plaintext (each a chunk plus nonce/tag/block slack), and the record being assembled.
    let bound = 2 * CHUNK_BYTES + 128 + largest;
    assert!(
        r.peak_buffered() <= bound,
        "reader held {} bytes at once; bound {bound}",
        r.peak_buffered()
    );
    assert!(largest == 1 << 20);
}

#[test]
fn reading_stops_at_the_final_chunk_without_reading_ahead() {
    // The reader takes exactly the snapshot's bytes: another stream may follow it on the same input only if the
    // caller frames it; the reader itself refuses anything after the final chunk.
    let s = write_with(1024, &[record(0, 5000)], b"m");
    let mut input = &s[..];
    let mut r = SnapshotReader::open(&mut input, SUB, GEO, &[key(1)]).unwrap();
    assert_eq!(r.next_record().unwrap().unwrap().len(), 5000);
    assert!(r.next_record().unwrap().is_none());
    assert_eq!(r.bytes_read(), s.len() as u64);
    drop(r);
    let mut rest = Vec::new();
    input.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

fn seed() -> u64 {
    std::env::var("KEYHAVEN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1
}

/// One random change to `s`, whose chunk layout (of the unmutated stream) is `spans`.
fn mutate(rng: &mut XorShift, s: &mut Vec<u8>, donor: &[u8], h: usize, spans: &[(usize, usize)]) {
    let at = rng.below(s.len());
    match rng.below(10) {
        0 => s[at] ^= 1 << rng.below(8),
        1 => s[at] = rng.next() as u8,
        2 => s.truncate(at),
        3 => {
            let end = (at + 1 + rng.below(64)).min(s.len());
            s.drain(at..end);
        }
        4 => {
            let bytes: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
            s.splice(at..at, bytes);
        }
        5 => {
            let end = (at + 1 + rng.below(2048)).min(s.len());
            let copy = s[at..end].to_vec();
            let to = rng.below(s.len() + 1);
            s.splice(to..to, copy);
        }
        6 if spans.len() > 1 => {
            let mut order = spans.to_vec();
            let c = rng.below(order.len());
            match rng.below(3) {
                0 => order.insert(rng.below(order.len() + 1), spans[c]),
                1 => {
                    order.remove(c);
                }
                _ => {
                    let d = rng.below(order.len());
                    order.swap(c, d);
                }
            }
            let original = s.clone();
            s.truncate(h);
            for (a, b) in order {
                s.extend_from_slice(&original[a..b]);
            }
        }
        7 => {
            let n = 1 + rng.below(64);
            s.extend((0..n).map(|_| rng.next() as u8));
        }
        8 => {
            let end = (at + 1 + rng.below(1100)).min(s.len()).min(donor.len());
            if at < end {
                s[at..end].copy_from_slice(&donor[at..end]);
            }
        }
        _ => {
            let v: u32 =
                [0, 1, 16, 17, 1024, 1040, 1041, u32::MAX, rng.next() as u32][rng.below(9)];
            let end = (at + 4).min(s.len());
            s[at..end].copy_from_slice(&v.to_be_bytes()[..end - at]);
        }
    }
}

#[test]
fn random_mutations_never_panic_or_change_records() {
    let seed = seed();
    println!("vault snapshot mutation seed: {seed} (rerun with KEYHAVEN_FUZZ_SEED={seed})");
    let mut rng = XorShift(seed);
    let mut records: Vec<Vec<u8>> = (0..24).map(|i| record(i, (i * 53) % 300)).collect();
    records.insert(3, Vec::new());
    records.insert(9, record(99, 2500));
    let manifest = b"{\"records\":26}".to_vec();
    let s = write_with(1024, &records, &manifest);
    let donor = write(&records, &manifest);
    let (h, spans) = layout(&s);
    let (mut refused, mut unchanged) = (0, 0);
    for case in 0..2_000 {
        let mut m = s.clone();
        for k in 0..1 + rng.below(3) {
            if m.is_empty() {
                break;
            }
            let chunk_spans = if k == 0 { &spans[..] } else { &[] };
            mutate(&mut rng, &mut m, &donor, h, chunk_spans);
        }
        let r = read_all(&m);
        assert!(
            records.starts_with(&r.records),
            "case {case}: records differ (seed {seed})"
        );
        match r.end {
            Ok(got) => {
                assert!(
                    m == s,
                    "case {case}: an altered stream was accepted (seed {seed})"
                );
                assert!(r.records == records && got == manifest, "case {case}");
                unchanged += 1;
            }
            Err(_) => refused += 1,
        }
    }
    println!("{refused} refused, {unchanged} unchanged");
    assert!(refused > 1_900);
}
