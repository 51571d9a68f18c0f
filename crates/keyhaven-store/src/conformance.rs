//! The contract every engine must meet, as a suite each engine's tests call with a factory of fresh engines:
//! `keyhaven_store::conformance::run_all(&|| Arc::new(MyEngine::open(..)))`. Failures panic with a message
//! naming the broken rule (this module is test support; it is not used on request paths).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::{Engine, MemoryEngine, StepLimits, Store, StoreError, UndoJournal, WriteTxn};
use std::sync::Arc;

/// Runs every conformance check, each on a fresh engine.
pub fn run_all(new_engine: &dyn Fn() -> Arc<dyn Engine>) {
    put_get_delete(new_engine());
    scans_are_ordered_bounded_and_limited(new_engine());
    failed_writer_leaves_no_trace(new_engine());
    snapshots_are_point_in_time(new_engine());
    get_many_answers_in_order(new_engine());
    readers_see_earlier_commits_and_one_state_per_call(new_engine());
    concurrent_writers_all_commit(new_engine());
    writers_see_their_own_and_earlier_writes(new_engine());
    exclusive_writes_are_all_or_nothing(new_engine());
    put_many_is_puts_in_order(new_engine());
    deferred_commits_are_visible_in_order(new_engine());
    undo_journal_spans_transactions(new_engine());
    leases_have_one_holder_per_store(new_engine());
    differential_against_memory_model(new_engine(), 300);
}

fn store(e: Arc<dyn Engine>) -> Store {
    Store::new(e).expect("store")
}

fn put(s: &Store, k: &[u8], v: &[u8]) {
    let (k, v) = (k.to_vec(), v.to_vec());
    s.write_blocking(move |t| t.put(&k, &v)).expect("put");
}

/// A value reads back, an overwrite replaces it, a delete removes it (an absent key too), and multi-megabyte
/// values are stored whole.
pub fn put_get_delete(e: Arc<dyn Engine>) {
    let s = store(e);
    put(&s, b"a", b"1");
    assert_eq!(
        s.snapshot().unwrap().get(b"a").unwrap(),
        Some(b"1".to_vec()),
        "a written value reads back"
    );
    put(&s, b"a", b"2");
    assert_eq!(
        s.snapshot().unwrap().get(b"a").unwrap(),
        Some(b"2".to_vec()),
        "an overwrite replaces"
    );
    s.write_blocking(|t| t.delete(b"a")).unwrap();
    assert_eq!(
        s.snapshot().unwrap().get(b"a").unwrap(),
        None,
        "a deleted key is gone"
    );
    s.write_blocking(|t| t.delete(b"never")).unwrap();
    let big = vec![7u8; 3 << 20];
    put(&s, b"big", &big);
    assert_eq!(
        s.snapshot().unwrap().get(b"big").unwrap().map(|v| v.len()),
        Some(big.len()),
        "large values"
    );
}

/// Scans return keys in ascending order, start inclusive and end exclusive, at most `limit` of them; an empty
/// range or a zero limit gives nothing.
pub fn scans_are_ordered_bounded_and_limited(e: Arc<dyn Engine>) {
    let s = store(e);
    for k in ["b", "a", "c", "ab", "d"] {
        put(&s, k.as_bytes(), k.as_bytes());
    }
    let snap = s.snapshot().unwrap();
    let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| {
        v.into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(snap.scan(b"a", b"d", 100).unwrap()),
        ["a", "ab", "b", "c"],
        "start inclusive, end exclusive"
    );
    assert_eq!(
        keys(snap.scan(b"a", b"z", 2).unwrap()),
        ["a", "ab"],
        "limit"
    );
    assert!(snap.scan(b"c", b"a", 10).unwrap().is_empty(), "empty range");
    assert!(snap.scan(b"a", b"z", 0).unwrap().is_empty(), "zero limit");
}

/// A write function that returns `Err` leaves none of its puts or deletes behind.
pub fn failed_writer_leaves_no_trace(e: Arc<dyn Engine>) {
    let s = store(e);
    put(&s, b"keep", b"1");
    let r: Result<(), StoreError> = s.write_blocking(|t| {
        t.put(b"x", b"1")?;
        t.delete(b"keep")?;
        Err(StoreError::unavailable("refused by the writer"))
    });
    assert!(r.is_err());
    let snap = s.snapshot().unwrap();
    assert_eq!(
        snap.get(b"x").unwrap(),
        None,
        "a failed writer's put is discarded"
    );
    assert_eq!(
        snap.get(b"keep").unwrap(),
        Some(b"1".to_vec()),
        "a failed writer's delete is discarded"
    );
}

