//! Writing a whole-vault backup: one snapshot, read forward, streamed record by record.

use super::stream::{encode, IssuerPayload, Record};
use super::{Manifest, Progress, MANIFEST_FORMAT};
use crate::backup::Material;
use crate::certificates::{Contact, IssuerRecord, OperationRecord};
use crate::geography::subscription_bytes;
use crate::records::{self, ObjectRecord, VersionRecord};
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_blob::vault_snapshot::{SnapshotHeader, SnapshotWriter};
use keyhaven_crypto::{hex, Sha256};
use keyhaven_model::{ObjectKind, ObjectName, VaultName};
use keyhaven_store::keys::prefix_end;
use std::io::Write;

/// The versions of a vault, read forward in key order in bounded chunks. A backup visits objects in the same
/// order as their versions are kept, so one pass over them serves every object (instead of a lookup per object).
pub(super) struct VersionCursor<'a> {
    snap: &'a dyn keyhaven_store::Snapshot,
    next: Vec<u8>,
    end: Vec<u8>,
    buf: std::collections::VecDeque<keyhaven_store::Entry>,
    exhausted: bool,
    /// Entries the next read asks for: as many as fit in `CHUNK_BYTES` at the size seen so far.
    chunk: usize,
}

impl<'a> VersionCursor<'a> {
    const MAX_CHUNK: usize = 1024;
    const MIN_CHUNK: usize = 4;
    /// What one read may hold (a vault of 25 KB values would otherwise hold 25 MB per read).
    const CHUNK_BYTES: usize = 512 << 10;

    fn new(snap: &'a dyn keyhaven_store::Snapshot, prefix: Vec<u8>) -> Self {
        VersionCursor {
            snap,
            end: prefix_end(&prefix),
            next: prefix,
            buf: Default::default(),
            exhausted: false,
            chunk: Self::MIN_CHUNK,
        }
    }

    /// Reads the next chunk once the buffer is empty; false at the end.
    fn fill(&mut self) -> Result<bool> {
        if !self.buf.is_empty() {
            return Ok(true);
        }
        if self.exhausted {
            return Ok(false);
        }
        let asked = self.chunk;
        let chunk = self.snap.scan(&self.next, &self.end, asked)?;
        match chunk.last() {
            Some((last, _)) => {
                self.next = last.clone();
                self.next.push(0);
            }
            None => self.exhausted = true,
        }
        self.exhausted |= chunk.len() < asked;
        let bytes: usize = chunk.iter().map(|(k, v)| k.len() + v.len()).sum();
        let per_entry = bytes.div_ceil(chunk.len().max(1)).max(1);
        self.chunk = (Self::CHUNK_BYTES / per_entry).clamp(Self::MIN_CHUNK, Self::MAX_CHUNK);
        self.buf.extend(chunk);
        Ok(!self.buf.is_empty())
    }

