//! The PostgreSQL engine against a real PostgreSQL started by each test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyhaven_store::{Engine, EngineMode, Store, StoreError, WriteTxn};
use keyhaven_store_postgres::{
    PostgresEngine, PostgresError, PostgresOptions, PostgresUrl, SCHEMA_VERSION,
};
use keyhaven_testkit::TestPostgres;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn open(url: &str) -> PostgresEngine {
    PostgresEngine::open(url).unwrap_or_else(|e| panic!("opening {url}: {e}"))
}

/// Options for tests that watch failover happen: a short check interval.
fn quick_failover() -> PostgresOptions {
    PostgresOptions {
        check_interval: Duration::from_millis(200),
        connect_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    }
}

#[test]
fn postgres_engine_conforms() {
    let pg = TestPostgres::start();
    let n = AtomicUsize::new(0);
    keyhaven_store::conformance::run_all(&|| {
        let url = pg.create_database(&format!("conformance{}", n.fetch_add(1, Ordering::SeqCst)));
        Arc::new(open(&url))
    });
}

#[test]
fn a_second_differential_run_on_one_engine_with_more_steps() {
    let pg = TestPostgres::start();
    keyhaven_store::conformance::differential_against_memory_model(Arc::new(open(&pg.url())), 600);
}

/// Readers' calls made at once are answered together (one statement for many): each caller still gets exactly the
/// values of its own keys, in its order (missing keys and keys asked twice included), and a write acknowledged
/// before a call is in its answer.
#[test]
fn concurrent_readers_each_get_their_own_keys_and_see_acknowledged_writes() {
    let pg = TestPostgres::start();
    let store = Arc::new(Store::new(Arc::new(open(&pg.url()))).unwrap());
    store
        .write_blocking(|t| {
            for i in 0..100u32 {
                t.put(
                    format!("r{i:03}").as_bytes(),
                    format!("value {i}").as_bytes(),
                )?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let mut threads = Vec::new();
    for t in 0..12u32 {
        let store = store.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..150u32 {
                let (a, b) = ((t * 7 + i) % 100, (t * 13 + i * 3) % 100);
                let keys = [
                    format!("r{a:03}"),
                    format!("missing{t}"),
                    format!("r{b:03}"),
                    format!("r{a:03}"),
                ];
                let asked: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
                let got = store.reader().unwrap().get_many(&asked).unwrap();
                let want = vec![
                    Some(format!("value {a}").into_bytes()),
                    None,
                    Some(format!("value {b}").into_bytes()),
                    Some(format!("value {a}").into_bytes()),
                ];
                assert_eq!(got, want, "thread {t}, call {i}");
            }
        }));
    }
    // Meanwhile, every acknowledged increment is seen by the next read.
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for n in 1..=100u64 {
                store
                    .write_blocking(move |t| t.put(b"counter", &n.to_le_bytes()))
                    .unwrap();
                let got = store.reader().unwrap().get_many(&[b"counter"]).unwrap();
                let seen = u64::from_le_bytes(got[0].clone().unwrap().try_into().unwrap());
                assert_eq!(seen, n, "an acknowledged write is in the next read");
            }
        })
    };
    for t in threads {
        t.join().unwrap();
    }
    writer.join().unwrap();
}

fn read_counter(s: &Store, key: &[u8]) -> u64 {
    s.snapshot()
        .unwrap()
        .get(key)
        .unwrap()
        .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
        .unwrap_or(0)
}

