//! Whole-vault backup and restore: one operation, one store snapshot (a single instant), streamed record by
//! record (no object or version count limit), in the snapshot format of `keyhaven_blob::vault_snapshot`.
//!
//! Stream records (JSON, one per record): for each object an `object` record, one `version` record per version
//! (material opened from the vault and sealed again by the stream), and an `end` record carrying the SHA-256 of
//! the object's records. The manifest (final chunk) holds counts and a digest over all object digests.
//!
//! Restore reads the stream twice: a first pass checks every chunk, record and digest and plans each object
//! (restore, skip, conflict) without writing; a second pass writes everything in one transaction — all or
//! nothing, also across a crash.

use crate::backup::{version_record, VersionPayload};
use crate::geography::subscription_bytes;
use crate::records::{self, DeletedRecord, ObjectRecord, VaultRecord, VersionRecord};
use crate::{Action, Error, Keyhaven, Principal, Result};
use keyhaven_blob::vault_snapshot::{SnapshotHeader, SnapshotReader, SnapshotWriter};
use keyhaven_blob::GeographyKey;
use keyhaven_crypto::{SealingKey, Sha256};
use keyhaven_model::{ObjectKind, ObjectName, VaultName, Version};
use keyhaven_store::keys::prefix_end;
use keyhaven_store::WriteTxn;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::sync::Arc;

const MANIFEST_FORMAT: &str = "keyhaven.vault-snapshot/1";
/// Per-object outcomes listed in a restore report (counts are always complete).
const REPORT_LIMIT: usize = 10_000;

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
enum Record {
    #[serde(rename_all = "camelCase")]
    Object {
        kind: ObjectKind,
        name: ObjectName,
        latest: Version,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deleted: Option<DeletedRecord>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<serde_json::Value>,
        versions: u64,
    },
    Version {
        v: VersionPayload,
    },
    End {
        digest: String,
    },
}

/// The manifest at the end of a vault backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub vault: String,
    pub created: i64,
    pub secrets: u64,
    pub keys: u64,
    pub certificates: u64,
    pub deleted_objects: u64,
    pub versions: u64,
    /// SHA-256 over every object's digest, in stream order.
    pub digest: String,
}

impl Manifest {
    pub fn objects(&self) -> u64 {
        self.secrets + self.keys + self.certificates
    }
}

/// Progress of a running backup or restore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub objects: u64,
    pub versions: u64,
    pub bytes: u64,
}

/// What to do when an object of the backup already exists (live or deleted) in the target vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Refuse the whole restore (nothing is written).
    #[default]
    Fail,
    /// Leave the existing object as it is.
    Skip,
    /// Write the backup's latest version on top of the existing object as a new version (fresh version id, created
    /// at restore time); the existing versions stay.
    NewVersion,
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub conflict: ConflictPolicy,
    pub dry_run: bool,
    /// Restore soft-deleted objects of the backup (as deleted, with their purge dates); otherwise they are left out.
    pub include_deleted: bool,
    /// Restore only this object (selective restore).
    pub only: Option<(ObjectKind, ObjectName)>,
}

