//! Pass 2's unit of work: each stream record becomes a step, prepared (sealed for the target, encoded) on the
//! reading thread and written by a batch transaction, which judges conflicts again on the current state.

use super::read::ObjectHead;
use super::report::{outcome, setting_action, ObjectAction, SettingAction};
use super::{ConflictPolicy, RestoreOptions};
use crate::backup::{version_record, VersionPayload};
use crate::records::{self, ObjectRecord, VaultRecord};
use crate::sealing::VaultKey;
use crate::{Error, Result};
use keyhaven_model::{ObjectKind, ObjectName, Version};
use keyhaven_store::WriteTxn;

#[derive(Clone)]
pub(super) struct ApplyCtx {
    pub(super) vault: String,
    pub(super) wrapped: Vec<u8>,
    pub(super) key: std::sync::Arc<VaultKey>,
    pub(super) journal: keyhaven_store::UndoJournal,
    pub(super) job: String,
    pub(super) options: RestoreOptions,
    pub(super) now: i64,
    /// The vault was empty when the mark went on (see `restore_journal::MarkRecord`).
    pub(super) empty_target: bool,
}

/// The target vault as pass 1 judged it (same record, same key), read in a write transaction.
pub(super) fn current_vault(txn: &mut dyn WriteTxn, ctx: &ApplyCtx) -> Result<VaultRecord> {
    records::read_txn(txn, &records::vault_key(&ctx.vault))?
        .filter(|c: &VaultRecord| c.wrapped_key == ctx.wrapped)
        .ok_or_else(|| Error::VaultNotFound(ctx.vault.clone()))
}

/// Seals a version for the target vault and encodes its record (and, under the new-version policy, the backup's
/// latest version once more under a fresh id, created now).
pub(super) fn prepare(
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
        let rec = version_record(&ctx.key, kind, name, q)?;
        Some(Renewed {
            key: records::version_key(&ctx.vault, kind, &name_key, rec.version.as_str()),
            record: records::encode(&rec)?,
            version: rec.version,
        })
    } else {
        None
    };
    let (version, created) = (p.version.clone(), p.attributes.created);
    let rec = version_record(&ctx.key, kind, name, p)?;
    Ok(Prepared {
        key: records::version_key(&ctx.vault, kind, &name_key, version.as_str()),
        record: records::encode(&rec)?,
        version,
        created,
        renewed,
    })
}

pub(super) enum Step {
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
pub(super) struct Prepared {
    pub(super) version: Version,
    pub(super) created: i64,
    pub(super) key: Vec<u8>,
    pub(super) record: Vec<u8>,
    pub(super) renewed: Option<Renewed>,
}

/// The backup's latest version under a fresh id, for the new-version conflict policy.
pub(super) struct Renewed {
    pub(super) version: Version,
    pub(super) key: Vec<u8>,
    pub(super) record: Vec<u8>,
}

/// Pass 2's place in the stream, carried from one batch to the next (an object may span batches).
#[derive(Default)]
pub(super) struct Applying {
    pub(super) current: Option<Current>,
    /// Whether the object that has just ended was restored (its certificate operation, if any, follows it).
    pub(super) last_restored: bool,
    /// Into an empty target: the batch's writes, made in one go at its end (nothing is read back).
    pub(super) out: Vec<(Vec<u8>, Vec<u8>)>,
}

pub(super) struct Current {
    pub(super) head: ObjectHead,
    pub(super) okey: Vec<u8>,
    pub(super) how: How,
}

pub(super) enum How {
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
    pub(super) fn write(
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
    pub(super) fn apply(
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
                    ObjectAction::ExcludedDeleted | ObjectAction::Skipped => How::Leave,
                    ObjectAction::Conflict => {
                        return Err(Error::Conflict(format!(
                            "{} {} already exists in vault '{}'; nothing was restored.",
                            head.kind.title(),
                            head.name,
                            v.name
                        )))
                    }
                    ObjectAction::NewVersion => How::NewVersion {
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
                    SettingAction::Conflict => {
                        return Err(Error::Conflict(format!(
                            "The certificate {label} already exists in vault '{}'; nothing was restored.",
                            v.name
                        )))
                    }
                    SettingAction::Skipped => {}
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
