//! One object version read without a snapshot: what a GET of a secret or key, or a key operation, needs.
//!
//! [`Keyhaven::find_now`] reads the vault's record, its restore mark, the object's record and the version's record
//! in one [`Reader`](keyhaven_store::Reader) call — one statement on PostgreSQL, no transaction — so all four come
//! from one committed state, as [`Keyhaven::find`] on a snapshot would give. When the latest version is wanted,
//! its id is only known from the object's record: the call asks for the version the last read of the object found
//! latest (a hint per object, kept in memory, also noted by this node's writes, which read the hinted
//! version with the object too) and checks it against the object's record of the same call. A
//! missing or stale hint costs one more call with the id just read (at most [`TRIES`] calls, then a snapshot). An
//! answer is therefore never a mix of states: a new version, an update, a delete, a purge or a restore mark
//! committed between two calls is wholly before the answering call or wholly after it.

use crate::objects::{in_state, Found, State};
use crate::records::{self, ObjectRecord, VaultRecord, VersionRecord};
use crate::restore_journal::{mark_key, refuse_if_restoring};
use crate::{Error, Keyhaven, Result};
use keyhaven_model::{ObjectKind, ObjectName, VaultName, Version};

/// Calls before falling back to a snapshot (each after the latest version moved again since the last one).
const TRIES: usize = 3;

fn decoded<T: serde::de::DeserializeOwned>(raw: Option<Vec<u8>>) -> Result<Option<T>> {
    raw.map(|b| records::decode(&b)).transpose()
}

impl Keyhaven {
    /// [`Keyhaven::vault_record`] of the latest committed state: the vault's record and its restore mark in one
    /// reader call (one state). Fails as `vault_record` does.
    pub(crate) fn vault_now(&self, vault: &VaultName) -> Result<VaultRecord> {
        let (vault_key, mark) = (records::vault_key(vault.as_str()), mark_key(vault.as_str()));
        let mut got = self
            .store
            .reader()?
            .get_many(&[&vault_key, &mark])?
            .into_iter();
        let v: VaultRecord = decoded::<VaultRecord>(got.next().flatten())?
            .filter(|v| v.deleted.is_none())
            .ok_or_else(|| Error::VaultNotFound(vault.to_string()))?;
        if v.name != vault.as_str() {
            return self.vault_record(&*self.snapshot()?, vault.as_str());
        }
        refuse_if_restoring(got.next().flatten(), &v.name)?;
        Ok(v)
    }

    /// [`Keyhaven::find`] of the latest committed state, without a snapshot (see the module documentation). Fails
    /// as `find` does.
    pub(crate) fn find_now(
        &self,
        vault: &VaultName,
        kind: ObjectKind,
        name: &ObjectName,
        version: Option<&Version>,
        state: State,
    ) -> Result<Found> {
        let name_key = name.key();
        let vault_key = records::vault_key(vault.as_str());
        let mark = mark_key(vault.as_str());
        let object_key = records::object_key(vault.as_str(), kind, &name_key);
        let reader = self.store.reader()?;
        let mut asked = version.cloned().or_else(|| self.latest.get(&object_key));
        for _ in 0..TRIES {
            let version_key = asked
                .as_ref()
                .map(|a| records::version_key(vault.as_str(), kind, &name_key, a.as_str()));
            let mut keys: Vec<&[u8]> = vec![&vault_key, &mark, &object_key];
            keys.extend(version_key.as_deref());
            let mut got = reader.get_many(&keys)?.into_iter();
            let mut next = || got.next().flatten();
            let (v, m, o, ver) = (next(), next(), next(), next());
            let v: VaultRecord = decoded::<VaultRecord>(v)?
                .filter(|v| v.deleted.is_none())
                .ok_or_else(|| Error::VaultNotFound(vault.to_string()))?;
            if v.name != vault.as_str() {
                // The keys above assumed the vault's name as asked; the snapshot path reads it from the record.
                return self.find(&*self.snapshot()?, vault, kind, name, version, state);
            }
            refuse_if_restoring(m, &v.name)?;
            let obj: ObjectRecord = in_state(decoded(o)?, kind, name, state)?;
            if version.is_none() {
                self.latest.note(&object_key, &obj.latest);
            }
            let wanted = version.unwrap_or(&obj.latest);
            if asked.as_ref() == Some(wanted) {
                let ver: VersionRecord = decoded(ver)?.ok_or_else(|| {
                    Error::version_not_found(kind, name.as_str(), wanted.as_str())
                })?;
                return Ok(Found {
                    vault: v,
                    object: obj,
                    version: ver,
                });
            }
            asked = Some(wanted.clone());
        }
        self.find(&*self.snapshot()?, vault, kind, name, version, state)
    }
}
