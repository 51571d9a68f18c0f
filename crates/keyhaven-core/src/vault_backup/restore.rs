//! Restoring a vault backup: pass 1 checks and plans without writing; pass 2 writes in bounded batches under
//! the restore mark and the undo journal (`restore_journal`), so that the restore is all or nothing, also across a
//! crash. Into an empty vault, one pass that checks while it writes.

use super::apply::{current_vault, prepare, ApplyCtx, Applying, Step};
use super::read::{read_stream, unreadable, Event};
use super::report::{
    nothing_selected, outcome, plan, selected, setting_action, ObjectAction, SettingAction,
};
use super::{ConflictPolicy, Manifest, RestoreOptions, RestoreProgress, RestoreReport};
use crate::geography::subscription_bytes;
use crate::records::{self, VaultRecord};
use crate::restore_journal;
use crate::{Action, Error, Keyhaven, Principal, Resource, Result};
use keyhaven_blob::GeographyKey;
use keyhaven_crypto::hex;
use keyhaven_model::{ObjectKind, ObjectName, VaultName, Version};
use keyhaven_store::keys::prefix_end;
use std::io::Read;
use std::sync::{mpsc, Arc};

/// Whether a vault holds no object and no version.
pub(super) fn vault_is_empty(snap: &dyn keyhaven_store::Snapshot, vault: &str) -> Result<bool> {
    for p in records::vault_contents_prefixes(vault) {
        if !snap.scan(&p, &prefix_end(&p), 1)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Keyhaven {
    /// Restores a vault backup into `vault`. `open` yields the backup stream (it is read twice unless the vault is
    /// empty). `progress` is called after each committed batch of the writing pass; an error from it stops the
    /// restore, which is then rolled back like any other failure. Synchronous, and long for a large backup: run it
    /// on a blocking thread.
    pub fn restore_vault<R, F>(
        &self,
        who: &Principal,
        vault: &VaultName,
        open: F,
        options: RestoreOptions,
        progress: &mut dyn FnMut(RestoreProgress) -> Result<()>,
    ) -> Result<RestoreReport>
    where
        R: Read + 'static,
        F: Fn() -> std::io::Result<R> + Send + Sync + 'static,
    {
        who.authorize(Action::VaultRestore, &Resource::vault(vault))?;
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
                progress,
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
                .filter(|o| o.action == ObjectAction::Conflict)
                .map(|o| o.name.clone())
                .chain(
                    report
                        .settings
                        .iter()
                        .filter(|o| o.action == SettingAction::Conflict)
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

        self.write_pass(&v, &open, sub, &keys, options, progress, None)?;
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
        progress: &mut dyn FnMut(RestoreProgress) -> Result<()>,
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
            key: self.barrier.vault_key(v)?,
            journal: restore_journal::journal(&job)?,
            job: job.clone(),
            options,
            now: self.now(),
            empty_target: false,
        });
        // The job's lease first (other nodes leave a restore alone while its lease is held; see
        // `restore_journal`), held until the journal is gone or the rollback done.
        let lease = self
            .store
            .try_lease(
                &restore_journal::lease_name(&job),
                restore_journal::LEASE_TTL,
            )?
            .ok_or_else(|| Error::Internal(format!("the lease of restore job {job} is taken")))?;
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
        // Before each batch: a restore whose lease lapsed (its node could not keep it alive) stops, since another
        // node may be rolling it back.
        let mut guarded = |p: RestoreProgress| {
            if !lease.is_held() {
                return Err(Error::Store(keyhaven_store::StoreError::unavailable(
                    "the restore lost its lease (the database could not be reached in time)",
                )));
            }
            progress(p)
        };
        match self.apply_stream(&ctx, open, sub, &v.geography, keys, &mut guarded, single) {
            Ok((batches, manifest)) => {
                tracing::info!(vault = %v.name, job = %job, batches, "vault restore committed");
                if let Err(e) = self.discard_restore_journal(&job) {
                    // Harmless: a journal without a mark is removed at the next start.
                    tracing::warn!(vault = %v.name, job = %job, error = %e, "could not remove a finished restore's journal");
                }
                Ok(Some(manifest))
            }
            Err(e) => {
                // Whoever holds the lease rolls back: this node, or (once it lapsed) the node that took it over.
                let lease = if lease.is_held() {
                    Some(lease)
                } else {
                    drop(lease);
                    self.store
                        .try_lease(
                            &restore_journal::lease_name(&job),
                            restore_journal::LEASE_TTL,
                        )
                        .ok()
                        .flatten()
                };
                if lease.is_none() {
                    tracing::warn!(vault = %v.name, job = %job, error = %e, "vault restore failed; the node holding its lease rolls it back");
                    return Err(e);
                }
                tracing::warn!(vault = %v.name, job = %job, error = %e, "vault restore failed; rolling back");
                if let Err(r) = self.roll_back_restore(&v.name, &job) {
                    tracing::error!(vault = %v.name, job = %job, error = %r,
                        "rolling back a failed restore failed; the vault stays unavailable until recovery rolls it back");
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
        progress: &mut dyn FnMut(RestoreProgress) -> Result<()>,
        mut single: Option<&mut RestoreReport>,
    ) -> Result<(u64, Manifest)>
    where
        R: Read + 'static,
        F: Fn() -> std::io::Result<R>,
    {
        let mut state = Some(Applying::default());
        let mut in_flight: Option<mpsc::Receiver<Result<Applying>>> = None;
        let mut batch: Vec<Step> = Vec::new();
        let (mut bytes, mut batches, mut consumed) = (0usize, 0u64, 0u64);
        let limits = self.settings.restore_batch;
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
                            report.add_setting(label.clone(), SettingAction::Restored);
                        }
                        Step::Setting {
                            value: st.record(&ctx.key)?,
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
                consumed += len as u64;
                if bytes >= limits.bytes || batch.len() >= limits.records {
                    let s = settle(&mut in_flight, &mut state, &mut batches, consumed, progress)?;
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
        let s = settle(&mut in_flight, &mut state, &mut batches, consumed, progress)?;
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
/// counted and reported), or the start.
pub(super) fn settle(
    in_flight: &mut Option<mpsc::Receiver<Result<Applying>>>,
    start: &mut Option<Applying>,
    batches: &mut u64,
    bytes: u64,
    progress: &mut dyn FnMut(RestoreProgress) -> Result<()>,
) -> Result<Applying> {
    match in_flight.take() {
        Some(rx) => {
            let s = committed(rx)?;
            *batches += 1;
            progress(RestoreProgress {
                batches: *batches,
                bytes,
            })?;
            Ok(s)
        }
        None => Ok(start.take().unwrap_or_default()),
    }
}

/// Waits for a queued batch.
pub(super) fn committed(rx: mpsc::Receiver<Result<Applying>>) -> Result<Applying> {
    rx.recv()
        .unwrap_or_else(|_| Err(Error::Internal("a restore batch was not committed".into())))
}
