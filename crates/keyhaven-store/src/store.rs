use crate::overlay::Overlay;
use crate::{Engine, Entry, Lease, LocalLeases, Reader, Snapshot, StoreError, WriteTxn};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&mut dyn WriteTxn) -> Ran + Send>;
type Carried = (Arc<dyn crate::receipt::Receipt>, Vec<u8>);
/// A durable commit's receipt entry and the receipts whose parts it holds.
type Told = Option<(Vec<u8>, Vec<Arc<dyn crate::receipt::Receipt>>)>;

/// What running a write function gave: whether it succeeded (its writes are to be kept), what to do once the
/// commit is over, and the receipt part it carries (see [`crate::receipt`]).
struct Ran {
    ok: bool,
    done: Completion,
    receipt: Option<Carried>,
}

/// Work for the committer: a function to group with others, or one that runs alone.
enum Work {
    Grouped(Job),
    /// Runs in a transaction of its own, writing straight to the engine (no overlay, so its size is not held in
    /// memory by the store): for large all-or-nothing jobs such as a whole-vault restore. `deferred`: its commit
    /// may become durable only with a later one (see [`Engine::begin_deferred`]).
    Exclusive {
        job: Job,
        deferred: bool,
    },
}

/// Lets a function write straight to an engine transaction.
struct Direct<'a>(&'a mut dyn crate::EngineTxn);

impl WriteTxn for Direct<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn get_many(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.0.get_many(keys)
    }
    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.0.scan(start, end, limit)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.0.put(key, value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.0.delete(key)
    }
    fn put_many(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        self.0.put_many(entries)
    }
}

/// The most write functions one commit carries.
const MAX_GROUP: usize = 512;

/// A storage engine with group commit in front of it. See the crate documentation.
pub struct Store {
    engine: Arc<dyn Engine>,
    jobs: Mutex<Option<mpsc::Sender<Work>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
    /// Leases held through this store (exclusion within the process; the engine's across processes).
    leases: LocalLeases,
    /// Where receipt entries go.
    receipts: Arc<crate::receipt::Keys>,
}

