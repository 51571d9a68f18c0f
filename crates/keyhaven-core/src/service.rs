use crate::records::{self, DeploymentRecord};
use crate::sealing::engine::{authenticate_earlier_records, AuthenticatedEngine};
use crate::sealing::Barrier;
use crate::{Error, Result};
use keyhaven_crypto::SealingKey;
use keyhaven_model::Clock;
use keyhaven_store::{Engine, Lease, Snapshot, Store};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Deployment-wide settings the domain needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Location → geography. Every vault has a location; backups are bound to its geography.
    pub locations: BTreeMap<String, String>,
    /// The location of vaults created without one.
    pub default_location: String,
    /// Soft-delete retention of vaults created without one (7–90 days).
    pub default_retention_days: u32,
    /// How whole-vault restores cut their writing pass into transactions.
    pub restore_batch: RestoreBatch,
    /// Seals after which a vault's data key is rotated automatically.
    pub vault_key_rotate_after: u64,
    /// How many expensive steps (RSA key generation and import, PKCS#12 parsing, opening a per-object backup) run
    /// at once, on blocking threads; more wait their turn. 0: one per available core.
    pub heavy_work_threads: usize,
}

/// The default of [`Settings::vault_key_rotate_after`]: 2^30 seals, a quarter of the 2^32 that NIST SP 800-38D
/// allows one AES-GCM key with random 96-bit nonces.
pub const VAULT_KEY_ROTATE_AFTER: u64 = 1 << 30;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            locations: [("local".to_string(), "local".to_string())].into(),
            default_location: "local".into(),
            default_retention_days: 90,
            restore_batch: RestoreBatch::default(),
            vault_key_rotate_after: VAULT_KEY_ROTATE_AFTER,
            heavy_work_threads: 0,
        }
    }
}

/// How a restore cuts its writing pass into transactions: a batch is written once it holds `bytes` of stream
/// records or `records` records. Bounds what the engine holds uncommitted; see [`Settings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoreBatch {
    /// Stream bytes after which a batch is written.
    pub bytes: usize,
    /// Records after which a batch is written.
    pub records: usize,
}

impl Default for RestoreBatch {
    fn default() -> Self {
        RestoreBatch {
            bytes: BATCH_BYTES,
            records: BATCH_RECORDS,
        }
    }
}

/// Stream bytes per pass-2 transaction: bounds what the engine holds uncommitted. At 1 MiB a batch's pages
/// (about twice its stream bytes) stay within the store's write buffer, and a batch commits in about the time the
/// reading thread takes to prepare the next (100,000 secrets × 3 versions restored over HTTPS into a new vault:
/// 2.2–2.3 s here, against 2.5–2.6 s with 4 MiB batches, and no faster with 256 KiB–2 MiB ones).
const BATCH_BYTES: usize = 1 << 20;
/// Records per pass-2 transaction (many small records). Each commit costs an fsync: with small secrets the byte
/// bound above should be the one that cuts (a 1 MiB batch of 250-byte records is about 4,000 of them).
const BATCH_RECORDS: usize = 32_768;

/// Records per transaction when authenticating an earlier store's records.
const CONVERSION_CHUNK: usize = 4096;

/// The identity of this installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// A UUID chosen at first start, or the exporter's once a geography export is imported. Backups are bound to
    /// it, as Azure binds them to a subscription: they restore only into a deployment of the same subscription.
    pub subscription_id: String,
    /// A UUID chosen at first start: the tenant the server's tokens are issued in.
    pub tenant_id: String,
}

/// What the store's records are, as the holder of the root key knows: every one authenticated, or written by a
/// version that did not authenticate them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredRecords {
    /// Every record carries its authentication: one that does not, or whose check fails, is refused.
    Authenticated,
    /// The store was written by a version that did not authenticate records: authenticate every record now,
    /// before serving (an interrupted conversion resumes at the next open). Only the root key's holder may say
    /// so; never inferred from the store, which whoever can write it could otherwise make look earlier.
    Earlier,
}

/// The domain service. Cheap to share behind an `Arc`; every method is one domain operation.
pub struct Keyhaven {
    pub(crate) store: Arc<Store>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Seals and opens everything secret the store keeps and authenticates its records (the one place).
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) settings: Settings,
    deployment: RwLock<Option<Deployment>>,
    /// Principals' roles and secrets, as requests need them.
    pub(crate) access: crate::caller_cache::AccessCache,
    /// Where expensive steps run (see [`crate::heavy`]).
    pub(crate) heavy: crate::heavy::HeavyWork,
    /// Each object's latest version when last read or written here (see [`crate::point_read`]).
    pub(crate) latest: crate::latest_hints::LatestHints,
}

