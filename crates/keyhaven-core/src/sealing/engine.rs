//! The store's engine seen through the barrier: every value written is authenticated (see [`super::record_mac`])
//! under the key that owns its store key — a vault's active data key for the vault's records, the root key's
//! record key for the rest — and every value read is checked and handed on without its header. A record that
//! fails its check is refused ([`StoreError::Corrupt`]) and logged, never served.
//!
//! Checking a vault's record needs the vault's keys: reads use the keys the barrier holds (reloading the vault's
//! record, itself authenticated by the root key, when they do not know the record's generation or do not match
//! it); writes read the vault's record in their own transaction, once per transaction, so that they seal under
//! the generation active as of that transaction.

use super::record_mac::{self, Signer};
use super::{Barrier, VaultKey};
use crate::records::{self, VaultRecord};
use keyhaven_store::{Engine, EngineMode, EngineTxn, Entry, Lease, Reader, Snapshot, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// An engine whose records are authenticated by the barrier.
pub(crate) struct AuthenticatedEngine {
    inner: Arc<dyn Engine>,
    barrier: Arc<Barrier>,
}

impl AuthenticatedEngine {
    pub(crate) fn new(inner: Arc<dyn Engine>, barrier: Arc<Barrier>) -> Self {
        AuthenticatedEngine { inner, barrier }
    }
}

impl Engine for AuthenticatedEngine {
    fn snapshot(&self) -> Result<Box<dyn Snapshot>, StoreError> {
        Ok(Box::new(CheckedSnapshot {
            inner: self.inner.snapshot()?,
            barrier: self.barrier.clone(),
        }))
    }

    fn reader(&self) -> Result<Box<dyn Reader>, StoreError> {
        Ok(Box::new(CheckedReader {
            inner: self.inner.reader()?,
            barrier: self.barrier.clone(),
        }))
    }

    fn begin(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        Ok(Box::new(SigningTxn::new(
            self.inner.begin()?,
            &self.barrier,
        )))
    }

    fn begin_deferred(&self) -> Result<Box<dyn EngineTxn + '_>, StoreError> {
        Ok(Box::new(SigningTxn::new(
            self.inner.begin_deferred()?,
            &self.barrier,
        )))
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn mode(&self) -> EngineMode {
        self.inner.mode()
    }

    fn try_lease(&self, name: &str, ttl: std::time::Duration) -> Result<Option<Lease>, StoreError> {
        // Leases are no records: nothing to authenticate.
        self.inner.try_lease(name, ttl)
    }
}

/// A store key as logs show it (components separated by `/`; names, never values).
fn printable(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "/")
}

fn tampered(key: &[u8], why: &str) -> StoreError {
    let key = printable(key);
    tracing::error!(record = %key, reason = why, "a stored record failed its integrity check and was refused");
    StoreError::corrupt(format!(
        "the stored record {key} failed its integrity check ({why})"
    ))
}

/// The vault record at `vault`'s key, checked under the root key, from a raw read.
fn vault_record(
    barrier: &Barrier,
    vault: &[u8],
    raw: Option<Vec<u8>>,
) -> Result<Option<VaultRecord>, StoreError> {
    let key = records::vault_key(&String::from_utf8_lossy(vault));
    let Some(raw) = raw else { return Ok(None) };
    let payload = open_root(barrier, &key, &raw)?;
    records::decode(payload)
        .map(Some)
        .map_err(|e| StoreError::corrupt(e.to_string()))
}

/// The content of a deployment-wide record, checked under the root key.
fn open_root<'a>(barrier: &Barrier, key: &[u8], raw: &'a [u8]) -> Result<&'a [u8], StoreError> {
    let p = record_mac::parse(raw).ok_or_else(|| tampered(key, "no authentication header"))?;
    if p.signer != Signer::Root {
        return Err(tampered(key, "authenticated by the wrong key"));
    }
    if !record_mac::verify(barrier.root_mac(), key, &p) {
        return Err(tampered(key, "its tag does not match"));
    }
    Ok(p.payload)
}

/// Checks a vault's record under `keys`; Ok(false) when `keys` do not hold the generation that signed it or its
/// tag does not match under them (the caller may reload the keys and try again).
fn check_vault_record(keys: &VaultKey, key: &[u8], p: &record_mac::Parsed<'_>) -> bool {
    match p.signer {
        Signer::Vault(id) => keys
            .record_mac(id)
            .is_ok_and(|mac| record_mac::verify(mac, key, p)),
        Signer::Root => false,
    }
}