impl Store {
    /// Puts group commit in front of `engine` and starts the committer thread (`keyhaven-committer`). Fails
    /// only if the thread cannot be started.
    pub fn new(engine: Arc<dyn Engine>) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Work>();
        let e = engine.clone();
        let receipts = Arc::new(crate::receipt::Keys::new());
        let r = receipts.clone();
        let handle = std::thread::Builder::new()
            .name("keyhaven-committer".into())
            .spawn(move || commit_loop(e, rx, r))
            .map_err(StoreError::unavailable)?;
        Ok(Store {
            engine,
            jobs: Mutex::new(Some(tx)),
            committer: Mutex::new(Some(handle)),
            leases: LocalLeases::default(),
            receipts,
        })
    }

    /// From now on, the receipts that writes carry ([`crate::receipt`]) are written, each commit's as one entry
    /// under `prefix` and a number that grows with every commit. Set once; later calls change nothing.
    pub fn keep_receipts_under(&self, prefix: Vec<u8>) {
        self.receipts.set_prefix(prefix);
    }

    /// The engine's short name ([`Engine::name`]), for logs and health output.
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Whether the engine accepts writes now (see [`Engine::mode`]).
    pub fn engine_mode(&self) -> crate::EngineMode {
        self.engine.mode()
    }

    /// Takes the lease `name` (see [`crate::lease`]) unless another holder has it, in this process or, through
    /// the engine ([`Engine::try_lease`]), in any other over the same data. `ttl`: how long the lease outlives a
    /// holder that vanished without releasing it. A blocking call (the engine may ask a server).
    pub fn try_lease(
        &self,
        name: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let Some(local) = self.leases.try_take(name) else {
            return Ok(None);
        };
        Ok(self
            .engine
            .try_lease(name, ttl)?
            .map(|lease| lease.also(local)))
    }

    /// A consistent point-in-time view.
    pub fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        self.engine.snapshot()
    }

    /// Point reads of the latest committed state, each call in one state but not all calls in the same one (see
    /// [`Reader`]); cheaper than a snapshot on some engines.
    pub fn reader(&self) -> Result<Box<dyn Reader>, StoreError> {
        self.engine.reader()
    }

    /// Runs `f` in a write transaction (grouped with concurrent writers) and hands its outcome to `deliver` once
    /// it is durable — or the error that kept it from being so. An `Err` from `f` discards all of `f`'s writes.
    pub fn submit<T, E, F, D>(&self, f: F, deliver: D)
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, E> + Send + 'static,
        D: FnOnce(Result<T, E>) + Send + 'static,
    {
        self.enqueue(None, f, deliver)
    }

    fn enqueue<T, E, F, D>(&self, exclusive: Option<bool>, f: F, deliver: D)
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, E> + Send + 'static,
        D: FnOnce(Result<T, E>) + Send + 'static,
    {
        // The task's receipt part, if it has one and receipts are kept, goes into the commit's receipt entry.
        let receipt = if self.receipts.kept() {
            crate::receipt::current()
        } else {
            None
        };
        let job: Job = Box::new(move |txn: &mut dyn WriteTxn| -> Ran {
            match f(txn) {
                Ok(t) => Ran {
                    ok: true,
                    done: Box::new(move |committed: Result<(), StoreError>| {
                        deliver(committed.map(|()| t).map_err(E::from))
                    }),
                    receipt,
                },
                Err(e) => Ran {
                    ok: false,
                    done: Box::new(move |_| deliver(Err(e))),
                    receipt: None,
                },
            }
        });
        let work = match exclusive {
            Some(deferred) => Work::Exclusive { job, deferred },
            None => Work::Grouped(job),
        };
        let sender = self.jobs.lock().ok().and_then(|g| g.clone());
        if let Some(s) = sender {
            // A send error means the committer has gone; the job (and `deliver`) is dropped, which the waiting
            // side reports as "not committed".
            let _ = s.send(work);
        }
    }

    /// [`Store::submit`] for async callers.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        });
        rx.await.unwrap_or_else(|_| {
            Err(E::from(StoreError::unavailable(
                "the write was not committed",
            )))
        })
    }

    /// [`Store::submit`] for synchronous callers (start-up, tools, tests).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.submit(f, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(E::from(StoreError::unavailable(
                "the write was not committed",
            )))
        })
    }

    /// Queues `f` to run alone in one transaction that writes straight to the engine (no overlay, so the store
    /// does not hold its writes in memory: for large all-or-nothing jobs such as a whole-vault restore) and hands
    /// its outcome to `deliver` once committed — durable unless `deferred` (then durable with the next
    /// durable commit, see [`Engine::begin_deferred`]). Jobs run in the order they are queued, so a caller may
    /// prepare its next job while this one commits.
    pub fn submit_exclusive<T, E, F, D>(&self, deferred: bool, f: F, deliver: D)
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, E> + Send + 'static,
        D: FnOnce(Result<T, E>) + Send + 'static,
    {
        self.enqueue(Some(deferred), f, deliver)
    }

    /// Runs `f` alone in one transaction that writes straight to the engine (see
    /// [`submit_exclusive`](Store::submit_exclusive)); all or nothing, like every write. Other writers wait while
    /// it runs.
    pub fn write_exclusive_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTxn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.enqueue(Some(false), f, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(E::from(StoreError::unavailable(
                "the write was not committed",
            )))
        })
    }

    /// Stops accepting writes, lets the committer finish what it holds, and waits for it.
    pub fn close(&self) {
        if let Ok(mut g) = self.jobs.lock() {
            g.take();
        }
        if let Some(h) = self.committer.lock().ok().and_then(|mut g| g.take()) {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn commit_loop(
    engine: Arc<dyn Engine>,
    rx: mpsc::Receiver<Work>,
    receipts: Arc<crate::receipt::Keys>,
) {
    let mut pending: Option<Work> = None;
    loop {
        let first = match pending.take() {
            Some(w) => w,
            None => match rx.recv() {
                Ok(w) => w,
                Err(_) => return,
            },
        };
        let mut group = match first {
            Work::Exclusive { job, deferred } => {
                commit_exclusive(&*engine, &receipts, job, deferred);
                continue;
            }
            Work::Grouped(job) => vec![job],
        };
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Work::Grouped(j)) => group.push(j),
                Ok(exclusive) => {
                    pending = Some(exclusive);
                    break;
                }
                Err(_) => break,
            }
        }
        commit_group(&*engine, &receipts, group);
    }
}