impl Keyhaven {
    /// Opens the domain over `engine` (every record authenticated through the barrier, with group commit in
    /// front), creating the deployment identity and geography keys on first use. Returns whether this was the
    /// first start.
    pub fn open(
        engine: Arc<dyn Engine>,
        root: SealingKey,
        clock: Arc<dyn Clock>,
        settings: Settings,
        records: StoredRecords,
    ) -> Result<(Self, bool)> {
        if !settings.locations.contains_key(&settings.default_location) {
            return Err(Error::BadParameter(format!(
                "the default location '{}' is not in the locations table",
                settings.default_location
            )));
        }
        let barrier = Arc::new(Barrier::new(root)?);
        if records == StoredRecords::Earlier {
            let n = authenticate_earlier_records(&*engine, &barrier, CONVERSION_CHUNK)?;
            tracing::info!(
                records = n,
                "authenticated the records of a store written by an earlier version"
            );
        }
        let store = Arc::new(Store::new(Arc::new(AuthenticatedEngine::new(
            engine,
            barrier.clone(),
        )))?);
        let kh = Keyhaven {
            store,
            clock,
            barrier,
            heavy: crate::heavy::HeavyWork::new(settings.heavy_work_threads),
            latest: Default::default(),
            settings,
            deployment: RwLock::new(None),
            access: Default::default(),
        };
        let fresh = kh.ensure_deployment()?;
        let geographies: std::collections::BTreeSet<String> =
            kh.settings.locations.values().cloned().collect();
        for g in geographies {
            kh.ensure_geography(&g)?;
        }
        kh.convert_legacy_clients()?;
        kh.recover_interrupted_restores()?;
        Ok((kh, fresh))
    }

    fn ensure_deployment(&self) -> Result<bool> {
        if records::read::<DeploymentRecord>(&*self.snapshot()?, records::DEPLOYMENT_KEY)?.is_some()
        {
            return Ok(false);
        }
        let rec = DeploymentRecord {
            subscription_id: keyhaven_crypto::random_uuid()?,
            tenant_id: keyhaven_crypto::random_uuid()?,
            created: self.now(),
        };
        self.store.write_blocking(move |txn| {
            if records::read_txn::<DeploymentRecord>(txn, records::DEPLOYMENT_KEY)?.is_some() {
                return Ok(false);
            }
            records::write_txn(txn, records::DEPLOYMENT_KEY, &rec)?;
            Ok::<_, Error>(true)
        })
    }

    /// The subscription and tenant of this deployment.
    pub fn deployment(&self) -> Result<Deployment> {
        if let Some(d) = self.deployment.read().ok().and_then(|g| g.clone()) {
            return Ok(d);
        }
        let rec: DeploymentRecord = records::read(&*self.snapshot()?, records::DEPLOYMENT_KEY)?
            .ok_or_else(|| Error::corrupt("the deployment record is missing"))?;
        let d = Deployment {
            subscription_id: rec.subscription_id,
            tenant_id: rec.tenant_id,
        };
        if let Ok(mut g) = self.deployment.write() {
            *g = Some(d.clone());
        }
        Ok(d)
    }

    pub(crate) fn forget_deployment(&self) {
        if let Ok(mut g) = self.deployment.write() {
            *g = None;
        }
    }

    /// The current time from the domain's clock, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The clock the domain runs on (for work beside it that must agree on the time, such as job retention).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// A 256-bit key for `purpose` (e.g. keyed hashes of names in audit records), derived from the root key: the
    /// same on every node of the deployment.
    pub fn derived_key(&self, purpose: &str) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        self.barrier.derived_key(purpose)
    }

    /// The deployment-wide settings the domain was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Another view of the same domain (store, keys, clock) under other settings.
    #[cfg(test)]
    pub(crate) fn with_settings(&self, settings: Settings) -> Keyhaven {
        Keyhaven {
            store: self.store.clone(),
            clock: self.clock.clone(),
            barrier: self.barrier.clone(),
            heavy: crate::heavy::HeavyWork::new(settings.heavy_work_threads),
            latest: Default::default(),
            settings,
            deployment: RwLock::new(None),
            access: Default::default(),
        }
    }

    /// Takes the deployment-wide lease `name` unless another holder has it — in this process or on another node
    /// over the same store (see `keyhaven_store::lease`): for work that must run on one node at a time. `ttl`:
    /// how long it outlives a node that dies holding it. Refused with [`Error::ReadOnly`] during read-only
    /// failover. A blocking call.
    pub fn try_lease(&self, name: &str, ttl: std::time::Duration) -> Result<Option<Lease>> {
        Ok(self.store.try_lease(name, ttl)?)
    }

    /// The store under the domain (to close it at shutdown, and for its engine's name and mode).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(crate) fn snapshot(&self) -> Result<Box<dyn Snapshot>> {
        Ok(self.store.snapshot()?)
    }
}