/// Checks a record read outside a write transaction: under the vault keys the barrier holds, else under the
/// keys of the vault's record that `vault_record_raw` reads (the record as of the same read, where it can).
fn open_read(
    barrier: &Barrier,
    key: &[u8],
    raw: Vec<u8>,
    vault_record_raw: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, StoreError>,
) -> Result<Vec<u8>, StoreError> {
    let Some(vault) = record_mac::vault_of(key) else {
        return open_root(barrier, key, &raw).map(<[u8]>::to_vec);
    };
    let p = record_mac::parse(&raw).ok_or_else(|| tampered(key, "no authentication header"))?;
    if matches!(p.signer, Signer::Root) {
        return Err(tampered(key, "authenticated by the wrong key"));
    }
    if let Some(keys) = barrier.cached_vault_key(vault) {
        if check_vault_record(&keys, key, &p) {
            return Ok(p.payload.to_vec());
        }
    }
    // The keys held may be older than the record (a rotation, a recreated vault): reload them.
    let rec = vault_record(barrier, vault, vault_record_raw(vault)?)?
        .ok_or_else(|| tampered(key, "its vault does not exist"))?;
    let keys = barrier
        .vault_key(&rec)
        .map_err(|e| StoreError::corrupt(e.to_string()))?;
    if check_vault_record(&keys, key, &p) {
        Ok(p.payload.to_vec())
    } else {
        Err(tampered(key, "its tag does not match"))
    }
}

fn vault_key_of(vault: &[u8]) -> Vec<u8> {
    records::vault_key(&String::from_utf8_lossy(vault))
}

/// A snapshot whose reads are checked.
struct CheckedSnapshot {
    inner: Box<dyn Snapshot>,
    barrier: Arc<Barrier>,
}

impl CheckedSnapshot {
    fn open(&self, key: &[u8], raw: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        // As of this snapshot.
        open_read(&self.barrier, key, raw, |vault| {
            self.inner.get(&vault_key_of(vault))
        })
    }
}

impl Snapshot for CheckedSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner
            .get(key)?
            .map(|raw| self.open(key, raw))
            .transpose()
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let raw = self.inner.get_many(keys)?;
        keys.iter()
            .zip(raw)
            .map(|(k, raw)| raw.map(|raw| self.open(k, raw)).transpose())
            .collect()
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        self.inner
            .scan(start, end, limit)?
            .into_iter()
            .map(|(k, raw)| {
                let v = self.open(&k, raw)?;
                Ok((k, v))
            })
            .collect()
    }
}

/// A reader whose reads are checked. A record whose vault keys must be reloaded is checked under the vault's
/// record read in the same call when the call asked for it (the same state), else under one read just after.
struct CheckedReader {
    inner: Box<dyn Reader>,
    barrier: Arc<Barrier>,
}

impl Reader for CheckedReader {
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let raw = self.inner.get_many(keys)?;
        let mut out = Vec::with_capacity(raw.len());
        for (k, value) in keys.iter().zip(&raw) {
            let Some(value) = value else {
                out.push(None);
                continue;
            };
            let opened = open_read(&self.barrier, k, value.clone(), |vault| {
                let wanted = vault_key_of(vault);
                match keys.iter().position(|k| *k == wanted.as_slice()) {
                    Some(i) => Ok(raw.get(i).cloned().flatten()),
                    None => Ok(self.inner.get_many(&[&wanted])?.pop().flatten()),
                }
            })?;
            out.push(Some(opened));
        }
        Ok(out)
    }
}

/// A write transaction that authenticates what it writes and checks what it reads. Each vault's keys are read
/// from the transaction once (again after the transaction rewrites the vault's record).
struct SigningTxn<'a> {
    inner: Box<dyn EngineTxn + 'a>,
    barrier: &'a Barrier,
    vaults: HashMap<Vec<u8>, Arc<VaultKey>>,
}

impl<'a> SigningTxn<'a> {
    fn new(inner: Box<dyn EngineTxn + 'a>, barrier: &'a Barrier) -> Self {
        SigningTxn {
            inner,
            barrier,
            vaults: HashMap::new(),
        }
    }

    /// The keys of `vault` as of this transaction.
    fn keys(&mut self, vault: &[u8], for_key: &[u8]) -> Result<Arc<VaultKey>, StoreError> {
        if let Some(k) = self.vaults.get(vault) {
            return Ok(k.clone());
        }
        let raw = self
            .inner
            .get(&records::vault_key(&String::from_utf8_lossy(vault)))?;
        let rec = vault_record(self.barrier, vault, raw)?.ok_or_else(|| {
            StoreError::corrupt(format!(
                "a record of a vault that does not exist ({})",
                printable(for_key)
            ))
        })?;
        let keys = self
            .barrier
            .vault_key(&rec)
            .map_err(|e| StoreError::corrupt(e.to_string()))?;
        self.vaults.insert(vault.to_vec(), keys.clone());
        Ok(keys)
    }

    fn open(&mut self, key: &[u8], raw: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let Some(vault) = record_mac::vault_of(key) else {
            return open_root(self.barrier, key, &raw).map(<[u8]>::to_vec);
        };
        let p = record_mac::parse(&raw).ok_or_else(|| tampered(key, "no authentication header"))?;
        let keys = self.keys(vault, key)?;
        if check_vault_record(&keys, key, &p) {
            Ok(p.payload.to_vec())
        } else {
            Err(tampered(key, "its tag does not match"))
        }
    }