/// A snapshot sees none of the updates, deletes and inserts committed after it was taken.
pub fn snapshots_are_point_in_time(e: Arc<dyn Engine>) {
    let s = store(e);
    put(&s, b"k", b"old");
    put(&s, b"m", b"old");
    let snap = s.snapshot().unwrap();
    put(&s, b"k", b"new");
    put(&s, b"n", b"new");
    s.write_blocking(|t| t.delete(b"m")).unwrap();
    assert_eq!(
        snap.get(b"k").unwrap(),
        Some(b"old".to_vec()),
        "a snapshot does not see later updates"
    );
    assert_eq!(
        snap.get(b"m").unwrap(),
        Some(b"old".to_vec()),
        "a snapshot does not see later deletes"
    );
    assert_eq!(
        snap.scan(b"a", b"z", 10).unwrap().len(),
        2,
        "a snapshot does not see later inserts"
    );
}

/// `get_many` answers each key in the order asked (absent keys, repeated keys and no keys included) on a
/// snapshot, a reader and in a write function, where a function's own writes and deletes come first; a snapshot's
/// `get_many` does not see later commits.
pub fn get_many_answers_in_order(e: Arc<dyn Engine>) {
    let s = store(e);
    put(&s, b"a", b"1");
    put(&s, b"b", b"2");
    let keys: [&[u8]; 5] = [b"b", b"missing", b"a", b"b", b""];
    let want = vec![
        Some(b"2".to_vec()),
        None,
        Some(b"1".to_vec()),
        Some(b"2".to_vec()),
        None,
    ];
    let snap = s.snapshot().unwrap();
    assert_eq!(snap.get_many(&keys).unwrap(), want, "a snapshot's get_many");
    assert_eq!(
        snap.get_many(&[]).unwrap(),
        Vec::<Option<Vec<u8>>>::new(),
        "no keys, no values"
    );
    assert_eq!(
        s.reader().unwrap().get_many(&keys).unwrap(),
        want,
        "a reader's get_many"
    );
    let seen = s
        .write_blocking(|t| {
            t.put(b"c", b"3")?;
            t.delete(b"a")?;
            t.get_many(&[b"a", b"b", b"c", b"d"])
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![None, Some(b"2".to_vec()), Some(b"3".to_vec()), None],
        "a writer's get_many sees its own writes and deletes"
    );
    assert_eq!(
        snap.get_many(&[b"a", b"c"]).unwrap(),
        vec![Some(b"1".to_vec()), None],
        "a snapshot's get_many does not see later commits"
    );
}

/// A reader sees every commit that returned before it was made, and each of its calls reads one state: while a
/// writer keeps two keys equal in every commit, no `get_many` of both finds them different.
pub fn readers_see_earlier_commits_and_one_state_per_call(e: Arc<dyn Engine>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = Arc::new(store(e));
    put(&s, b"x", b"0");
    put(&s, b"y", b"0");
    assert_eq!(
        s.reader().unwrap().get_many(&[b"x"]).unwrap(),
        vec![Some(b"0".to_vec())],
        "a reader sees earlier commits"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            loop {
                n += 1;
                let v = n.to_string().into_bytes();
                s.write_blocking(move |t| {
                    t.put(b"x", &v)?;
                    t.put(b"y", &v)
                })
                .unwrap();
                if stop.load(Ordering::SeqCst) || n >= 2_000 {
                    return n;
                }
            }
        })
    };
    let mut changes = 0;
    let mut last = Vec::new();
    for _ in 0..300 {
        let r = s.reader().unwrap();
        let got = r.get_many(&[b"x", b"y"]).unwrap();
        assert_eq!(got[0], got[1], "one get_many reads one committed state");
        let x = got[0].clone().unwrap();
        if x != last {
            changes += 1;
            last = x;
        }
        let latest = r.get_many(&[b"y", b"x"]).unwrap();
        assert_eq!(
            latest[0], latest[1],
            "one get_many reads one committed state"
        );
    }
    stop.store(true, Ordering::SeqCst);
    let commits = writer.join().unwrap();
    println!("readers: {changes} distinct states seen over {commits} commits");
}