/// What happened (or, in a dry run, would happen) to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectOutcome {
    pub kind: ObjectKind,
    pub name: String,
    /// `restored`, `restored-deleted`, `skipped`, `new-version`, `conflict`, `excluded-deleted`.
    pub action: &'static str,
    pub versions: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub manifest: Manifest,
    pub dry_run: bool,
    pub restored: u64,
    pub skipped: u64,
    pub conflicts: u64,
    pub versions_written: u64,
    pub objects: Vec<ObjectOutcome>,
    pub objects_truncated: bool,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn encode(r: &Record) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    Ok(zeroize::Zeroizing::new(
        serde_json::to_vec(r).map_err(|e| Error::Internal(e.to_string()))?,
    ))
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
        who.authorize(Action::Backup)?;
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
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            vault: v.name.clone(),
            created,
            secrets: 0,
            keys: 0,
            certificates: 0,
            deleted_objects: 0,
            versions: 0,
            digest: String::new(),
        };
        let mut all = Sha256::default();
        let prefix = records::vault_objects_prefix(&v.name);
        let end = prefix_end(&prefix);
        let mut start = prefix.clone();
        let mut p = Progress::default();
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
                let count = snap
                    .scan(&vprefix, &prefix_end(&vprefix), usize::MAX)?
                    .len() as u64;
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
                let vend = prefix_end(&vprefix);
                let mut vstart = vprefix.clone();
                loop {
                    let versions = snap.scan(&vstart, &vend, 512)?;
                    let Some((vlast, _)) = versions.last() else {
                        break;
                    };
                    vstart = vlast.clone();
                    vstart.push(0);
                    for (_, vb) in versions {
                        let ver: VersionRecord = records::decode(&vb)?;
                        let rec = encode(&Record::Version {
                            v: self.version_payload(&v, kind, &name, ver)?,
                        })?;
                        digest.update(&rec);
                        w.write_record(&rec)?;
                    }
                }
                let d = digest.finish();
                all.update(&d);
                w.write_record(&encode(&Record::End { digest: hex(&d) })?)?;
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
        manifest.digest = hex(&all.finish());
        let m = serde_json::to_vec(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
        let out = w.finish(&m)?;
        Ok((out, manifest))
    }

    /// Checks a vault backup end to end (every chunk, record, digest and the manifest) without restoring it.
    pub fn verify_vault_backup<R: Read>(
        &self,
        who: &Principal,
        input: R,
        geography: &str,
    ) -> Result<Manifest> {
        who.authorize(Action::Restore)?;
        let (_, keys) = self.geography_keys(&*self.snapshot()?, geography)?;
        let sub = subscription_bytes(&self.deployment()?.subscription_id)?;
        read_stream(input, sub, geography, &keys, &mut |_| Ok(()))
    }

    /// Restores a vault backup into `vault`. `open` yields the backup stream (it is read twice).
    pub async fn restore_vault<R, F>(
        &self,
        who: &Principal,
        vault: &VaultName,
        open: F,
        options: RestoreOptions,
    ) -> Result<RestoreReport>
    where
        R: Read + 'static,
        F: Fn() -> std::io::Result<R> + Send + Sync + 'static,
    {
        who.authorize(Action::Restore)?;
        let snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let (_, keys) = self.geography_keys(&*snap, &v.geography)?;
        let sub = subscription_bytes(&self.deployment()?.subscription_id)?;
        let io =
            |e: std::io::Error| Error::BadParameter(format!("The backup could not be read: {e}"));

        // Pass 1: verify everything and plan, writing nothing.
        let mut report = RestoreReport {
            manifest: empty_manifest(),
            dry_run: options.dry_run,
            restored: 0,
            skipped: 0,
            conflicts: 0,
            versions_written: 0,
            objects: Vec::new(),
            objects_truncated: false,
        };
        let manifest = read_stream(open().map_err(io)?, sub, &v.geography, &keys, &mut |o| {
            if let Some(outcome) = plan(&*snap, &v.name, &o, &options)? {
                match outcome.action {
                    "skipped" | "excluded-deleted" => report.skipped += 1,
                    "conflict" => report.conflicts += 1,
                    _ => {
                        report.restored += 1;
                        report.versions_written += outcome.versions;
                    }
                }
                if report.objects.len() < REPORT_LIMIT {
                    report.objects.push(outcome);
                } else {
                    report.objects_truncated = true;
                }
            }
            Ok(())
        })?;
        report.manifest = manifest;
        if let Some((kind, name)) = &options.only {
            if report.restored + report.skipped + report.conflicts == 0 {
                return Err(Error::NotFound {
                    kind: *kind,
                    message: format!("The backup holds no {} named {name}.", kind.as_str()),
                });
            }
        }
        if report.conflicts > 0 && options.conflict == ConflictPolicy::Fail && !options.dry_run {
            let names: Vec<String> = report
                .objects
                .iter()
                .filter(|o| o.action == "conflict")
                .take(5)
                .map(|o| o.name.clone())
                .collect();
            return Err(Error::Conflict(format!(
                "{} object(s) of the backup already exist in vault '{}' (e.g. {}); nothing was restored. Use the conflict \
                 policy skip or new-version, or restore into an empty vault.",
                report.conflicts,
                v.name,
                names.join(", ")
            )));
        }
        if options.dry_run {
            return Ok(report);
        }

        // Pass 2: one transaction, straight to the engine.
        let key = self.vault_sealing_key(&v)?;
        let (vault_name, wrapped, geography) =
            (v.name.clone(), v.wrapped_key.clone(), v.geography.clone());
        let opts = options.clone();
        let now = self.now();
        let open = Arc::new(open);
        self.store.write_exclusive_blocking(move |txn| {
            let cur: VaultRecord = records::read_txn(txn, &records::vault_key(&vault_name))?
                .filter(|c: &VaultRecord| c.wrapped_key == wrapped)
                .ok_or_else(|| Error::VaultNotFound(vault_name.clone()))?;
            let input = open()
                .map_err(|e| Error::BadParameter(format!("The backup could not be read: {e}")))?;
            read_stream(input, sub, &geography, &keys, &mut |o| {
                apply(txn, &cur, &key, o, &opts, now)
            })?;
            Ok::<_, Error>(())
        })?;
        Ok(report)
    }
}

