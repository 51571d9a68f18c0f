//! Whole-vault backup and restore: one operation, one store snapshot (a single instant), streamed record by
//! record (no object or version count limit), in the snapshot format of `keyhaven_blob::vault_snapshot`.
//!
//! Stream records (JSON, one per record): for each object an `object` record, one `version` record per version
//! (material opened from the vault and sealed again by the stream), and an `end` record carrying the SHA-256 of
//! the object's records. The manifest (final chunk) holds counts and a digest over all object digests.
//!
//! Restore reads the stream twice: a first pass checks every chunk, record and digest and plans each object
//! (restore, skip, conflict) without writing; a second pass writes it in bounded batches, one transaction each,
//! under a restore mark that keeps every other request out of the vault and with an undo journal
//! (`restore_journal`), so that the restore stays all or nothing — also across a crash — in constant memory.

use crate::backup::{version_record, Material, VersionPayload};
use crate::certificates::{Contact, IssuerRecord, OperationRecord};
use crate::geography::subscription_bytes;
use crate::records::{self, DeletedRecord, ObjectRecord, VaultRecord, VersionRecord};
use crate::restore_journal;
use crate::{Action, Error, Keyhaven, Principal, Result};
use keyhaven_blob::vault_snapshot::{SnapshotHeader, SnapshotReader, SnapshotWriter};
use keyhaven_blob::GeographyKey;
use keyhaven_crypto::{SealingKey, Sha256};
use keyhaven_model::{ObjectKind, ObjectName, VaultName, Version};
use keyhaven_store::keys::prefix_end;
use keyhaven_store::WriteTxn;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::sync::{mpsc, Arc};

const MANIFEST_FORMAT: &str = "keyhaven.vault-snapshot/1";
/// Per-object outcomes listed in a restore report (counts are always complete).
const REPORT_LIMIT: usize = 10_000;

#[derive(Serialize)]
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
    /// A certificate issuer of the vault (after every object), its password opened.
    Issuer {
        issuer: IssuerPayload,
    },
    /// The vault's certificate contacts (after every object).
    Contacts {
        contacts: Vec<Contact>,
    },
    /// A certificate's create operation (pending, or finished and kept), right after its certificate's `end`.
    Operation {
        operation: Box<OperationRecord>,
    },
}

/// An issuer as it travels in a vault backup: its record without the sealed password, and the password opened
/// (sealed again by the stream, and for the target vault on restore).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssuerPayload {
    #[serde(flatten)]
    record: IssuerRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<Material>,
}

/// A vault-level setting read from a backup.
enum Setting {
    /// An issuer and its name (checked when read).
    Issuer(ObjectName, IssuerPayload),
    Contacts(Vec<Contact>),
}

impl Setting {
    /// Its store key in `vault`, and a name for reports.
    fn place(&self, vault: &str) -> (Vec<u8>, String) {
        match self {
            Setting::Issuer(name, _) => (
                records::issuer_key(vault, &name.key()),
                format!("issuer {name}"),
            ),
            Setting::Contacts(_) => (records::contacts_key(vault), "contacts".into()),
        }
    }

    /// The record to store in `vault` (an issuer's password sealed under its key).
    fn record(&self, key: &SealingKey, vault: &str) -> Result<Vec<u8>> {
        match self {
            Setting::Issuer(name, p) => {
                let mut r = p.record.clone();
                r.sealed_password = match &p.password {
                    Some(m) => Some(key.seal(
                        &records::issuer_password_aad(vault, &name.key()),
                        m.as_bytes(),
                    )?),
                    None => None,
                };
                records::encode(&r)
            }
            Setting::Contacts(c) => records::encode(c),
        }
    }
}

