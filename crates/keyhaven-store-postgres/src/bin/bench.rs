//! Measures the PostgreSQL engine against the database at the URL given as the only argument (bench/postgres.sh
//! starts a throwaway server): the raw round trip of one prepared point read, snapshot point reads per second,
//! and grouped write commits per second through the store's committer.

use keyhaven_store::{Engine, EngineTxn, Entry, Snapshot, Store, StoreError};
use keyhaven_store_postgres::{PostgresEngine, PostgresOptions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// An engine that counts its commits (to tell writes from group commits).
struct Counting {
    engine: PostgresEngine,
    commits: Arc<AtomicU64>,
}

struct CountingTxn<'a> {
    txn: Box<dyn EngineTxn + 'a>,
    commits: Arc<AtomicU64>,
}

impl EngineTxn for CountingTxn<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.txn.get(key)
    }
    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.txn.scan(start, end, limit)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.txn.put(key, value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.txn.delete(key)
    }
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.txn.commit()?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Engine for Counting {
    fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        self.engine.snapshot()
    }
    fn begin(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        Ok(Box::new(CountingTxn {
            txn: self.engine.begin()?,
            commits: self.commits.clone(),
        }))
    }
    fn name(&self) -> &'static str {
        "counting"
    }
}

const KEYS: u32 = 10_000;
const RUN: Duration = Duration::from_secs(3);

fn key(i: u32) -> Vec<u8> {
    format!("bench/{i:08}").into_bytes()
}

/// Point reads through `threads` threads for [`RUN`]: each read takes a snapshot, gets one key, drops it.
fn point_reads(store: &Arc<Store>, threads: u32) -> Result<f64, Failure> {
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || -> Result<u64, StoreError> {
                let mut n = 0u64;
                let mut i = t * 7919;
                while start.elapsed() < RUN {
                    i = (i + 7919) % KEYS;
                    let snap = store.snapshot()?;
                    if snap.get(&key(i))?.is_none() {
                        return Err(StoreError::corrupt("a loaded key is missing"));
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.join().map_err(|_| "a reader panicked")??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Writers on `threads` threads for [`RUN`], each putting one 200-byte value per write: (writes/s, commits/s).
fn grouped_writes(
    store: &Arc<Store>,
    commits: &AtomicU64,
    threads: u32,
) -> Result<(f64, f64), Failure> {
    let before = commits.load(Ordering::Relaxed);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || -> Result<u64, StoreError> {
                let mut n = 0u64;
                while start.elapsed() < RUN {
                    let k = format!("w/{t:03}/{n:08}").into_bytes();
                    store.write_blocking(move |w| w.put(&k, &[7u8; 200]))?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.join().map_err(|_| "a writer panicked")??;
    }
    let secs = start.elapsed().as_secs_f64();
    let groups = commits.load(Ordering::Relaxed) - before;
    Ok((total as f64 / secs, groups as f64 / secs))
}

/// The round trip of one prepared point read on a plain connection, for comparison.
fn raw_round_trip(url: &str) -> Result<Duration, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = url.to_string();
    rt.block_on(async move {
        let stream = tokio::net::TcpStream::connect(host_port(&url)).await?;
        stream.set_nodelay(true)?;
        let config: tokio_postgres::Config = url.parse()?;
        let (client, conn) = config.connect_raw(stream, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let st = client
            .prepare("SELECT v FROM keyhaven_kv WHERE k = $1")
            .await?;
        let k = key(1);
        let n = 5_000u32;
        let t = Instant::now();
        for _ in 0..n {
            client.query_opt(&st, &[&k]).await?;
        }
        let one = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            let begin =
                client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1");
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&k];
            let get = client.query_opt(&st, &params);
            let end = client.batch_execute("ROLLBACK");
            let (a, b, c) = tokio::join!(begin, get, end);
            a?;
            b?;
            c?;
        }
        println!(
            "raw pipelined BEGIN; SELECT 1 + point read + ROLLBACK on one connection: {:.0} µs",
            (t.elapsed() / n).as_secs_f64() * 1e6
        );
        Ok::<_, Failure>(one)
    })
}

/// Where one snapshot point read's time goes, on one thread.
fn breakdown(store: &Store) -> Result<String, Failure> {
    let n = 2_000u32;
    let t = Instant::now();
    for _ in 0..n {
        drop(store.snapshot()?);
    }
    let take_and_drop = t.elapsed() / n;
    let snap = store.snapshot()?;
    snap.get(&key(0))?;
    let t = Instant::now();
    for i in 0..n {
        snap.get(&key(i % KEYS))?;
    }
    let later_read = t.elapsed() / n;
    drop(snap);
    let t = Instant::now();
    for i in 0..n {
        let snap = store.snapshot()?;
        snap.get(&key(i % KEYS))?;
        drop(snap);
    }
    let first_read = t.elapsed() / n;
    Ok(format!(
        "one thread: snapshot taken and dropped unread {:.0} µs; snapshot + first read {:.0} µs; \
         a later read on an open snapshot {:.0} µs",
        take_and_drop.as_secs_f64() * 1e6,
        first_read.as_secs_f64() * 1e6,
        later_read.as_secs_f64() * 1e6
    ))
}

fn host_port(url: &str) -> String {
    let rest = url.split('@').nth(1).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_string()
}

fn main() -> Result<(), Failure> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: keyhaven-pg-bench postgres://user@host:port/db")?;
    let commits = Arc::new(AtomicU64::new(0));
    let engine = Counting {
        engine: PostgresEngine::open_with(
            url.parse()?,
            keyhaven_store_postgres::PostgresOptions {
                threads: std::env::var("KEYHAVEN_PG_THREADS")
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(PostgresOptions::default().threads),
                ..PostgresOptions::default()
            },
        )?,
        commits: commits.clone(),
    };
    let store = Arc::new(Store::new(Arc::new(engine))?);
    for chunk in 0..(KEYS / 1000) {
        store.write_blocking(move |w| {
            for i in chunk * 1000..(chunk + 1) * 1000 {
                w.put(&key(i), &[1u8; 200])?;
            }
            Ok::<_, StoreError>(())
        })?;
    }
    let rtt = raw_round_trip(&url)?;
    println!(
        "raw prepared point read (one round trip): {:.0} µs",
        rtt.as_secs_f64() * 1e6
    );
    let breakdown = breakdown(&store)?;
    println!("{breakdown}");
    for threads in [1, 4, 16] {
        let rate = point_reads(&store, threads)?;
        println!(
            "snapshot + point read, {threads:2} threads: {rate:8.0} reads/s ({:.0} µs each per thread)",
            1e6 * threads as f64 / rate
        );
    }
    for threads in [1, 8, 64] {
        let (writes, groups) = grouped_writes(&store, &commits, threads)?;
        println!(
            "grouped writes, {threads:2} writers: {writes:8.0} writes/s in {groups:6.0} commits/s ({:.1} writes per commit)",
            writes / groups.max(1.0)
        );
    }
    Ok(())
}
