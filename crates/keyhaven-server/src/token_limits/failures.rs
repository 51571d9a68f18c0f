//! Failed token requests, counted per (client id, source) and per source in fixed windows: past a limit, the pair
//! or the source is locked out until its window ends. Bounded in memory: a full table first forgets ended windows,
//! then counts below their limit, and past that tracks nothing new (the verification bound still caps the work).

use keyhaven_crypto::MacKey;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a request is counted against: its source, its client id from that source (hashed: an attacker chooses
/// client ids, the table keeps 32 bytes per entry whatever their length).
#[derive(Clone, Copy)]
pub(crate) struct Subject {
    pair: [u8; 32],
    source: Source,
}

/// A source address as limits count it: an IPv4 address, or an IPv6 /64 (one host often holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4([u8; 4]),
    V6([u8; 8]),
    Unknown,
}

impl Source {
    pub fn of(ip: Option<IpAddr>) -> Source {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => Source::V4(v4.octets()),
            Some(IpAddr::V6(v6)) => {
                let o = v6.octets();
                Source::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
            }
            None => Source::Unknown,
        }
    }

    /// A fixed-length encoding (kind, then address bytes).
    fn encode(self) -> [u8; 9] {
        let mut out = [0u8; 9];
        match self {
            Source::V4(a) => {
                out[0] = 4;
                out[1..5].copy_from_slice(&a);
            }
            Source::V6(a) => {
                out[0] = 6;
                out[1..].copy_from_slice(&a);
            }
            Source::Unknown => {}
        }
        out
    }
}

/// Why a request is refused before its secret is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lockout {
    /// Too many failures for this client id from this source.
    Client { retry_after_secs: u64 },
    /// Too many failures from this source, whatever the client ids.
    Source { retry_after_secs: u64 },
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// One table of windows with its limit.
struct Table<K> {
    limit: u32,
    capacity: usize,
    windows: HashMap<K, Window>,
}

impl<K: Hash + Eq> Table<K> {
    fn new(limit: u32, capacity: usize) -> Self {
        Table {
            limit,
            capacity,
            windows: HashMap::new(),
        }
    }

    /// Seconds until `key`'s window ends, if it is locked out now.
    fn locked(&self, key: &K, now: Instant, window: Duration) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let w = self.windows.get(key)?;
        let elapsed = now.saturating_duration_since(w.started);
        (elapsed < window && w.failures >= self.limit)
            .then(|| (window - elapsed).as_secs_f64().ceil().max(1.0) as u64)
    }

    fn fail(&mut self, key: K, now: Instant, window: Duration) {
        if self.limit == 0 {
            return;
        }
        if !self.windows.contains_key(&key) && !self.make_room(now, window) {
            return;
        }
        let w = self.windows.entry(key).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.saturating_duration_since(w.started) >= window {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
    }

    /// Whether a new entry fits, after forgetting what least needs remembering.
    fn make_room(&mut self, now: Instant, window: Duration) -> bool {
        if self.windows.len() < self.capacity {
            return true;
        }
        self.windows
            .retain(|_, w| now.saturating_duration_since(w.started) < window);
        if self.windows.len() >= self.capacity {
            let limit = self.limit;
            self.windows.retain(|_, w| w.failures >= limit);
        }
        self.windows.len() < self.capacity
    }
}

struct Tables {
    pairs: Table<[u8; 32]>,
    sources: Table<Source>,
}

/// Failed token requests per (client id, source) and per source.
pub(crate) struct Failures {
    window: Duration,
    /// Keys the pair hash (so that stored keys say nothing about the client ids tried).
    key: MacKey,
    tables: Mutex<Tables>,
}

impl Failures {
    /// `pair_limit` failures per client id and source, `source_limit` per source, in each `window` (0: no limit);
    /// at most `capacity` entries in each table.
    pub fn new(
        pair_limit: u32,
        source_limit: u32,
        window: Duration,
        capacity: usize,
        key: MacKey,
    ) -> Self {
        Failures {
            window,
            key,
            tables: Mutex::new(Tables {
                pairs: Table::new(pair_limit, capacity),
                sources: Table::new(source_limit, capacity),
            }),
        }
    }