/// [`Record`] as read back: the same JSON, decoded as one flat struct (serde's internally tagged enums buffer
/// every record before decoding it; this is the restore's hottest loop).
#[derive(Deserialize)]
struct RecordIn {
    t: RecordTag,
    #[serde(default)]
    kind: Option<ObjectKind>,
    #[serde(default)]
    name: Option<ObjectName>,
    #[serde(default)]
    latest: Option<Version>,
    #[serde(default)]
    deleted: Option<DeletedRecord>,
    #[serde(default)]
    policy: Option<serde_json::Value>,
    #[serde(default)]
    versions: Option<u64>,
    #[serde(default)]
    v: Option<VersionPayload>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    issuer: Option<IssuerPayload>,
    #[serde(default)]
    contacts: Option<Vec<Contact>>,
    #[serde(default)]
    operation: Option<Box<OperationRecord>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum RecordTag {
    Object,
    Version,
    End,
    Issuer,
    Contacts,
    Operation,
}

impl RecordIn {
    /// The record, if it decodes and has the fields its tag requires.
    fn decode(bytes: &[u8]) -> Option<Record> {
        let r: RecordIn = serde_json::from_slice(bytes).ok()?;
        Some(match r.t {
            RecordTag::Object => Record::Object {
                kind: r.kind?,
                name: r.name?,
                latest: r.latest?,
                deleted: r.deleted,
                policy: r.policy,
                versions: r.versions?,
            },
            RecordTag::Version => Record::Version { v: r.v? },
            RecordTag::End => Record::End { digest: r.digest? },
            RecordTag::Issuer => Record::Issuer { issuer: r.issuer? },
            RecordTag::Contacts => Record::Contacts {
                contacts: r.contacts?,
            },
            RecordTag::Operation => Record::Operation {
                operation: r.operation?,
            },
        })
    }
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
    /// Vault settings and certificate operations in the backup: issuers, contacts, create operations.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub settings: u64,
    /// SHA-256 over every object's digest and then every setting record's SHA-256, in stream order.
    pub digest: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    /// What happened to each vault setting (certificate issuers and contacts); a conflict counts in `conflicts`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<SettingOutcome>,
}

/// What happened (or would happen) to one vault setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingOutcome {
    /// `contacts` or `issuer NAME`.
    pub setting: String,
    /// `restored`, `replaced` (new-version policy), `skipped`, `conflict`.
    pub action: &'static str,
}

/// What restoring a setting does, given whether the target has it already.
fn setting_action(exists: bool, options: &RestoreOptions) -> &'static str {
    match (exists, options.conflict) {
        (false, _) => "restored",
        (true, ConflictPolicy::Fail) => "conflict",
        (true, ConflictPolicy::Skip) => "skipped",
        (true, ConflictPolicy::NewVersion) => "replaced",
    }
}

impl RestoreReport {
    fn new(dry_run: bool) -> Self {
        RestoreReport {
            manifest: empty_manifest(),
            dry_run,
            restored: 0,
            skipped: 0,
            conflicts: 0,
            versions_written: 0,
            objects: Vec::new(),
            objects_truncated: false,
            settings: Vec::new(),
        }
    }

    fn add_setting(&mut self, setting: String, action: &'static str) {
        if action == "conflict" {
            self.conflicts += 1;
        }
        if self.settings.len() < REPORT_LIMIT {
            self.settings.push(SettingOutcome { setting, action });
        }
    }

    fn add(&mut self, outcome: ObjectOutcome) {
        match outcome.action {
            "skipped" | "excluded-deleted" => self.skipped += 1,
            "conflict" => self.conflicts += 1,
            _ => {
                self.restored += 1;
                self.versions_written += outcome.versions;
            }
        }
        if self.objects.len() < REPORT_LIMIT {
            self.objects.push(outcome);
        } else {
            self.objects_truncated = true;
        }
    }
}

/// A selective restore whose object the backup does not hold.
fn nothing_selected(report: &RestoreReport, options: &RestoreOptions) -> Result<()> {
    match &options.only {
        Some((kind, name)) if report.restored + report.skipped + report.conflicts == 0 => {
            Err(Error::NotFound {
                kind: *kind,
                message: format!("The backup holds no {} named {name}.", kind.as_str()),
            })
        }
        _ => Ok(()),
    }
}

/// Whether a vault holds no object and no version.
fn vault_is_empty(snap: &dyn keyhaven_store::Snapshot, vault: &str) -> Result<bool> {
    for p in records::vault_contents_prefixes(vault) {
        if !snap.scan(&p, &prefix_end(&p), 1)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0x0f)]));
    }
    s
}

