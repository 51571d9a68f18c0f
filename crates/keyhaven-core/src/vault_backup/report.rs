//! What a restore did (or, in a dry run, would do) to each object and vault setting, and how it decides.

use super::read::ObjectHead;
use super::{ConflictPolicy, Manifest, RestoreOptions};
use crate::records::{self, ObjectRecord};
use crate::{Error, Result};
use keyhaven_model::ObjectKind;
use serde::{Deserialize, Serialize};

/// Per-object outcomes listed in a restore report (counts are always complete).
pub(super) const REPORT_LIMIT: usize = 10_000;

/// What a restore does with one object of the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectAction {
    /// Written with all its versions.
    Restored,
    /// Written with all its versions, as a soft-deleted object.
    RestoredDeleted,
    /// Left as the target has it (conflict policy skip).
    Skipped,
    /// The backup's latest version written on top of the existing object (conflict policy new-version).
    NewVersion,
    /// The target has it; under the conflict policy fail, the restore is refused.
    Conflict,
    /// Soft-deleted in the backup and left out (deleted objects were not asked for).
    ExcludedDeleted,
}

/// What happened (or, in a dry run, would happen) to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectOutcome {
    /// The object's kind.
    pub kind: ObjectKind,
    /// The object's name.
    pub name: String,
    /// What the restore does with it.
    pub action: ObjectAction,
    /// The object's versions in the backup; 1 when only a new version goes on top of an existing object.
    pub versions: u64,
}

/// What a restore did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Whether this was a dry run: nothing was written.
    pub dry_run: bool,
    /// Objects written (restored, restored as deleted, or given a new version).
    pub restored: u64,
    /// Objects left out: existing ones under the conflict policy skip, and deleted ones not asked for.
    pub skipped: u64,
    /// Objects and settings the target already has and the conflict policy does not settle (under fail, every
    /// one; under new-version, an object deleted on either side). Any refuses the restore; a dry run counts them.
    pub conflicts: u64,
    /// Versions written, over all restored objects.
    pub versions_written: u64,
    /// Each object's outcome, in backup order; the first 10,000 only (the counts above are complete).
    pub objects: Vec<ObjectOutcome>,
    /// Whether `objects` was cut short at its limit.
    pub objects_truncated: bool,
    /// What happened to each vault setting (certificate issuers and contacts); a conflict counts in `conflicts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<SettingOutcome>,
}

/// What a restore does with one vault setting (a certificate issuer, the contacts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingAction {
    /// Written: the target did not have it.
    Restored,
    /// The target's replaced by the backup's (conflict policy new-version).
    Replaced,
    /// The target's left as it is (conflict policy skip).
    Skipped,
    /// The target has it; under the conflict policy fail, the restore is refused.
    Conflict,
}

/// What happened (or would happen) to one vault setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingOutcome {
    /// `contacts` or `issuer NAME`.
    pub setting: String,
    /// What the restore does with it.
    pub action: SettingAction,
}

/// What restoring a setting does, given whether the target has it already.
pub(super) fn setting_action(exists: bool, options: &RestoreOptions) -> SettingAction {
    match (exists, options.conflict) {
        (false, _) => SettingAction::Restored,
        (true, ConflictPolicy::Fail) => SettingAction::Conflict,
        (true, ConflictPolicy::Skip) => SettingAction::Skipped,
        (true, ConflictPolicy::NewVersion) => SettingAction::Replaced,
    }
}

impl RestoreReport {
    pub(super) fn new(dry_run: bool) -> Self {
        RestoreReport {
            manifest: Manifest::empty(),
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

    pub(super) fn add_setting(&mut self, setting: String, action: SettingAction) {
        if action == SettingAction::Conflict {
            self.conflicts += 1;
        }
        if self.settings.len() < REPORT_LIMIT {
            self.settings.push(SettingOutcome { setting, action });
        }
    }

    pub(super) fn add(&mut self, outcome: ObjectOutcome) {
        match outcome.action {
            ObjectAction::Skipped | ObjectAction::ExcludedDeleted => self.skipped += 1,
            ObjectAction::Conflict => self.conflicts += 1,
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
pub(super) fn nothing_selected(report: &RestoreReport, options: &RestoreOptions) -> Result<()> {
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

pub(super) fn selected(o: &ObjectHead, options: &RestoreOptions) -> bool {
    match &options.only {
        // A certificate comes with the key and secret it manages (same name).
        Some((kind, name)) => {
            *name == o.name
                && (*kind == o.kind
                    || (*kind == ObjectKind::Certificate && kind.managed_kinds().contains(&o.kind)))
        }
        None => true,
    }
}

/// What restoring `o` into `vault` would do, judged on a snapshot.
pub(super) fn plan(
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

pub(super) fn outcome(
    o: &ObjectHead,
    existing: Option<&ObjectRecord>,
    options: &RestoreOptions,
) -> ObjectOutcome {
    let mut versions = o.versions;
    let action = if o.deleted.is_some() && !options.include_deleted {
        ObjectAction::ExcludedDeleted
    } else {
        match (existing, options.conflict) {
            (None, _) if o.deleted.is_some() => ObjectAction::RestoredDeleted,
            (None, _) => ObjectAction::Restored,
            (Some(_), ConflictPolicy::Fail) => ObjectAction::Conflict,
            (Some(_), ConflictPolicy::Skip) => ObjectAction::Skipped,
            (Some(e), ConflictPolicy::NewVersion) if e.deleted.is_none() && o.deleted.is_none() => {
                ObjectAction::NewVersion
            }
            (Some(_), ConflictPolicy::NewVersion) => ObjectAction::Conflict,
        }
    };
    if action == ObjectAction::NewVersion {
        versions = 1;
    }
    ObjectOutcome {
        kind: o.kind,
        name: o.name.as_str().to_string(),
        action,
        versions,
    }
}