    pub fn subject(&self, client_id: &str, source: Source) -> Subject {
        Subject {
            pair: self.key.tag(&[
                &source.encode(),
                &(client_id.len() as u64).to_be_bytes(),
                client_id.as_bytes(),
            ]),
            source,
        }
    }

    /// Whether the subject is locked out now (the source first: it covers every client id).
    pub fn check(&self, s: &Subject) -> Result<(), Lockout> {
        let now = Instant::now();
        let Ok(t) = self.tables.lock() else {
            return Ok(());
        };
        if let Some(secs) = t.sources.locked(&s.source, now, self.window) {
            return Err(Lockout::Source {
                retry_after_secs: secs,
            });
        }
        if let Some(secs) = t.pairs.locked(&s.pair, now, self.window) {
            return Err(Lockout::Client {
                retry_after_secs: secs,
            });
        }
        Ok(())
    }

    /// Counts a failed attempt against the pair and the source.
    pub fn failed(&self, s: &Subject) {
        let now = Instant::now();
        if let Ok(mut t) = self.tables.lock() {
            t.pairs.fail(s.pair, now, self.window);
            t.sources.fail(s.source, now, self.window);
        }
    }

    /// A success clears the pair's count (not the source's: one valid credential must not let a source keep
    /// guessing others').
    pub fn succeeded(&self, s: &Subject) {
        if let Ok(mut t) = self.tables.lock() {
            t.pairs.windows.remove(&s.pair);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        self.tables
            .lock()
            .map(|t| (t.pairs.windows.len(), t.sources.windows.len()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Source {
        Source::of(Some(s.parse().unwrap()))
    }

    fn failures(pair: u32, source: u32, window_ms: u64, capacity: usize) -> Failures {
        Failures::new(
            pair,
            source,
            Duration::from_millis(window_ms),
            capacity,
            MacKey::new(b"k"),
        )
    }

    #[test]
    fn per_pair_then_per_source() {
        let f = failures(3, 5, 60_000, 100);
        let a = f.subject("client-a", ip("10.0.0.1"));
        let a_elsewhere = f.subject("client-a", ip("10.0.0.2"));
        for _ in 0..3 {
            assert!(f.check(&a).is_ok());
            f.failed(&a);
        }
        assert!(
            matches!(f.check(&a), Err(Lockout::Client { retry_after_secs }) if (1..=60).contains(&retry_after_secs))
        );
        assert!(
            f.check(&a_elsewhere).is_ok(),
            "another source is not locked out"
        );
        f.succeeded(&a_elsewhere);
        assert!(
            f.check(&a).is_err(),
            "its success clears nothing of another source"
        );
        // Two more failures from the first source, with other client ids: the source is locked out.
        f.failed(&f.subject("b", ip("10.0.0.1")));
        assert!(f.check(&f.subject("c", ip("10.0.0.1"))).is_ok());
        f.failed(&f.subject("c", ip("10.0.0.1")));
        assert!(matches!(
            f.check(&f.subject("d", ip("10.0.0.1"))),
            Err(Lockout::Source { .. })
        ));
        f.succeeded(&a);
        assert!(
            matches!(f.check(&a), Err(Lockout::Source { .. })),
            "a success does not clear its source's count"
        );
    }

    #[test]
    fn windows_end() {
        let f = failures(1, 0, 50, 100);
        let a = f.subject("a", ip("127.0.0.1"));
        f.failed(&a);
        assert!(f.check(&a).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(f.check(&a).is_ok());
        f.failed(&a);
        assert!(f.check(&a).is_err(), "a new window counts afresh");
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::2"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:10.0.0.1"), ip("10.0.0.1"));
    }

    #[test]
    fn memory_is_bounded_and_lockouts_survive_a_spray() {
        let f = failures(2, 0, 60_000, 64);
        let victim = f.subject("victim", ip("10.0.0.1"));
        f.failed(&victim);
        f.failed(&victim);
        for i in 0..10_000 {
            f.failed(&f.subject(&format!("random-{i}"), ip("10.0.0.1")));
        }
        let (pairs, sources) = f.tracked();
        assert!(pairs <= 64, "{pairs}");
        assert_eq!(sources, 0, "no per-source limit, nothing tracked");
        assert!(f.check(&victim).is_err(), "a locked-out pair is kept");
    }
}