/// Two engines (two pools, two committers: two nodes) over one database increment the same counters at once.
/// Every increment is a read-modify-write; none may be lost.
#[test]
fn two_nodes_on_one_database_lose_no_update() {
    let pg = TestPostgres::start();
    let nodes: Vec<Arc<Store>> = (0..2)
        .map(|_| Arc::new(Store::new(Arc::new(open(&pg.url()))).unwrap()))
        .collect();
    const THREADS_PER_NODE: usize = 4;
    const INCREMENTS: usize = 60;
    let keys: [&[u8]; 3] = [b"counter-a", b"counter-b", b"counter-c"];
    let mut threads = Vec::new();
    for node in &nodes {
        for t in 0..THREADS_PER_NODE {
            let node = node.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..INCREMENTS {
                    let key = keys[(t + i) % keys.len()].to_vec();
                    node.write_blocking(move |w: &mut dyn WriteTxn| {
                        let n = w
                            .get(&key)?
                            .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
                            .unwrap_or(0);
                        // Also a scan of the range, so that writes buffered by earlier writers of the group
                        // are flushed while the lock is held.
                        let _ = w.scan(b"counter", b"counteq", 10)?;
                        w.put(&key, &(n + 1).to_le_bytes())?;
                        w.put(b"last-writer", &key)
                    })
                    .unwrap();
                }
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    let total: u64 = keys.iter().map(|k| read_counter(&nodes[0], k)).sum();
    assert_eq!(
        total,
        (2 * THREADS_PER_NODE * INCREMENTS) as u64,
        "every acknowledged increment of both nodes is counted"
    );
    let seen_by_other: u64 = keys.iter().map(|k| read_counter(&nodes[1], k)).sum();
    assert_eq!(seen_by_other, total, "both nodes read the same state");
}

/// Engine calls from inside a Tokio runtime (as request handlers make them) neither panic nor deadlock.
#[tokio::test]
async fn callable_from_inside_a_tokio_runtime() {
    let pg = TestPostgres::start();
    let engine = Arc::new(open(&pg.url()));
    let store = Store::new(engine.clone()).unwrap();
    store.write(|t| t.put(b"k", b"v")).await.unwrap();
    let snap = engine.snapshot().unwrap();
    assert_eq!(snap.get(b"k").unwrap(), Some(b"v".to_vec()));
    let mut txn = engine.begin().unwrap();
    txn.put(b"k2", b"v2").unwrap();
    txn.commit().unwrap();
    assert_eq!(
        snap.get(b"k2").unwrap(),
        None,
        "the snapshot keeps its point in time"
    );
    drop(snap);
    drop(store);
    drop(engine);
}

/// A read waiting for the server on a worker of a multi-threaded runtime does not stall the worker's other tasks:
/// with one worker, a task that only sleeps 50 ms finishes while another task's read waits (here 1 s, for a write
/// transaction that cannot start until another one ends), not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_waiting_call_leaves_the_workers_other_tasks_running() {
    let pg = TestPostgres::start();
    let engine = Arc::new(open(&pg.url()));
    // Holds the writers' lock for a second, from a thread of its own.
    let (held, holding) = std::sync::mpsc::channel();
    let holder = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let mut txn = engine.begin().unwrap();
            txn.get(b"k").unwrap();
            held.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(1));
            txn.put(b"k", b"held").unwrap();
            txn.commit().unwrap();
        })
    };
    holding.recv().unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let waiting = {
        let (engine, order) = (engine.clone(), order.clone());
        tokio::spawn(async move {
            let mut txn = engine.begin().unwrap();
            let seen = txn.get(b"k").unwrap();
            order.lock().unwrap().push("read");
            seen
        })
    };
    let sleeper = {
        let order = order.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            order.lock().unwrap().push("slept");
        })
    };
    assert_eq!(waiting.await.unwrap(), Some(b"held".to_vec()));
    sleeper.await.unwrap();
    holder.join().unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        vec!["slept", "read"],
        "the sleeping task ran while the read waited"
    );
    // A reader and a snapshot from a worker too.
    let reader = tokio::spawn({
        let engine = engine.clone();
        async move {
            let r = engine.reader().unwrap().get_many(&[b"k", b"none"]).unwrap();
            let s = engine.snapshot().unwrap().get(b"k").unwrap();
            (r, s)
        }
    });
    assert_eq!(
        reader.await.unwrap(),
        (vec![Some(b"held".to_vec()), None], Some(b"held".to_vec()))
    );
}