    /// Passes over versions that sort before `prefix` (those of objects the backup leaves out).
    fn skip_to(&mut self, prefix: &[u8]) -> Result<()> {
        while self.fill()? {
            while self.buf.front().is_some_and(|(k, _)| k.as_slice() < prefix) {
                self.buf.pop_front();
            }
            if !self.buf.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// How many versions start with `prefix`, if the buffer holds all of them.
    fn buffered_count(&self, prefix: &[u8]) -> Option<u64> {
        let n = self
            .buf
            .iter()
            .take_while(|(k, _)| k.starts_with(prefix))
            .count();
        (n < self.buf.len() || self.exhausted).then_some(n as u64)
    }

    /// The next version under `prefix`, if any.
    fn next_in(&mut self, prefix: &[u8]) -> Result<Option<keyhaven_store::Entry>> {
        if !self.fill()? {
            return Ok(None);
        }
        if self.buf.front().is_some_and(|(k, _)| k.starts_with(prefix)) {
            Ok(self.buf.pop_front())
        } else {
            Ok(None)
        }
    }
}

/// How many keys start with `prefix`, counted in bounded chunks (an object may have any number of versions).
pub(super) fn count_under(snap: &dyn keyhaven_store::Snapshot, prefix: &[u8]) -> Result<u64> {
    let mut n = 0u64;
    records::for_each_under(snap, prefix, 64, &mut |_, _| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

impl Keyhaven {
    /// Writes a point-in-time backup of a whole vault to `out`. `progress` is called after each object.
    pub fn backup_vault<W: Write>(
        &self,
        who: &Principal,
        vault: &VaultName,
        include_deleted: bool,
        out: W,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(W, Manifest)> {
        who.authorize(Action::VaultBackup, &Resource::vault(vault))?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let (active, _) = self.geography_keys(&*snap, &v.geography)?;
        let created = self.now();
        let header = SnapshotHeader {
            subscription: subscription_bytes(&self.deployment()?.subscription_id)?,
            geography: v.geography.clone(),
            key_id: active.id,
            vault: v.name.clone(),
            created,
            snapshot_id: keyhaven_crypto::random_bytes::<16>()?,
        };
        let mut w = SnapshotWriter::new(out, header, &active)?;
        let vault_key = self.barrier.vault_key(&v)?;
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            vault: v.name.clone(),
            created,
            secrets: 0,
            keys: 0,
            certificates: 0,
            deleted_objects: 0,
            versions: 0,
            settings: 0,
            digest: String::new(),
        };
        let mut all = Sha256::default();
        let prefix = records::vault_objects_prefix(&v.name);
        let end = prefix_end(&prefix);
        let mut start = prefix.clone();
        let mut p = Progress::default();
        let mut vcur = VersionCursor::new(&*snap, records::vault_versions_prefix(&v.name));
        loop {
            let chunk = snap.scan(&start, &end, 256)?;
            let Some((last, _)) = chunk.last() else { break };
            start = last.clone();
            start.push(0);
            for (k, bytes) in chunk {
                let parts: Vec<&[u8]> = k.split(|b| *b == 0).collect();
                let kind = match parts.get(2).map(|k| std::str::from_utf8(k).unwrap_or("")) {
                    Some("secret") => ObjectKind::Secret,
                    Some("key") => ObjectKind::Key,
                    Some("certificate") => ObjectKind::Certificate,
                    _ => continue,
                };
                let name_key =
                    String::from_utf8_lossy(parts.get(3).copied().unwrap_or_default()).into_owned();
                let obj: ObjectRecord = records::decode(&bytes)?;
                if obj.deleted.is_some() && !include_deleted {
                    continue;
                }
                let name = ObjectName::parse(&obj.name)?;
                let vprefix = records::versions_prefix(&v.name, kind, &name_key);
                vcur.skip_to(&vprefix)?;
                let count = match vcur.buffered_count(&vprefix) {
                    Some(n) => n,
                    None => count_under(&*snap, &vprefix)?,
                };
                let mut digest = Sha256::default();
                let head = encode(&Record::Object {
                    kind,
                    name: name.clone(),
                    latest: obj.latest.clone(),
                    deleted: obj.deleted.clone(),
                    policy: obj.policy.clone(),
                    versions: count,
                })?;
                digest.update(&head);
                w.write_record(&head)?;
                while let Some((_, vb)) = vcur.next_in(&vprefix)? {
                    let ver: VersionRecord = records::decode(&vb)?;
                    let rec = encode(&Record::Version {
                        v: crate::backup::version_payload_with(&vault_key, kind, &name, ver)?,
                    })?;
                    digest.update(&rec);
                    w.write_record(&rec)?;
                }
                let d = digest.finish();
                all.update(&d);
                w.write_record(&encode(&Record::End { digest: hex(&d) })?)?;
                if kind == ObjectKind::Certificate {
                    let okey = records::certificate_operation_key(&v.name, &name_key);
                    if let Some(mut operation) = records::read::<OperationRecord>(&*snap, &okey)? {
                        // Never set by this version; it would be bound to this vault.
                        operation.sealed_key = None;
                        let rec = encode(&Record::Operation {
                            operation: Box::new(operation),
                        })?;
                        all.update(&keyhaven_crypto::sha256(&rec));
                        w.write_record(&rec)?;
                        manifest.settings += 1;
                    }
                }
                match kind {
                    ObjectKind::Secret => manifest.secrets += 1,
                    ObjectKind::Key => manifest.keys += 1,
                    ObjectKind::Certificate => manifest.certificates += 1,
                }
                if obj.deleted.is_some() {
                    manifest.deleted_objects += 1;
                }
                manifest.versions += count;
                p.objects += 1;
                p.versions += count;
                p.bytes = w.bytes_written();
                progress(p);
            }
        }
        // Vault settings: the certificate issuers (passwords opened for the stream) and contacts.
        records::for_each_under(
            &*snap,
            &records::issuers_prefix(&v.name),
            256,
            &mut |_, bytes| {
                let mut record: IssuerRecord = records::decode(&bytes)?;
                let name = ObjectName::parse(&record.name)?;
                let key_id = std::mem::take(&mut record.password_key);
                let password = match record.sealed_password.take() {
                    Some(sealed) => Some(Material::from_plain(
                        vault_key.open_issuer_password(&name, key_id, &sealed)?,
                    )?),
                    None => None,
                };
                let rec = encode(&Record::Issuer {
                    issuer: IssuerPayload { record, password },
                })?;
                all.update(&keyhaven_crypto::sha256(&rec));
                w.write_record(&rec)?;
                manifest.settings += 1;
                Ok(())
            },
        )?;
        if let Some(contacts) =
            records::read::<Vec<Contact>>(&*snap, &records::contacts_key(&v.name))?
        {
            let rec = encode(&Record::Contacts { contacts })?;
            all.update(&keyhaven_crypto::sha256(&rec));
            w.write_record(&rec)?;
            manifest.settings += 1;
        }
        manifest.digest = hex(&all.finish());
        let m = serde_json::to_vec(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
        let out = w.finish(&m)?;
        Ok((out, manifest))
    }
}