    fn seal(&mut self, key: &[u8], value: &[u8]) -> Result<Vec<u8>, StoreError> {
        if let Some(vault) = record_mac::vault_of(key) {
            let keys = self.keys(vault, key)?;
            let (id, mac) = keys.active_record_mac();
            return Ok(record_mac::seal(mac, Signer::Vault(id), key, value));
        }
        if let Some(vault) = vault_of_vault_record(key) {
            // The vault's keys may change with its record: read them again when next needed.
            self.vaults.remove(vault);
        }
        Ok(record_mac::seal(
            self.barrier.root_mac(),
            Signer::Root,
            key,
            value,
        ))
    }
}

/// The vault whose record is at `key`, if it is a vault record.
fn vault_of_vault_record(key: &[u8]) -> Option<&[u8]> {
    key.strip_prefix(b"vault\0")
}

impl EngineTxn for SigningTxn<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.inner.get(key)? {
            Some(raw) => self.open(key, raw).map(Some),
            None => Ok(None),
        }
    }

    fn get_many(&mut self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let raw = self.inner.get_many(keys)?;
        keys.iter()
            .zip(raw)
            .map(|(k, raw)| raw.map(|raw| self.open(k, raw)).transpose())
            .collect()
    }

    fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Entry>, StoreError> {
        let raw = self.inner.scan(start, end, limit)?;
        let mut out = Vec::with_capacity(raw.len());
        for (k, v) in raw {
            let v = self.open(&k, v)?;
            out.push((k, v));
        }
        Ok(out)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let sealed = self.seal(key, value)?;
        self.inner.put(key, &sealed)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        if let Some(vault) = vault_of_vault_record(key) {
            self.vaults.remove(vault);
            self.barrier.forget_vault_key(vault);
        }
        self.inner.delete(key)
    }

    fn put_many(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        let mut sealed = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let s = self.seal(k, v)?;
            sealed.push((k.clone(), s));
        }
        self.inner.put_many(&sealed)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.inner.commit()
    }
}

/// Converts a store written before records were authenticated: authenticates, in transactions of at most
/// `chunk` records, every record that does not already carry a valid header (so that an interrupted conversion
/// can simply run again). Returns how many records it authenticated.
pub(crate) fn authenticate_earlier_records(
    engine: &dyn Engine,
    barrier: &Barrier,
    chunk: usize,
) -> Result<u64, StoreError> {
    let mut converted = 0u64;
    let mut from: Vec<u8> = Vec::new();
    let end = vec![0xffu8; 8];
    loop {
        let page = engine.snapshot()?.scan(&from, &end, chunk)?;
        let Some((last, _)) = page.last() else {
            return Ok(converted);
        };
        from = last.clone();
        from.push(0);
        let mut txn = engine.begin()?;
        let mut keys: HashMap<Vec<u8>, Arc<VaultKey>> = HashMap::new();
        for (k, raw) in &page {
            let sealed = match record_mac::vault_of(k) {
                None => {
                    if open_root(barrier, k, raw).is_ok() {
                        continue;
                    }
                    record_mac::seal(barrier.root_mac(), Signer::Root, k, raw)
                }
                Some(vault) => {
                    let vk = match keys.get(vault) {
                        Some(vk) => vk.clone(),
                        None => {
                            let vault_key = records::vault_key(&String::from_utf8_lossy(vault));
                            let raw = txn.get(&vault_key)?;
                            let vk = earlier_vault_keys(barrier, &vault_key, k, raw)?;
                            keys.insert(vault.to_vec(), vk.clone());
                            vk
                        }
                    };
                    if let Some(p) = record_mac::parse(raw) {
                        if check_vault_record(&vk, k, &p) {
                            continue;
                        }
                    }
                    let (id, mac) = vk.active_record_mac();
                    record_mac::seal(mac, Signer::Vault(id), k, raw)
                }
            };
            txn.put(k, &sealed)?;
            converted += 1;
        }
        txn.commit()?;
    }
}

/// A vault's keys during a conversion, from its record as read raw (authenticated already, or not yet).
fn earlier_vault_keys(
    barrier: &Barrier,
    vault_key: &[u8],
    for_key: &[u8],
    raw: Option<Vec<u8>>,
) -> Result<Arc<VaultKey>, StoreError> {
    let raw = raw.ok_or_else(|| {
        StoreError::corrupt(format!(
            "a record of a vault that does not exist ({})",
            printable(for_key)
        ))
    })?;
    let payload = match record_mac::parse(&raw) {
        Some(p)
            if p.signer == Signer::Root
                && record_mac::verify(barrier.root_mac(), vault_key, &p) =>
        {
            p.payload
        }
        _ => &raw[..],
    };
    let rec: VaultRecord =
        records::decode(payload).map_err(|e| StoreError::corrupt(e.to_string()))?;
    barrier
        .vault_key(&rec)
        .map_err(|e| StoreError::corrupt(e.to_string()))
}
