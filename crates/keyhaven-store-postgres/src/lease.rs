//! Leases across nodes (see `keyhaven_store::lease`), as rows of `keyhaven_leases`: `name`, the `holder` that has
//! it (a node and a number, unique per lease taken) and `expires_at`, on the server's clock.
//!
//! - **Taking** is one statement: insert the row, or take over one whose `expires_at` has passed; a live row of
//!   another holder leaves it untouched and nothing is returned.
//! - **Keeping**: a task on the engine's runtime moves `expires_at` to `ttl` from now every `ttl / 3`. The lease
//!   counts as held locally until `ttl` after the last renewal was sent (a renewal that finds the row gone or
//!   another holder's ends it at once), so a holder stops thinking it holds a lease no later than the row can
//!   be taken over by another node.
//! - **Releasing**: dropping the lease deletes its row (waiting up to two seconds for it; a crashed node's rows
//!   lapse after `ttl`).
//!
//! These statements do not take the writers' lock: they touch no store entry. They run on one connection of
//! their own, opened to the current server; a hot standby refuses them ([`StoreError::ReadOnly`]).

use crate::conn::{self, Role};
use crate::shared::{request, Failed, Inner, Shared};
use keyhaven_store::{Lease, LeaseHold, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_postgres::Client;

const TAKE: &str = "INSERT INTO keyhaven_leases AS l (name, holder, expires_at) \
     VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE l.expires_at < clock_timestamp() \
     RETURNING l.holder";
const RENEW: &str = "UPDATE keyhaven_leases \
     SET expires_at = clock_timestamp() + make_interval(secs => $3) \
     WHERE name = $1 AND holder = $2";
const RELEASE: &str = "DELETE FROM keyhaven_leases WHERE name = $1 AND holder = $2";

/// A connection to the current server for lease statements; `ReadOnly` on a standby.
async fn client(shared: &Shared) -> Result<Arc<Client>, StoreError> {
    let choice = shared.target.current();
    if choice.role == Role::Standby {
        return Err(StoreError::ReadOnly);
    }
    let mut slot = shared.leases.lock().await;
    if let Some((generation, c)) = slot.as_ref() {
        if *generation == choice.generation && !c.is_closed() {
            return Ok(c.clone());
        }
    }
    *slot = None;
    let (c, role) = conn::open(&shared.url, choice.host, shared.options.connect_timeout).await?;
    shared.target.observe(choice.host, role);
    if role == Role::Standby {
        return Err(StoreError::ReadOnly);
    }
    let c = Arc::new(c);
    *slot = Some((choice.generation, c.clone()));
    Ok(c)
}

/// The three lease statements.
#[derive(Clone, Copy)]
enum Op {
    Take,
    Renew,
    Release,
}

/// Runs one lease statement and returns how many rows it took, renewed or released; a broken connection is
/// forgotten and wakes the failover watcher.
async fn execute(
    shared: &Shared,
    op: Op,
    name: &str,
    holder: &str,
    ttl: Duration,
    limit: Duration,
) -> Result<u64, StoreError> {
    let c = client(shared).await?;
    let secs = ttl.as_secs_f64();
    let outcome = match op {
        Op::Take => request(
            limit,
            "taking a lease",
            c.query_opt(TAKE, &[&name, &holder, &secs]),
        )
        .await
        .map(|row| u64::from(row.is_some())),
        Op::Renew => {
            request(
                limit,
                "renewing a lease",
                c.execute(RENEW, &[&name, &holder, &secs]),
            )
            .await
        }
        Op::Release => {
            request(
                limit,
                "releasing a lease",
                c.execute(RELEASE, &[&name, &holder]),
            )
            .await
        }
    };
    outcome.map_err(|f: Failed| {
        if f.broken {
            shared.target.poke.notify_one();
        }
        f.error
    })
}

/// What a held lease shares with the task that keeps it.
struct HoldState {
    lost: AtomicBool,
    /// Held locally until then: `ttl` after the last successful renewal (or the taking) was sent.
    until: Mutex<Instant>,
}

impl HoldState {
    fn until(&self) -> Instant {
        match self.until.lock() {
            Ok(u) => *u,
            Err(p) => *p.into_inner(),
        }
    }

    fn extend(&self, to: Instant) {
        if let Ok(mut u) = self.until.lock() {
            *u = to;
        }
    }
}

struct PgHold {
    state: Arc<HoldState>,
    stop: Arc<Notify>,
    /// Closed when the keeping task has ended (after releasing the row, or when the engine shut down).
    ended: Mutex<std::sync::mpsc::Receiver<()>>,
}

/// How long dropping a lease waits for its row to be released (so that a node stopping cleanly hands its leases
/// on at once).
const RELEASE_WAIT: Duration = Duration::from_secs(2);

impl LeaseHold for PgHold {
    fn is_held(&self) -> bool {
        !self.state.lost.load(Ordering::Acquire) && Instant::now() < self.state.until()
    }
}

impl Drop for PgHold {
    fn drop(&mut self) {
        // Stored as a permit if the task is between two waits: it releases the row and ends.
        self.stop.notify_one();
        if let Ok(ended) = self.ended.lock() {
            let _ = ended.recv_timeout(RELEASE_WAIT);
        }
    }
}

/// Takes the lease `name` for `ttl`; see the module documentation.
pub(crate) fn try_take(
    inner: &Inner,
    name: &str,
    ttl: Duration,
) -> Result<Option<Lease>, StoreError> {
    let ttl = ttl.max(Duration::from_millis(300));
    let holder = format!(
        "{}#{}",
        inner.shared.node,
        inner.shared.lease_seq.fetch_add(1, Ordering::Relaxed)
    );
    let shared = inner.shared.clone();
    let sent = Instant::now();
    let (n, h) = (name.to_string(), holder.clone());
    let taken = inner.bridge.run(async move {
        let limit = shared.options.request_timeout.min(ttl);
        execute(&shared, Op::Take, &n, &h, ttl, limit).await
    })??;
    if taken == 0 {
        return Ok(None);
    }
    let state = Arc::new(HoldState {
        lost: AtomicBool::new(false),
        until: Mutex::new(sent + ttl),
    });
    let stop = Arc::new(Notify::new());
    let (ending, ended) = std::sync::mpsc::channel::<()>();
    let task = keep(
        inner.shared.clone(),
        name.to_string(),
        holder,
        ttl,
        state.clone(),
        stop.clone(),
    );
    inner.bridge.spawn(async move {
        task.await;
        drop(ending);
    });
    Ok(Some(Lease::new(
        name,
        Box::new(PgHold {
            state,
            stop,
            ended: Mutex::new(ended),
        }),
    )))
}

/// Renews the lease every `ttl / 3` until it is dropped (then releases it) or lost.
async fn keep(
    shared: Arc<Shared>,
    name: String,
    holder: String,
    ttl: Duration,
    state: Arc<HoldState>,
    stop: Arc<Notify>,
) {
    let every = ttl / 3;
    loop {
        tokio::select! {
            _ = stop.notified() => {
                let _ = execute(&shared, Op::Release, &name, &holder, ttl, every).await;
                return;
            }
            _ = tokio::time::sleep(every) => {}
        }
        let sent = Instant::now();
        match execute(&shared, Op::Renew, &name, &holder, ttl, every).await {
            Ok(1) => state.extend(sent + ttl),
            Ok(_) => {
                state.lost.store(true, Ordering::Release);
                tracing::warn!(lease = %name, "a lease was taken over by another node");
                return;
            }
            Err(e) if Instant::now() >= state.until() => {
                state.lost.store(true, Ordering::Release);
                tracing::warn!(lease = %name, error = %e, "a lease could not be renewed in time and is lost");
                return;
            }
            Err(_) => {}
        }
    }
}

/// This process, as lease holders name it: host name, process id and start time.
pub(crate) fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{host}/{}/{started:x}", std::process::id())
}