/// A long snapshot holds its point in time while another node commits many writes.
#[test]
fn a_snapshot_is_one_instant_across_nodes() {
    let pg = TestPostgres::start();
    let a = Store::new(Arc::new(open(&pg.url()))).unwrap();
    let b = Store::new(Arc::new(open(&pg.url()))).unwrap();
    a.write_blocking(|t| {
        for i in 0..100u32 {
            t.put(format!("k{i:03}").as_bytes(), b"old")?;
        }
        Ok::<_, StoreError>(())
    })
    .unwrap();
    let snap = a.snapshot().unwrap();
    // The snapshot's instant is fixed by its first read (its `BEGIN` travels with it); this engine's own commits
    // wait for that, another node's cannot know of it.
    assert_eq!(snap.get(b"k000").unwrap(), Some(b"old".to_vec()));
    for i in 0..100u32 {
        b.write_blocking(move |t| t.put(format!("k{i:03}").as_bytes(), b"new"))
            .unwrap();
    }
    let seen = snap.scan(b"k", b"l", 1000).unwrap();
    assert_eq!(seen.len(), 100);
    assert!(
        seen.iter().all(|(_, v)| v == b"old"),
        "no write of the other node is visible"
    );
    assert_eq!(
        a.snapshot().unwrap().get(b"k050").unwrap(),
        Some(b"new".to_vec())
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let pg = TestPostgres::start();
    drop(open(&pg.url()));
    assert_eq!(
        pg.psql("SELECT version FROM keyhaven_schema"),
        SCHEMA_VERSION.to_string()
    );
    // Opening again is a no-op migration.
    drop(open(&pg.url()));
    pg.psql("UPDATE keyhaven_schema SET version = 99");
    match PostgresEngine::open(&pg.url()) {
        Err(e @ PostgresError::SchemaTooNew { found: 99, .. }) => {
            assert!(
                e.to_string().contains("newer than this Keyhaven supports"),
                "{e}"
            )
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

/// A database of schema 1 (before leases) is brought to the current version when a node opens it.
#[test]
fn an_older_schema_is_migrated() {
    let pg = TestPostgres::start();
    drop(open(&pg.url()));
    pg.psql("DROP TABLE keyhaven_leases; UPDATE keyhaven_schema SET version = 1");
    let store = Store::new(Arc::new(open(&pg.url()))).unwrap();
    assert_eq!(
        pg.psql("SELECT version FROM keyhaven_schema"),
        SCHEMA_VERSION.to_string()
    );
    let lease = store
        .try_lease("maintenance", Duration::from_secs(30))
        .unwrap();
    assert!(lease.is_some_and(|l| l.is_held()));
}

/// Leases exclude across two nodes (two engines on one database), and a released lease's row is gone.
#[test]
fn leases_exclude_across_nodes() {
    let pg = TestPostgres::start();
    keyhaven_store::conformance::leases_exclude_across_nodes(
        Arc::new(open(&pg.url())),
        Arc::new(open(&pg.url())),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pg.psql("SELECT count(*) FROM keyhaven_leases") != "0" {
        assert!(
            Instant::now() < deadline,
            "dropped leases release their rows"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A node that dies holding a lease (its engine gone without releasing it) keeps it only for its time to live:
/// another node is refused until then and granted after; a lease is kept alive well beyond its time to live
/// while its holder lives.
#[test]
fn a_dead_nodes_lease_lapses_after_its_time_to_live() {
    let pg = TestPostgres::start();
    let ttl = Duration::from_secs(2);
    let alive = Store::new(Arc::new(open(&pg.url()))).unwrap();
    let kept = alive.try_lease("kept", ttl).unwrap().unwrap();

    let dying = Arc::new(open(&pg.url()));
    let orphan = dying.try_lease("orphan", ttl).unwrap().unwrap();
    let taken_at = Instant::now();
    // The node dies: its runtime is gone, nothing releases or renews the row.
    drop(dying);
    assert!(
        alive.try_lease("orphan", ttl).unwrap().is_none(),
        "refused while the dead holder's time to live runs"
    );
    let other = loop {
        if let Some(l) = alive.try_lease("orphan", ttl).unwrap() {
            break l;
        }
        assert!(taken_at.elapsed() < Duration::from_secs(10), "never lapsed");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        taken_at.elapsed() >= ttl,
        "not before the time to live ran out ({:?})",
        taken_at.elapsed()
    );
    assert!(other.is_held());
    assert!(!orphan.is_held(), "the dead holder's lease reads as lost");

    // Meanwhile the living holder renewed its lease: no one else can take it.
    let other_node = Store::new(Arc::new(open(&pg.url()))).unwrap();
    assert!(kept.is_held());
    assert!(other_node.try_lease("kept", ttl).unwrap().is_none());
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let pg = TestPostgres::start();
    let url = pg.url();
    drop(pg);
    let url = PostgresUrl::parse(&url).unwrap();
    let t = Instant::now();
    match PostgresEngine::open_with(url, PostgresOptions::default()) {
        Err(e @ PostgresError::Unreachable(_)) => {
            assert!(e.to_string().contains("127.0.0.1"), "{e}")
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("nothing listens there"),
    }
    assert!(t.elapsed() < Duration::from_secs(10));
}

fn wait_for_mode(engine: &PostgresEngine, mode: EngineMode, within: Duration) -> Duration {
    let t = Instant::now();
    while engine.mode() != mode {
        assert!(
            t.elapsed() < within,
            "the engine did not become {mode:?} within {within:?} (on {})",
            engine.current_host()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

fn write_keys(s: &Store, from: u32, to: u32) -> Result<(), StoreError> {
    for i in from..to {
        s.write_blocking(move |t| t.put(format!("f{i:04}").as_bytes(), &i.to_le_bytes()))?;
    }
    Ok(())
}

/// Primary and streaming standby (synchronous replication, so every acknowledged write is on the standby); the
/// engine names both. The primary dies: the same engine moves to the standby, serves reads and refuses writes
/// with `ReadOnly`; the standby is promoted: writes succeed again. No acknowledged write is missing.
#[test]
fn fails_over_to_a_standby_read_only_then_back_to_read_write_on_promotion() {
    let mut primary = TestPostgres::start();
    let standby = primary.start_standby();
    primary.wait_for_standby();
    primary.set("synchronous_standby_names", "*");
    primary.set("synchronous_commit", "remote_apply");
    let url = TestPostgres::multi_host_url(&[&primary, &standby]);
    let engine = Arc::new(
        PostgresEngine::open_with(PostgresUrl::parse(&url).unwrap(), quick_failover()).unwrap(),
    );
    assert_eq!(engine.mode(), EngineMode::ReadWrite);
    assert!(engine.current_host().ends_with(&primary.port().to_string()));
    let store = Store::new(engine.clone()).unwrap();
    write_keys(&store, 0, 50).unwrap();
    let long_snapshot = store.snapshot().unwrap();
    assert_eq!(long_snapshot.scan(b"f", b"g", 1000).unwrap().len(), 50);
    // Point reads through the shared reader connections (opened on the primary).
    let point = |key: &[u8]| store.reader().unwrap().get_many(&[key]).unwrap().remove(0);
    assert_eq!(point(b"f0007"), Some(7u32.to_le_bytes().to_vec()));

    primary.stop_immediate();
    let moved = wait_for_mode(&engine, EngineMode::ReadOnly, Duration::from_secs(10));
    println!("read-only on the standby {moved:?} after the primary stopped");
    assert!(engine.current_host().ends_with(&standby.port().to_string()));
    // Reads are served by the standby with every acknowledged write.
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.scan(b"f", b"g", 1000).unwrap().len(), 50);
    assert_eq!(
        snap.get(b"f0049").unwrap(),
        Some(49u32.to_le_bytes().to_vec())
    );
    drop(snap);
    // So are point reads: the readers' connections move to the standby without an error.
    assert_eq!(point(b"f0048"), Some(48u32.to_le_bytes().to_vec()));
    // Writes are refused as read-only, never as a generic failure.
    for _ in 0..3 {
        match store.write_blocking(|t| t.put(b"refused", b"x")) {
            Err(StoreError::ReadOnly) => {}
            other => panic!("a write on a standby must fail with ReadOnly, got {other:?}"),
        }
        match store.write_blocking(|t| {
            t.get(b"f0001")?;
            t.put(b"refused", b"x")
        }) {
            Err(StoreError::ReadOnly) => {}
            other => {
                panic!("a read-modify-write on a standby must fail with ReadOnly, got {other:?}")
            }
        }
    }
    // Nothing can be leased on a standby (nothing that needs a lease could write there).
    assert!(matches!(
        store.try_lease("maintenance", Duration::from_secs(5)),
        Err(StoreError::ReadOnly)
    ));
    // A snapshot taken before the failover was on the dead primary: it fails, as unavailability.
    assert!(matches!(
        long_snapshot.get(b"f0001"),
        Err(StoreError::Unavailable(_))
    ));

    standby.promote();
    let back = wait_for_mode(&engine, EngineMode::ReadWrite, Duration::from_secs(10));
    println!("read-write {back:?} after the promotion");
    write_keys(&store, 50, 80).unwrap();
    assert!(store
        .try_lease("maintenance", Duration::from_secs(5))
        .unwrap()
        .is_some());
    let all = store.snapshot().unwrap().scan(b"f", b"g", 1000).unwrap();
    assert_eq!(
        all.len(),
        80,
        "every acknowledged write, before and after the failover"
    );
    assert_eq!(store.snapshot().unwrap().get(b"refused").unwrap(), None);
    drop(long_snapshot);
}

/// An engine opened when only a standby answers starts read-only, and becomes read-write when it is promoted.
#[test]
fn opens_read_only_on_a_standby() {
    let primary = TestPostgres::start();
    drop(open(&primary.url()));
    let standby = primary.start_standby();
    primary.wait_for_standby();
    primary.psql("INSERT INTO keyhaven_kv VALUES ('\\x01', '\\x02')");
    standby.wait_until("replay", "SELECT count(*) FROM keyhaven_kv", "1");
    let engine = Arc::new(
        PostgresEngine::open_with(
            PostgresUrl::parse(&standby.url()).unwrap(),
            quick_failover(),
        )
        .unwrap(),
    );
    assert_eq!(engine.mode(), EngineMode::ReadOnly);
    let store = Store::new(engine.clone()).unwrap();
    assert_eq!(store.snapshot().unwrap().get(&[1]).unwrap(), Some(vec![2]));
    assert!(matches!(
        store.write_blocking(|t| t.put(b"x", b"y")),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        store.write_exclusive_blocking(|t| t.put(b"x", b"y")),
        Err(StoreError::ReadOnly)
    ));
}