/// Every acknowledged write from concurrent threads is there, and concurrent read-modify-write functions
/// are serialized (no increment is lost).
pub fn concurrent_writers_all_commit(e: Arc<dyn Engine>) {
    let s = Arc::new(store(e));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let k = format!("t{t}-{i:03}");
                    s.write_blocking(move |w| w.put(k.as_bytes(), b"v"))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        s.snapshot().unwrap().scan(b"t", b"u", 1000).unwrap().len(),
        400,
        "every acknowledged write is there"
    );
    // Read-modify-write under concurrency: increments must not be lost.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    s.write_blocking(|w: &mut dyn WriteTxn| {
                        let n = w
                            .get(b"counter")?
                            .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
                            .unwrap_or(0);
                        w.put(b"counter", &(n + 1).to_le_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n = s.snapshot().unwrap().get(b"counter").unwrap().unwrap();
    assert_eq!(
        u64::from_le_bytes(n.try_into().unwrap()),
        200,
        "writers are serialized"
    );
}

/// A write function reads its own puts and deletes, in `get` and `scan` alike.
pub fn writers_see_their_own_and_earlier_writes(e: Arc<dyn Engine>) {
    let s = store(e);
    let seen = s
        .write_blocking(|t| {
            t.put(b"a", b"1")?;
            t.put(b"c", b"3")?;
            t.delete(b"c")?;
            Ok::<_, StoreError>((t.get(b"a")?, t.scan(b"a", b"z", 10)?.len()))
        })
        .unwrap();
    assert_eq!(
        seen,
        (Some(b"1".to_vec()), 1),
        "read-your-writes inside a writer, deletes hide keys"
    );
}

/// A large exclusive write that fails half-way leaves nothing; one that succeeds is committed whole.
pub fn exclusive_writes_are_all_or_nothing(e: Arc<dyn Engine>) {
    let s = store(e);
    put(&s, b"keep", b"1");
    let r: Result<(), StoreError> = s.write_exclusive_blocking(|t| {
        for i in 0..2000u32 {
            t.put(format!("x{i:05}").as_bytes(), &[0u8; 64])?;
        }
        t.delete(b"keep")?;
        Err(StoreError::unavailable("refused half-way"))
    });
    assert!(r.is_err());
    let snap = s.snapshot().unwrap();
    assert!(
        snap.scan(b"x", b"y", 10).unwrap().is_empty(),
        "a failed exclusive writer leaves nothing"
    );
    assert_eq!(snap.get(b"keep").unwrap(), Some(b"1".to_vec()));
    s.write_exclusive_blocking(|t| {
        for i in 0..2000u32 {
            t.put(format!("x{i:05}").as_bytes(), &[0u8; 64])?;
        }
        Ok::<_, StoreError>(())
    })
    .unwrap();
    put(&s, b"after", b"1");
    assert_eq!(
        s.snapshot().unwrap().scan(b"x", b"y", 5000).unwrap().len(),
        2000,
        "an exclusive writer commits"
    );
}

/// `put_many` writes like one `put` per entry in order (a later entry for the same key wins), is seen by the
/// writer's own reads, and goes with its transaction when the writer fails.
pub fn put_many_is_puts_in_order(e: Arc<dyn Engine>) {
    let s = store(e);
    put(&s, b"m1", b"old");
    let entries: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"m2".to_vec(), b"a".to_vec()),
        (b"m1".to_vec(), b"new".to_vec()),
        (b"m2".to_vec(), b"b".to_vec()),
        (b"m3".to_vec(), Vec::new()),
    ];
    let failing = entries.clone();
    let r: Result<(), StoreError> = s.write_exclusive_blocking(move |t| {
        t.put_many(&failing)?;
        Err(StoreError::unavailable("refused after put_many"))
    });
    assert!(r.is_err());
    assert_eq!(
        s.snapshot().unwrap().scan(b"m", b"n", 10).unwrap(),
        vec![(b"m1".to_vec(), b"old".to_vec())],
        "a failed writer's put_many leaves nothing"
    );
    let seen = s
        .write_exclusive_blocking(move |t| {
            t.put_many(&entries)?;
            t.get(b"m2")
        })
        .unwrap();
    assert_eq!(
        seen,
        Some(b"b".to_vec()),
        "the writer reads its own put_many"
    );
    let grouped: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"m4".to_vec(), b"g".to_vec())];
    s.write_blocking(move |t| t.put_many(&grouped)).unwrap();
    assert_eq!(
        s.snapshot().unwrap().scan(b"m", b"n", 10).unwrap(),
        vec![
            (b"m1".to_vec(), b"new".to_vec()),
            (b"m2".to_vec(), b"b".to_vec()),
            (b"m3".to_vec(), Vec::new()),
            (b"m4".to_vec(), b"g".to_vec()),
        ]
    );
}