/// The versions of a vault, read forward in key order in bounded chunks. A backup visits objects in the same
/// order as their versions are kept, so one pass over them serves every object (instead of a lookup per object).
struct VersionCursor<'a> {
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
fn count_under(snap: &dyn keyhaven_store::Snapshot, prefix: &[u8]) -> Result<u64> {
    let mut n = 0u64;
    records::for_each_under(snap, prefix, 64, &mut |_, _| {
        n += 1;
        Ok(())
    })?;
    Ok(n)
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
        let vault_key = self.vault_sealing_key(&v)?;
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
                        v: crate::backup::version_payload_with(
                            &vault_key, &v.name, kind, &name, ver,
                        )?,
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
                let password = match record.sealed_password.take() {
                    Some(sealed) => Some(Material::from_plain(
                        vault_key
                            .open(&records::issuer_password_aad(&v.name, &name.key()), &sealed)?,
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
        read_stream(input, sub, geography, &keys, &mut |_, _| Ok(()))
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
        self.restore_vault_with(who, vault, open, options, Pass2::default())
    }

    /// [`Keyhaven::restore_vault`] with pass 2 cut as `pass2` says.
    pub(crate) fn restore_vault_with<R, F>(
        &self,
        who: &Principal,
        vault: &VaultName,
        open: F,
        options: RestoreOptions,
        mut pass2: Pass2,
    ) -> Result<RestoreReport>
    where
        R: Read + 'static,
        F: Fn() -> std::io::Result<R> + Send + Sync + 'static,
    {
        who.authorize(Action::Restore)?;
        let mut snap = self.snapshot()?;
        let v = self.vault_record(&*snap, vault.as_str())?;
        let (_, keys) = self.geography_keys(&*snap, &v.geography)?;
        let sub = subscription_bytes(&self.deployment()?.subscription_id)?;

        // Into an empty vault nothing can conflict: the stream is checked while it is written, in one pass, and
        // a failure anywhere empties the vault again (as it undoes any restore).
        if !options.dry_run && vault_is_empty(&*snap, &v.name)? {
            drop(snap);
            let mut report = RestoreReport::new(false);
            let written = self.write_pass(
                &v,
                &open,
                sub,
                &keys,
                options.clone(),
                &mut pass2,
                Some(&mut report),
            )?;
            if let Some(manifest) = written {
                report.manifest = manifest;
                nothing_selected(&report, &options)?;
                return Ok(report);
            }
            // Something was written into the vault meanwhile: restore it the careful way, below.
            snap = self.snapshot()?;
        }

        // Pass 1: verify everything and plan, writing nothing.
        let mut report = RestoreReport::new(options.dry_run);
        let manifest = read_stream(
            open().map_err(unreadable)?,
            sub,
            &v.geography,
            &keys,
            &mut |event, _| {
                match event {
                    Event::End(head) => {
                        if let Some(outcome) = plan(&*snap, &v.name, head, &options)? {
                            report.add(outcome);
                        }
                    }
                    // A selective restore leaves the vault's settings alone.
                    Event::Setting(st) if options.only.is_none() => {
                        let (key, label) = st.place(&v.name);
                        let action = setting_action(snap.get(&key)?.is_some(), &options);
                        report.add_setting(label, action);
                    }
                    _ => {}
                }
                Ok(())
            },
        )?;
        drop(snap);
        report.manifest = manifest;
        nothing_selected(&report, &options)?;
        if report.conflicts > 0 && options.conflict == ConflictPolicy::Fail && !options.dry_run {
            let names: Vec<String> = report
                .objects
                .iter()
                .filter(|o| o.action == "conflict")
                .map(|o| o.name.clone())
                .chain(
                    report
                        .settings
                        .iter()
                        .filter(|o| o.action == "conflict")
                        .map(|o| o.setting.clone()),
                )
                .take(5)
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

        self.write_pass(&v, &open, sub, &keys, options, &mut pass2, None)?;
        Ok(report)
    }

    /// Pass 2 (or the only pass, into an empty vault, with `single` collecting the report): bounded batches, each
    /// its own transaction, undoable as one through the restore journal. Returns the stream's manifest — or None,
    /// writing nothing, when a single pass finds that the vault is no longer empty.
    #[allow(clippy::too_many_arguments)]
    fn write_pass<R, F>(
        &self,
        v: &VaultRecord,
        open: &F,
        sub: [u8; 16],
        keys: &[GeographyKey],
        options: RestoreOptions,
        pass2: &mut Pass2,
        single: Option<&mut RestoreReport>,
    ) -> Result<Option<Manifest>>
    where
        R: Read + 'static,
        F: Fn() -> std::io::Result<R>,
    {
        let job = hex(&keyhaven_crypto::random_bytes::<16>()?);
        let ctx = Arc::new(ApplyCtx {
            vault: v.name.clone(),
            wrapped: v.wrapped_key.clone(),
            key: self.vault_sealing_key(v)?,
            journal: restore_journal::journal(&job)?,
            job: job.clone(),
            options,
            now: self.now(),
            empty_target: false,
        });
        // The mark goes on first, alone: from its commit on, no other writer touches the vault, so the batches
        // build on exactly the state they find (their own writes included).
        let empty_target = {
            let ctx = ctx.clone();
            self.store.write_exclusive_blocking(move |txn| {
                current_vault(txn, &ctx)?;
                restore_journal::begin(txn, &ctx.vault, &ctx.job, ctx.now)
            })?
        };
        if single.is_some() && !empty_target {
            let ctx = ctx.clone();
            self.store.write_exclusive_blocking(move |txn| {
                restore_journal::end(txn, &ctx.vault, &ctx.job)
            })?;
            return Ok(None);
        }
        let ctx = Arc::new(ApplyCtx {
            empty_target,
            ..Arc::unwrap_or_clone(ctx)
        });
        tracing::info!(vault = %v.name, job = %job, single_pass = single.is_some(), "vault restore: writing");
        match self.apply_stream(&ctx, open, sub, &v.geography, keys, pass2, single) {
            Ok((batches, manifest)) => {
                tracing::info!(vault = %v.name, job = %job, batches, "vault restore committed");
                if let Err(e) = self.discard_restore_journal(&job) {
                    // Harmless: a journal without a mark is removed at the next start.
                    tracing::warn!(vault = %v.name, job = %job, error = %e, "could not remove a finished restore's journal");
                }
                Ok(Some(manifest))
            }
            Err(e) => {
                if pass2.roll_back {
                    tracing::warn!(vault = %v.name, job = %job, error = %e, "vault restore failed; rolling back");
                    if let Err(r) = self.roll_back_restore(&v.name, &job) {
                        tracing::error!(vault = %v.name, job = %job, error = %r,
                            "rolling back a failed restore failed; the vault stays unavailable until a restart rolls it back");
                    }
                }
                Err(e)
            }
        }
    }

    /// Pass 2: reads the stream again and writes it in batches. Versions are sealed for the target and encoded
    /// on this thread while the previous batch commits on the store's (one batch in flight: the next is queued
    /// only once the previous has committed). The last batch also removes the mark: that commit is the
    /// restore's. Returns the number of batches.
    #[allow(clippy::too_many_arguments)]
    fn apply_stream<R, F>(
        &self,
        ctx: &Arc<ApplyCtx>,
        open: &F,
        sub: [u8; 16],
        geography: &str,
        keys: &[GeographyKey],
        pass2: &mut Pass2,
        mut single: Option<&mut RestoreReport>,
    ) -> Result<(u64, Manifest)>
    where
        R: Read + 'static,
        F: Fn() -> std::io::Result<R>,
    {
        let mut state = Some(Applying::default());
        let mut in_flight: Option<mpsc::Receiver<Result<Applying>>> = None;
        let mut batch: Vec<Step> = Vec::new();
        let (mut bytes, mut batches) = (0usize, 0u64);
        let mut leaving = false;
        let mut head: Option<(ObjectKind, ObjectName, Version)> = None;
        let read = read_stream(
            open().map_err(unreadable)?,
            sub,
            geography,
            keys,
            &mut |event, len| {
                if let (Some(report), Event::End(head)) = (single.as_deref_mut(), &event) {
                    if selected(head, &ctx.options) {
                        report.add(outcome(head, None, &ctx.options));
                    }
                }
                let step = match event {
                    // With its certificate, if that is restored (decided where it is written).
                    Event::Operation(_) if leaving => return Ok(()),
                    Event::Operation(mut op) => {
                        let name = ObjectName::parse(&op.name)?;
                        op.sealed_key = None;
                        Step::Operation {
                            key: records::certificate_operation_key(&ctx.vault, &name.key()),
                            value: records::encode(&op)?,
                        }
                    }
                    Event::Setting(_) if ctx.options.only.is_some() => return Ok(()),
                    Event::Setting(st) => {
                        leaving = false;
                        let (key, label) = st.place(&ctx.vault);
                        if let Some(report) = single.as_deref_mut() {
                            report.add_setting(label.clone(), "restored");
                        }
                        Step::Setting {
                            value: st.record(&ctx.key, &ctx.vault)?,
                            key,
                            label,
                        }
                    }
                    Event::Begin(h) => {
                        // Objects this restore leaves out whatever the target holds are not even sent.
                        leaving = !selected(h, &ctx.options)
                            || (h.deleted.is_some() && !ctx.options.include_deleted);
                        head = Some((h.kind, h.name.clone(), h.latest.clone()));
                        Step::Begin(h.clone())
                    }
                    Event::Version(_) if leaving => return Ok(()),
                    Event::Version(p) => {
                        let (kind, name, latest) = head
                            .as_ref()
                            .ok_or_else(|| Error::Internal("a version outside an object".into()))?;
                        Step::Version(prepare(ctx, *kind, name, latest, p)?)
                    }
                    Event::End(_) => Step::End,
                };
                if leaving {
                    return Ok(());
                }
                batch.push(step);
                bytes += len;
                if bytes >= pass2.batch_bytes || batch.len() >= pass2.batch_steps {
                    let s = settle(&mut in_flight, &mut state, &mut batches, pass2)?;
                    in_flight = Some(self.submit_batch(ctx, std::mem::take(&mut batch), s, false));
                    bytes = 0;
                }
                Ok(())
            },
        );
        let manifest = match read {
            Ok(m) => m,
            Err(e) => {
                // Let the batch in flight land before the caller rolls back (or stops, as a crash would).
                if let Some(rx) = in_flight.take() {
                    let _ = rx.recv();
                }
                return Err(e);
            }
        };
        let s = settle(&mut in_flight, &mut state, &mut batches, pass2)?;
        // The stream checked out to its manifest: the last batch commits the restore.
        committed(self.submit_batch(ctx, batch, s, true))?;
        Ok((batches + 1, manifest))
    }

    /// Queues one batch as its own exclusive transaction; its outcome (the place in the stream) arrives on the
    /// returned channel once committed.
    fn submit_batch(
        &self,
        ctx: &Arc<ApplyCtx>,
        steps: Vec<Step>,
        state: Applying,
        last: bool,
    ) -> mpsc::Receiver<Result<Applying>> {
        let ctx = ctx.clone();
        let (tx, rx) = mpsc::channel();
        // Batches before the last need not reach the disk on their own: the mark and the journal are durable
        // before the first, a crash is undone from the last durable state (mark still there), and the last
        // batch's durable commit makes every batch before it durable too. This saves two fsyncs per batch.
        self.store.submit_exclusive(
            !last,
            move |txn| {
                let v = current_vault(txn, &ctx)?;
                restore_journal::check_owner(txn, &ctx.vault, &ctx.job)?;
                let mut state = state;
                if ctx.empty_target {
                    // Undoing means emptying the vault again: no entry per key.
                    for step in steps {
                        state.apply(txn, &v, &ctx, step)?;
                    }
                    txn.put_many(&state.out)?;
                    state.out.clear();
                } else {
                    let mut journaled = ctx.journal.record(txn);
                    for step in steps {
                        state.apply(&mut journaled, &v, &ctx, step)?;
                    }
                }
                if last {
                    if state.current.is_some() {
                        return Err(Error::Internal("the restore ended inside an object".into()));
                    }
                    restore_journal::end(txn, &ctx.vault, &ctx.job)?;
                }
                Ok(state)
            },
            move |r| {
                let _ = tx.send(r);
            },
        );
        rx
    }
}

/// The place in the stream to hand the next batch: what the batch in flight left once it has committed (then
/// counted and shown to the after-batch hook), or the start.
fn settle(
    in_flight: &mut Option<mpsc::Receiver<Result<Applying>>>,
    start: &mut Option<Applying>,
    batches: &mut u64,
    pass2: &mut Pass2,
) -> Result<Applying> {
    match in_flight.take() {
        Some(rx) => {
            let s = committed(rx)?;
            *batches += 1;
            if let Some(hook) = pass2.after_batch.as_mut() {
                hook(*batches)?;
            }
            Ok(s)
        }
        None => Ok(start.take().unwrap_or_default()),
    }
}

/// Waits for a queued batch.
fn committed(rx: mpsc::Receiver<Result<Applying>>) -> Result<Applying> {
    rx.recv()
        .unwrap_or_else(|_| Err(Error::Internal("a restore batch was not committed".into())))
}

/// Seals a version for the target vault and encodes its record (and, under the new-version policy, the backup's
/// latest version once more under a fresh id, created now).
fn prepare(
    ctx: &ApplyCtx,
    kind: ObjectKind,
    name: &ObjectName,
    latest: &Version,
    p: VersionPayload,
) -> Result<Prepared> {
    let name_key = name.key();
    let renewed = if ctx.options.conflict == ConflictPolicy::NewVersion && p.version == *latest {
        let mut q = p.clone();
        q.version = keyhaven_crypto::random_version()?;
        q.attributes.created = ctx.now;
        q.attributes.updated = ctx.now;
        let rec = version_record(&ctx.key, &ctx.vault, kind, name, q)?;
        Some(Renewed {
            key: records::version_key(&ctx.vault, kind, &name_key, rec.version.as_str()),
            record: records::encode(&rec)?,
            version: rec.version,
        })
    } else {
        None
    };
    let (version, created) = (p.version.clone(), p.attributes.created);
    let rec = version_record(&ctx.key, &ctx.vault, kind, name, p)?;
    Ok(Prepared {
        key: records::version_key(&ctx.vault, kind, &name_key, version.as_str()),
        record: records::encode(&rec)?,
        version,
        created,
        renewed,
    })
}

fn unreadable(e: std::io::Error) -> Error {
    Error::BadParameter(format!("The backup could not be read: {e}"))
}

/// How pass 2 of a restore cuts its work. Tests make batches small, stop after a given batch, or leave the
/// journal behind as a crash would.
pub(crate) struct Pass2 {
    /// A batch is written once it holds this many bytes of stream records…
    pub batch_bytes: usize,
    /// …or this many records.
    pub batch_steps: usize,
    /// Called after each batch (1, 2, …) has committed; an error stops the restore there.
    pub after_batch: Option<Box<dyn FnMut(u64) -> Result<()> + Send>>,
    /// Roll back when pass 2 fails (turned off only to leave the state a crash leaves).
    pub roll_back: bool,
}

impl Default for Pass2 {
    fn default() -> Self {
        Pass2 {
            batch_bytes: BATCH_BYTES,
            batch_steps: BATCH_STEPS,
            after_batch: None,
            roll_back: true,
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
const BATCH_STEPS: usize = 32_768;

/// What every batch of one restore shares.
#[derive(Clone)]
struct ApplyCtx {
    vault: String,
    wrapped: Vec<u8>,
    key: SealingKey,
    journal: keyhaven_store::UndoJournal,
    job: String,
    options: RestoreOptions,
    now: i64,
    /// The vault was empty when the mark went on (see `restore_journal::MarkRecord`).
    empty_target: bool,
}

/// The target vault as pass 1 judged it (same record, same key), read in a write transaction.
fn current_vault(txn: &mut dyn WriteTxn, ctx: &ApplyCtx) -> Result<VaultRecord> {
    records::read_txn(txn, &records::vault_key(&ctx.vault))?
        .filter(|c: &VaultRecord| c.wrapped_key == ctx.wrapped)
        .ok_or_else(|| Error::VaultNotFound(ctx.vault.clone()))
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
        settings: 0,
        digest: String::new(),
    }
}

/// An object as its `object` record announces it.
#[derive(Clone)]
struct ObjectHead {
    kind: ObjectKind,
    name: ObjectName,
    latest: Version,
    deleted: Option<DeletedRecord>,
    policy: Option<serde_json::Value>,
    versions: u64,
}

/// What [`read_stream`] hands out, in stream order. `End` comes only once the object's digest, version count and
/// latest version have been checked; until the stream has ended with a good manifest, everything is provisional.
enum Event<'a> {
    Begin(&'a ObjectHead),
    Version(VersionPayload),
    End(&'a ObjectHead),
    /// A vault setting (outside any object).
    Setting(Setting),
    /// The create operation of the certificate that has just ended.
    Operation(Box<OperationRecord>),
}

/// Reads a whole stream, handing each event (and the length of the record it came from) to `each`, and
/// returns the checked manifest. Holds one record at a time.
fn read_stream<R: Read>(
    input: R,
    sub: [u8; 16],
    geography: &str,
    keys: &[GeographyKey],
    each: &mut dyn FnMut(Event<'_>, usize) -> Result<()>,
) -> Result<Manifest> {
    let bad = |m: &str| Error::BadParameter(format!("The vault backup is not valid: {m}."));
    let mut r = SnapshotReader::open(input, sub, geography, keys)?;
    let mut all = Sha256::default();
    let mut counts = empty_manifest();
    // The open object: its head, versions seen, whether its latest version was among them, its digest so far.
    let mut current: Option<(ObjectHead, u64, bool, Sha256)> = None;
    // The object that has just ended (a certificate's operation may follow it).
    let mut last_ended: Option<(ObjectKind, ObjectName)> = None;
    while let Some(bytes) = r.next_record()? {
        let rec = RecordIn::decode(&bytes).ok_or_else(|| bad("a record does not decode"))?;
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
                last_ended = None;
                let mut d = Sha256::default();
                d.update(&bytes);
                let head = ObjectHead {
                    kind,
                    name,
                    latest,
                    deleted,
                    policy,
                    versions,
                };
                let (head, ..) = current.insert((head, 0, false, d));
                each(Event::Begin(head), bytes.len())?;
            }
            Record::Version { v } => {
                let Some((head, seen, has_latest, d)) = current.as_mut() else {
                    return Err(bad("a version outside an object"));
                };
                if *seen >= head.versions {
                    return Err(bad("an object holds more versions than it announced"));
                }
                d.update(&bytes);
                *seen += 1;
                *has_latest |= v.version == head.latest;
                each(Event::Version(v), bytes.len())?;
            }
            Record::End { digest } => {
                let Some((head, seen, has_latest, d)) = current.take() else {
                    return Err(bad("an object end without a start"));
                };
                let got = d.finish();
                if hex(&got) != digest || seen != head.versions {
                    return Err(bad("an object's digest or version count does not match"));
                }
                if !has_latest {
                    return Err(bad("an object names a latest version it does not hold"));
                }
                all.update(&got);
                match head.kind {
                    ObjectKind::Secret => counts.secrets += 1,
                    ObjectKind::Key => counts.keys += 1,
                    ObjectKind::Certificate => counts.certificates += 1,
                }
                counts.deleted_objects += u64::from(head.deleted.is_some());
                counts.versions += seen;
                each(Event::End(&head), bytes.len())?;
                last_ended = Some((head.kind, head.name.clone()));
            }
            Record::Operation { operation } => {
                let follows = matches!(
                    (&last_ended, ObjectName::parse(&operation.name)),
                    (Some((ObjectKind::Certificate, n)), Ok(op)) if *n == op
                );
                if current.is_some() || !follows {
                    return Err(bad(
                        "a certificate operation does not follow its certificate",
                    ));
                }
                last_ended = None;
                all.update(&keyhaven_crypto::sha256(&bytes));
                counts.settings += 1;
                each(Event::Operation(operation), bytes.len())?;
            }
            Record::Issuer { .. } | Record::Contacts { .. } => {
                last_ended = None;
                if current.is_some() {
                    return Err(bad("a vault setting inside an object"));
                }
                all.update(&keyhaven_crypto::sha256(&bytes));
                counts.settings += 1;
                let setting = match rec {
                    Record::Issuer { issuer } => Setting::Issuer(
                        ObjectName::parse(&issuer.record.name)
                            .map_err(|_| bad("an issuer's name is not valid"))?,
                        issuer,
                    ),
                    Record::Contacts { contacts } => Setting::Contacts(contacts),
                    _ => return Err(bad("a record does not decode")),
                };
                each(Event::Setting(setting), bytes.len())?;
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
            m.settings,
        ) != (
            counts.secrets,
            counts.keys,
            counts.certificates,
            counts.deleted_objects,
            counts.versions,
            counts.settings,
        )
    {
        return Err(bad("the manifest does not match the records"));
    }
    Ok(m)
}

fn selected(o: &ObjectHead, options: &RestoreOptions) -> bool {
    match &options.only {
        // A certificate comes with the key and secret it manages (same name).
        Some((kind, name)) => {
            *name == o.name
                && (*kind == o.kind
                    || (*kind == ObjectKind::Certificate
                        && crate::certificates::MANAGED_KINDS.contains(&o.kind)))
        }
        None => true,
    }
}

/// What restoring `o` into `vault` would do, judged on a snapshot.
fn plan(
    snap: &dyn keyhaven_store::Snapshot,
    vault: &str,
    o: &ObjectHead,
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
    o: &ObjectHead,
    existing: Option<&ObjectRecord>,
    options: &RestoreOptions,
) -> ObjectOutcome {
    let mut versions = o.versions;
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

/// One record's worth of pass-2 work, carried from the stream reader to a batch transaction.
enum Step {
    Begin(ObjectHead),
    Version(Prepared),
    End,
    /// The create operation of the certificate just ended, its record ready for the target.
    Operation {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// A vault setting, its record ready for the target.
    Setting {
        key: Vec<u8>,
        value: Vec<u8>,
        label: String,
    },
}

/// A version ready to be written into the target vault.
struct Prepared {
    version: Version,
    created: i64,
    key: Vec<u8>,
    record: Vec<u8>,
    renewed: Option<Renewed>,
}

/// The backup's latest version under a fresh id, for the new-version conflict policy.
struct Renewed {
    version: Version,
    key: Vec<u8>,
    record: Vec<u8>,
}

/// Pass 2's place in the stream, carried from one batch to the next (an object may span batches).
#[derive(Default)]
struct Applying {
    current: Option<Current>,
    /// Whether the object that has just ended was restored (its certificate operation, if any, follows it).
    last_restored: bool,
    /// Into an empty target: the batch's writes, made in one go at its end (nothing is read back).
    out: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Current {
    head: ObjectHead,
    okey: Vec<u8>,
    how: How,
}

enum How {
    /// Skipped (or left out): its records are read past.
    Leave,
    /// The backup's latest version goes on top of the existing object.
    NewVersion { obj: ObjectRecord, written: bool },
    /// Restored with all its versions; the object record is written at its end.
    Restore {
        obj: ObjectRecord,
        latest_created: Option<i64>,
    },
}

impl Applying {
    /// Writes one entry: into an empty target, gathered for the batch's single `put_many`; otherwise at once.
    fn write(
        &mut self,
        txn: &mut dyn WriteTxn,
        ctx: &ApplyCtx,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<()> {
        if ctx.empty_target {
            self.out.push((key, value));
        } else {
            txn.put(&key, &value)?;
        }
        Ok(())
    }

    /// Writes one step (judging conflicts again on the current state).
    fn apply(
        &mut self,
        txn: &mut dyn WriteTxn,
        v: &VaultRecord,
        ctx: &ApplyCtx,
        step: Step,
    ) -> Result<()> {
        let lost = || Error::Internal("the restore lost its place in the stream".into());
        match step {
            Step::Begin(head) => {
                if self.current.is_some() {
                    return Err(lost());
                }
                self.last_restored = false;
                let okey = records::object_key(&v.name, head.kind, &head.name.key());
                // Under the mark, a vault that was empty holds only what this restore wrote.
                let existing: Option<ObjectRecord> = if ctx.empty_target {
                    None
                } else {
                    records::read_txn(txn, &okey)?
                };
                let decision = outcome(&head, existing.as_ref(), &ctx.options);
                let how = match decision.action {
                    "excluded-deleted" | "skipped" => How::Leave,
                    "conflict" => {
                        return Err(Error::Conflict(format!(
                            "{} {} already exists in vault '{}'; nothing was restored.",
                            head.kind.title(),
                            head.name,
                            v.name
                        )))
                    }
                    "new-version" => How::NewVersion {
                        obj: existing
                            .ok_or_else(|| Error::Internal("existing object vanished".into()))?,
                        written: false,
                    },
                    _ => How::Restore {
                        obj: ObjectRecord {
                            name: head.name.as_str().to_string(),
                            latest: head.latest.clone(),
                            latest_created: 0,
                            deleted: head.deleted.clone(),
                            policy: head.policy.clone(),
                        },
                        latest_created: None,
                    },
                };
                self.current = Some(Current { head, okey, how });
            }
            Step::Operation { key, value } => {
                if self.current.is_some() {
                    return Err(lost());
                }
                if std::mem::take(&mut self.last_restored) {
                    self.write(txn, ctx, key, value)?;
                }
            }
            Step::Setting { key, value, label } => {
                if self.current.is_some() {
                    return Err(lost());
                }
                if ctx.empty_target {
                    return self.write(txn, ctx, key, value);
                }
                match setting_action(txn.get(&key)?.is_some(), &ctx.options) {
                    "conflict" => {
                        return Err(Error::Conflict(format!(
                            "The certificate {label} already exists in vault '{}'; nothing was restored.",
                            v.name
                        )))
                    }
                    "skipped" => {}
                    _ => txn.put(&key, &value)?,
                }
            }
            Step::Version(p) => {
                let cur = self.current.as_mut().ok_or_else(lost)?;
                match &mut cur.how {
                    How::Leave => {}
                    How::NewVersion { obj, written } => {
                        if *written || p.version != cur.head.latest {
                            return Ok(());
                        }
                        let r = p.renewed.ok_or_else(|| {
                            Error::Internal("the new version was not prepared".into())
                        })?;
                        txn.put(&r.key, &r.record)?;
                        obj.latest = r.version;
                        obj.latest_created = ctx.now;
                        records::write_txn(txn, &cur.okey, obj)?;
                        *written = true;
                    }
                    How::Restore { latest_created, .. } => {
                        // Into a vault that was empty under the mark nothing can be there already.
                        if !ctx.empty_target && txn.get(&p.key)?.is_some() {
                            return Ok(());
                        }
                        if p.version == cur.head.latest {
                            *latest_created = Some(p.created);
                        }
                        self.write(txn, ctx, p.key, p.record)?;
                    }
                }
            }
            Step::End => {
                let cur = self.current.take().ok_or_else(lost)?;
                match cur.how {
                    How::Leave => {}
                    How::NewVersion { written, .. } => {
                        if !written {
                            return Err(Error::Internal("latest version vanished".into()));
                        }
                    }
                    How::Restore {
                        mut obj,
                        latest_created,
                    } => {
                        if let Some(created) = latest_created {
                            obj.latest_created = created;
                        }
                        self.write(txn, ctx, cur.okey, records::encode(&obj)?)?;
                        self.last_restored = true;
                    }
                }
            }
        }
        Ok(())
    }
}