/// The receipt entry of a commit that takes `carried`, written in `txn`; returns what to tell each receipt once the
/// commit is durable.
fn write_receipts(
    txn: &mut dyn crate::EngineTxn,
    keys: &crate::receipt::Keys,
    carried: Vec<Carried>,
) -> Result<Told, StoreError> {
    if carried.is_empty() {
        return Ok(None);
    }
    let (holders, parts): (Vec<_>, Vec<_>) = carried.into_iter().unzip();
    let Some((key, value)) = keys.entry(&parts) else {
        return Ok(None);
    };
    txn.put(&key, &value)?;
    Ok(Some((key, holders)))
}

/// Tells the receipts of a durable commit where their parts are.
fn tell(receipts: Told) {
    if let Some((key, holders)) = receipts {
        for r in &holders {
            r.committed(&key, holders.len());
        }
    }
}

fn commit_exclusive(engine: &dyn Engine, keys: &crate::receipt::Keys, job: Job, deferred: bool) {
    let mut done: Option<Completion> = None;
    let mut told = None;
    let outcome = (|| -> Result<(), StoreError> {
        let mut txn = if deferred {
            engine.begin_deferred()?
        } else {
            engine.begin()?
        };
        let mut direct = Direct(&mut *txn);
        match catch_unwind(AssertUnwindSafe(|| job(&mut direct))) {
            Ok(Ran {
                ok: true,
                done: d,
                receipt,
            }) => {
                done = Some(d);
                told = write_receipts(&mut *txn, keys, receipt.into_iter().collect())?;
                txn.commit()
            }
            Ok(Ran { done: d, .. }) => {
                // Dropping the transaction rolls back whatever the function wrote.
                done = Some(d);
                Ok(())
            }
            Err(_) => {
                tracing::error!(
                    "an exclusive write function panicked; its transaction was rolled back"
                );
                Ok(())
            }
        }
    })();
    if outcome.is_ok() {
        tell(told);
    }
    if let Some(d) = done {
        d(outcome);
    }
}

fn commit_group(engine: &dyn Engine, keys: &crate::receipt::Keys, group: Vec<Job>) {
    let mut completions: Vec<Completion> = Vec::with_capacity(group.len());
    let mut told = None;
    let outcome = (|| -> Result<(), StoreError> {
        let mut txn = engine.begin()?;
        let mut carried = Vec::new();
        for job in group {
            let mut overlay = Overlay::new(&mut *txn);
            match catch_unwind(AssertUnwindSafe(|| job(&mut overlay))) {
                Ok(Ran {
                    ok: true,
                    done,
                    receipt,
                }) => {
                    overlay.apply()?;
                    completions.push(done);
                    carried.extend(receipt);
                }
                Ok(Ran { done, .. }) => completions.push(done),
                Err(_) => tracing::error!("a write function panicked; its writes were discarded"),
            }
        }
        told = write_receipts(&mut *txn, keys, carried)?;
        txn.commit()
    })();
    if let Err(e) = &outcome {
        tracing::error!(error = %e, writers = completions.len(), "group commit failed");
    } else {
        // Before the writers hear of it: a writer that is told its write is durable knows where its part is.
        tell(told);
    }
    for done in completions {
        done(outcome.clone());
    }
}