/// Commits whose durability is deferred are atomic, visible at once and in queue order, like any other; a
/// failed one leaves nothing.
pub fn deferred_commits_are_visible_in_order(e: Arc<dyn Engine>) {
    let s = store(e);
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..20u32 {
        let tx = tx.clone();
        s.submit_exclusive(
            true,
            move |t| {
                let n = t
                    .get(b"count")?
                    .map(|v| u32::from_be_bytes(v.try_into().unwrap_or_default()))
                    .unwrap_or(0);
                assert_eq!(n, i, "each deferred job sees every job queued before it");
                t.put(b"count", &(n + 1).to_be_bytes())?;
                t.put(format!("d{i:02}").as_bytes(), b"x")
            },
            move |r: Result<(), StoreError>| {
                let _ = tx.send(r);
            },
        );
    }
    for _ in 0..20 {
        rx.recv().unwrap().unwrap();
    }
    let r: Result<(), StoreError> = {
        let (tx, rx) = std::sync::mpsc::channel();
        s.submit_exclusive(
            true,
            |t| {
                t.put(b"d99", b"x")?;
                Err(StoreError::unavailable("refused"))
            },
            move |r| {
                let _ = tx.send(r);
            },
        );
        rx.recv().unwrap()
    };
    assert!(r.is_err());
    put(&s, b"durable", b"1");
    let snap = s.snapshot().unwrap();
    assert_eq!(
        snap.scan(b"d", b"e", 100).unwrap().len(),
        21,
        "20 jobs and the durable write"
    );
    assert_eq!(snap.get(b"d99").unwrap(), None);
    assert_eq!(
        snap.get(b"count").unwrap(),
        Some(20u32.to_be_bytes().to_vec())
    );
}

/// Through one store, a lease has one holder at a time: taken again while held it is refused, released when
/// dropped; names are independent. What every engine must allow (an engine only one process opens grants every
/// lease; the store excludes holders within the process).
pub fn leases_have_one_holder_per_store(e: Arc<dyn Engine>) {
    let s = store(e);
    let ttl = std::time::Duration::from_secs(30);
    let a = s
        .try_lease("maintenance", ttl)
        .unwrap()
        .expect("a free lease is granted");
    assert_eq!(a.name(), "maintenance");
    assert!(a.is_held());
    assert!(
        s.try_lease("maintenance", ttl).unwrap().is_none(),
        "a held lease is refused to another holder"
    );
    let b = s
        .try_lease("restore/1", ttl)
        .unwrap()
        .expect("names are independent");
    drop(a);
    let again = s.try_lease("maintenance", ttl).unwrap();
    assert!(again.is_some(), "a dropped lease is released");
    assert!(b.is_held());
}

/// Two handles on the same data (two nodes over one database: an engine opened twice, or one engine shared by
/// two stores) exclude each other's leases: one holder at a time across them, released when dropped.
pub fn leases_exclude_across_nodes(a: Arc<dyn Engine>, b: Arc<dyn Engine>) {
    let (a, b) = (store(a), store(b));
    let ttl = std::time::Duration::from_secs(30);
    let held = a
        .try_lease("maintenance", ttl)
        .unwrap()
        .expect("granted to the first");
    assert!(
        b.try_lease("maintenance", ttl).unwrap().is_none(),
        "the other node is refused while the first holds it"
    );
    let other = b
        .try_lease("schedule/x", ttl)
        .unwrap()
        .expect("other names are free");
    assert!(
        a.try_lease("schedule/x", ttl).unwrap().is_none(),
        "both ways"
    );
    drop(held);
    let taken = b
        .try_lease("maintenance", ttl)
        .unwrap()
        .expect("released by the first, granted to the other");
    assert!(taken.is_held() && other.is_held());
    assert!(a.try_lease("maintenance", ttl).unwrap().is_none());
}

/// Everything in the store, for before/after comparisons.
pub fn everything(s: &Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    s.snapshot()
        .unwrap()
        .scan(b"", &[0xff; 8], usize::MAX)
        .unwrap()
}

