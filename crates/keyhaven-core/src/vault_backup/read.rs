//! Reading a vault backup stream: every chunk, record, digest and the manifest checked, events handed out in
//! stream order. Verification is a read that keeps nothing.

use super::stream::{Record, RecordIn, Setting};
use super::{Manifest, MANIFEST_FORMAT};
use crate::backup::VersionPayload;
use crate::certificates::OperationRecord;
use crate::geography::subscription_bytes;
use crate::records::DeletedRecord;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_blob::vault_snapshot::SnapshotReader;
use keyhaven_blob::GeographyKey;
use keyhaven_crypto::{hex, Sha256};
use keyhaven_model::{ObjectKind, ObjectName, VaultName, Version};
use std::io::Read;

/// What a vault backup is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyTarget {
    /// The keys of a vault's geography (allowed to whoever may verify backups of that vault).
    Vault(VaultName),
    /// The keys of a geography (allowed to whoever may verify backups deployment-wide).
    Geography(String),
}

impl Keyhaven {
    /// Authorizes checking a vault backup against `target`, and names the geography whose keys it needs.
    pub fn authorize_verify(&self, who: &Principal, target: &VerifyTarget) -> Result<String> {
        match target {
            VerifyTarget::Vault(v) => {
                who.authorize(Action::VaultBackupVerify, &Resource::vault(v))?;
                Ok(self.vault_record(&*self.snapshot()?, v.as_str())?.geography)
            }
            VerifyTarget::Geography(g) => {
                who.authorize(Action::VaultBackupVerify, &Resource::Deployment)?;
                Ok(g.to_ascii_lowercase())
            }
        }
    }

    /// Checks a vault backup end to end (every chunk, record, digest and the manifest) without restoring it.
    pub fn verify_vault_backup<R: Read>(
        &self,
        who: &Principal,
        input: R,
        target: &VerifyTarget,
    ) -> Result<Manifest> {
        let geography = self.authorize_verify(who, target)?;
        let (_, keys) = self.geography_keys(&*self.snapshot()?, &geography)?;
        let sub = subscription_bytes(&self.deployment()?.subscription_id)?;
        read_stream(input, sub, &geography, &keys, &mut |_, _| Ok(()))
    }
}

#[derive(Clone)]
pub(super) struct ObjectHead {
    pub(super) kind: ObjectKind,
    pub(super) name: ObjectName,
    pub(super) latest: Version,
    pub(super) deleted: Option<DeletedRecord>,
    pub(super) policy: Option<serde_json::Value>,
    pub(super) versions: u64,
}

/// What [`read_stream`] hands out, in stream order. `End` comes only once the object's digest, version count and
/// latest version have been checked; until the stream has ended with a good manifest, everything is provisional.
pub(super) enum Event<'a> {
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
pub(super) fn read_stream<R: Read>(
    input: R,
    sub: [u8; 16],
    geography: &str,
    keys: &[GeographyKey],
    each: &mut dyn FnMut(Event<'_>, usize) -> Result<()>,
) -> Result<Manifest> {
    let bad = |m: &str| Error::BadParameter(format!("The vault backup is not valid: {m}."));
    let mut r = SnapshotReader::open(input, sub, geography, keys)?;
    let mut all = Sha256::default();
    let mut counts = Manifest::empty();
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

pub(super) fn unreadable(e: std::io::Error) -> Error {
    Error::BadParameter(format!("The backup could not be read: {e}"))
}