fn empty_manifest() -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.into(),
        vault: String::new(),
        created: 0,
        secrets: 0,
        keys: 0,
        certificates: 0,
        deleted_objects: 0,
        versions: 0,
        digest: String::new(),
    }
}

/// One object read back from a stream, all of its records checked.
struct StreamObject {
    kind: ObjectKind,
    name: ObjectName,
    latest: Version,
    deleted: Option<DeletedRecord>,
    policy: Option<serde_json::Value>,
    versions: Vec<VersionPayload>,
}

/// Reads a whole stream, handing each checked object to `each`, and returns the checked manifest. Objects are
/// held one at a time.
fn read_stream<R: Read>(
    input: R,
    sub: [u8; 16],
    geography: &str,
    keys: &[GeographyKey],
    each: &mut dyn FnMut(StreamObject) -> Result<()>,
) -> Result<Manifest> {
    let bad = |m: &str| Error::BadParameter(format!("The vault backup is not valid: {m}."));
    let mut r = SnapshotReader::open(input, sub, geography, keys)?;
    let mut all = Sha256::default();
    let mut counts = empty_manifest();
    let mut current: Option<(StreamObject, u64, Sha256)> = None;
    while let Some(bytes) = r.next_record()? {
        let rec: Record =
            serde_json::from_slice(&bytes).map_err(|_| bad("a record does not decode"))?;
        match rec {
            Record::Object {
                kind,
                name,
                latest,
                deleted,
                policy,
                versions,
            } => {
                if current.is_some() {
                    return Err(bad("an object starts before the previous one ended"));
                }
                let mut d = Sha256::default();
                d.update(&bytes);
                let obj = StreamObject {
                    kind,
                    name,
                    latest,
                    deleted,
                    policy,
                    versions: Vec::new(),
                };
                current = Some((obj, versions, d));
            }
            Record::Version { v } => {
                let Some((obj, expected, d)) = current.as_mut() else {
                    return Err(bad("a version outside an object"));
                };
                if obj.versions.len() as u64 >= *expected {
                    return Err(bad("an object holds more versions than it announced"));
                }
                d.update(&bytes);
                obj.versions.push(v);
            }
            Record::End { digest } => {
                let Some((obj, expected, d)) = current.take() else {
                    return Err(bad("an object end without a start"));
                };
                let got = d.finish();
                if hex(&got) != digest || obj.versions.len() as u64 != expected {
                    return Err(bad("an object's digest or version count does not match"));
                }
                if !obj.versions.iter().any(|p| p.version == obj.latest) {
                    return Err(bad("an object names a latest version it does not hold"));
                }
                all.update(&got);
                match obj.kind {
                    ObjectKind::Secret => counts.secrets += 1,
                    ObjectKind::Key => counts.keys += 1,
                    ObjectKind::Certificate => counts.certificates += 1,
                }
                counts.deleted_objects += u64::from(obj.deleted.is_some());
                counts.versions += expected;
                each(obj)?;
            }
        }
    }
    if current.is_some() {
        return Err(bad("the last object is incomplete"));
    }
    let m: Manifest = serde_json::from_slice(r.manifest().unwrap_or_default())
        .map_err(|_| bad("the manifest does not decode"))?;
    if m.format != MANIFEST_FORMAT
        || m.digest != hex(&all.finish())
        || (
            m.secrets,
            m.keys,
            m.certificates,
            m.deleted_objects,
            m.versions,
        ) != (
            counts.secrets,
            counts.keys,
            counts.certificates,
            counts.deleted_objects,
            counts.versions,
        )
    {
        return Err(bad("the manifest does not match the records"));
    }
    Ok(m)
}