/// Writes spread over several transactions through an undo journal are undone exactly (in steps of any size),
/// or kept when the journal is discarded.
pub fn undo_journal_spans_transactions(e: Arc<dyn Engine>) {
    let s = store(e);
    put(&s, b"a", b"1");
    put(&s, b"b", b"2");
    put(&s, b"c", &[3u8; 100_000]);
    let before = everything(&s);
    let j = UndoJournal::new(b"~undo\0job1\0".to_vec()).unwrap();
    let run = |j: &UndoJournal| {
        let j1 = j.clone();
        s.write_exclusive_blocking(move |t| {
            let mut w = j1.record(t);
            w.put(b"a", b"10")?;
            w.delete(b"b")?;
            w.put(b"d", b"4")?;
            w.put(b"c", b"")?;
            assert!(w.noted_bytes() > 0);
            Ok::<_, StoreError>(())
        })
        .unwrap();
        let j2 = j.clone();
        s.write_exclusive_blocking(move |t| {
            let mut w = j2.record(t);
            w.put(b"a", b"11")?;
            w.put(b"e", b"5")?;
            w.delete(b"d")?;
            w.delete(b"never")?;
            assert!(
                w.put(b"~undo\0job1\0a", b"x").is_err(),
                "a journaled write may not touch the journal"
            );
            Ok::<_, StoreError>(())
        })
        .unwrap();
    };
    run(&j);
    let mid = s.snapshot().unwrap();
    assert_eq!(mid.get(b"a").unwrap(), Some(b"11".to_vec()));
    assert_eq!(mid.get(b"b").unwrap(), None);
    assert_eq!(mid.get(b"e").unwrap(), Some(b"5".to_vec()));
    // Undo one entry per transaction: the result is the state from before the first write.
    let mut steps = 0;
    loop {
        let j = j.clone();
        let done = s
            .write_exclusive_blocking(move |t| {
                j.undo_step(
                    t,
                    StepLimits {
                        entries: 1,
                        bytes: 1,
                    },
                )
            })
            .unwrap();
        steps += 1;
        if done {
            break;
        }
        assert!(steps < 100, "undo makes progress");
    }
    assert!(steps >= 5, "one entry per step: {steps} steps");
    assert_eq!(
        everything(&s),
        before,
        "undo restores every key and leaves no entry"
    );
    // The same writes, discarded: they stay, the journal goes.
    run(&j);
    let after = everything(&s);
    let j3 = j.clone();
    assert!(s
        .write_exclusive_blocking(move |t| j3.discard_step(t, StepLimits::default()))
        .unwrap());
    let kept = everything(&s);
    assert!(kept.iter().all(|(k, _)| !k.starts_with(b"~undo")));
    assert_eq!(
        kept,
        after
            .into_iter()
            .filter(|(k, _)| !k.starts_with(b"~undo"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        s.snapshot().unwrap().get(b"a").unwrap(),
        Some(b"11".to_vec())
    );
}

/// Random operations applied to the engine under test and to the in-memory model must give the same state.
/// The seed is printed so that a failure can be replayed.
pub fn differential_against_memory_model(e: Arc<dyn Engine>, steps: usize) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    println!("differential_against_memory_model seed={seed}");
    differential_with_seed(e, steps, seed);
}

/// [`differential_against_memory_model`] with a given seed, to replay a failure.
pub fn differential_with_seed(e: Arc<dyn Engine>, steps: usize, seed: u64) {
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let real = store(e);
    let model = store(Arc::new(MemoryEngine::new()));
    for step in 0..steps {
        let ops: Vec<(u8, Vec<u8>, Vec<u8>)> = (0..(next() % 5 + 1))
            .map(|_| {
                let k = format!("k{:02}", next() % 40).into_bytes();
                let v = format!("v{}", next() % 1000).into_bytes();
                ((next() % 3) as u8, k, v)
            })
            .collect();
        let fail = next() % 7 == 0;
        let apply = move |ops: Vec<(u8, Vec<u8>, Vec<u8>)>| {
            move |t: &mut dyn WriteTxn| -> Result<Vec<usize>, StoreError> {
                let mut seen = Vec::new();
                for (op, k, v) in &ops {
                    match op {
                        0 => t.put(k, v)?,
                        1 => t.delete(k)?,
                        _ => seen.push(t.scan(k, b"k99", 5)?.len()),
                    }
                }
                if fail {
                    return Err(StoreError::unavailable("planned failure"));
                }
                Ok(seen)
            }
        };
        let a = real
            .write_blocking(apply(ops.clone()))
            .map_err(|e| e.to_string());
        let b = model.write_blocking(apply(ops)).map_err(|e| e.to_string());
        assert_eq!(
            a, b,
            "seed {seed} step {step}: writer outcome differs from the model"
        );
        let ra = real.snapshot().unwrap().scan(b"", b"\xff", 1000).unwrap();
        let rb = model.snapshot().unwrap().scan(b"", b"\xff", 1000).unwrap();
        assert_eq!(
            ra, rb,
            "seed {seed} step {step}: state differs from the model"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_engine_conforms() {
        super::run_all(&|| std::sync::Arc::new(crate::MemoryEngine::new()));
        let shared = std::sync::Arc::new(crate::MemoryEngine::new());
        super::leases_exclude_across_nodes(shared.clone(), shared);
    }
}