fn selected(o: &StreamObject, options: &RestoreOptions) -> bool {
    match &options.only {
        Some((kind, name)) => *kind == o.kind && *name == o.name,
        None => true,
    }
}

/// What restoring `o` into `vault` would do, judged on a snapshot.
fn plan(
    snap: &dyn keyhaven_store::Snapshot,
    vault: &str,
    o: &StreamObject,
    options: &RestoreOptions,
) -> Result<Option<ObjectOutcome>> {
    if !selected(o, options) {
        return Ok(None);
    }
    let existing: Option<ObjectRecord> =
        records::read(snap, &records::object_key(vault, o.kind, &o.name.key()))?;
    Ok(Some(outcome(o, existing.as_ref(), options)))
}

fn outcome(
    o: &StreamObject,
    existing: Option<&ObjectRecord>,
    options: &RestoreOptions,
) -> ObjectOutcome {
    let mut versions = o.versions.len() as u64;
    let action = if o.deleted.is_some() && !options.include_deleted {
        "excluded-deleted"
    } else {
        match (existing, options.conflict) {
            (None, _) if o.deleted.is_some() => "restored-deleted",
            (None, _) => "restored",
            (Some(_), ConflictPolicy::Fail) => "conflict",
            (Some(_), ConflictPolicy::Skip) => "skipped",
            (Some(e), ConflictPolicy::NewVersion) if e.deleted.is_none() && o.deleted.is_none() => {
                "new-version"
            }
            (Some(_), ConflictPolicy::NewVersion) => "conflict",
        }
    };
    if action == "new-version" {
        versions = 1;
    }
    ObjectOutcome {
        kind: o.kind,
        name: o.name.as_str().to_string(),
        action,
        versions,
    }
}

/// Writes one object inside the restore transaction (judging conflicts again on the current state).
fn apply(
    txn: &mut dyn WriteTxn,
    v: &VaultRecord,
    key: &SealingKey,
    o: StreamObject,
    options: &RestoreOptions,
    now: i64,
) -> Result<()> {
    if !selected(&o, options) {
        return Ok(());
    }
    let okey = records::object_key(&v.name, o.kind, &o.name.key());
    let existing: Option<ObjectRecord> = records::read_txn(txn, &okey)?;
    let decision = outcome(&o, existing.as_ref(), options);
    let mut obj = match decision.action {
        "excluded-deleted" | "skipped" => return Ok(()),
        "conflict" => {
            return Err(Error::Conflict(format!(
                "{} {} already exists in vault '{}'; nothing was restored.",
                o.kind.title(),
                o.name,
                v.name
            )))
        }
        "new-version" => {
            let mut obj =
                existing.ok_or_else(|| Error::Internal("existing object vanished".into()))?;
            let mut p = o
                .versions
                .into_iter()
                .find(|p| p.version == o.latest)
                .ok_or_else(|| Error::Internal("latest version vanished".into()))?;
            p.version = keyhaven_crypto::random_version()?;
            p.attributes.created = now;
            p.attributes.updated = now;
            let rec = version_record(key, &v.name, o.kind, &o.name, p)?;
            records::write_txn(
                txn,
                &records::version_key(&v.name, o.kind, &o.name.key(), rec.version.as_str()),
                &rec,
            )?;
            obj.latest = rec.version;
            obj.latest_created = now;
            return records::write_txn(txn, &okey, &obj);
        }
        _ => ObjectRecord {
            name: o.name.as_str().to_string(),
            latest: o.latest.clone(),
            latest_created: 0,
            deleted: o.deleted.clone(),
            policy: o.policy.clone(),
        },
    };
    let mut latest_created = None;
    for p in o.versions {
        let vkey = records::version_key(&v.name, o.kind, &o.name.key(), p.version.as_str());
        if txn.get(&vkey)?.is_some() {
            continue;
        }
        if p.version == o.latest {
            latest_created = Some(p.attributes.created);
        }
        let rec = version_record(key, &v.name, o.kind, &o.name, p)?;
        records::write_txn(txn, &vkey, &rec)?;
    }
    if let Some(created) = latest_created {
        obj.latest = o.latest;
        obj.latest_created = created;
    }
    records::write_txn(txn, &okey, &obj)
}
