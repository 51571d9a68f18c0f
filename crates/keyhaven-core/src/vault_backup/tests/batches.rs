//! Restores written in batches: all or nothing through the restore journal, across failures and crashes.

use super::*;

#[tokio::test]
async fn a_restore_in_many_batches_writes_what_one_transaction_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let kh = service(dir.path(), clock.clone());
    let (src, _, data) = source_and_target(&kh, &clock).await;
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let a = vault(&kh, "batched").await;
    let report = restore_with(
        &kh,
        &a,
        data.clone(),
        new_version_with_deleted(),
        after_batches(committed.clone(), None, None),
    )
    .unwrap();
    assert_eq!(report.restored, 121);
    let batches = committed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(batches >= 10, "written in many batches: {batches}");
    let b = vault(&kh, "single").await;
    restore(&kh, &b, data, new_version_with_deleted())
        .await
        .unwrap();
    assert_eq!(listing(&kh, &a), listing(&kh, &b));
    assert_eq!(listing(&kh, &a), listing(&kh, &src));
    assert!(
        !everything(&kh)
            .iter()
            .any(|(k, _)| k.starts_with(b"restore\0")),
        "no mark or journal is left after a restore"
    );
}

#[tokio::test]
async fn a_failure_in_a_late_batch_leaves_the_target_exactly_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let kh = service(dir.path(), clock.clone());
    let (_, dst, data) = source_and_target(&kh, &clock).await;
    let store_before = everything(&kh);
    let seen_before = listing(&kh, &dst);
    assert!(seen_before.len() > 30);

    // A storage failure after batch 12 of 15.
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let r = restore_with(
        &kh,
        &dst,
        data.clone(),
        new_version_with_deleted(),
        after_batches(committed.clone(), Some(12), None),
    );
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
    assert_eq!(committed.load(std::sync::atomic::Ordering::SeqCst), 12);
    assert_eq!(listing(&kh, &dst), seen_before, "injected failure");
    assert_eq!(
        everything(&kh),
        store_before,
        "injected failure: the store is as before"
    );

    // A backup whose last chunk is damaged between the two passes (pass 1 reads the good copy): pass 2 fails at
    // the very end, after every object has been written.
    let mut damaged = data.clone();
    let at = damaged.len() - 40;
    damaged[at] ^= 0x01;
    let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (good, bad) = (Arc::new(data.clone()), Arc::new(damaged));
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let r = batched(&kh).restore_vault(
        &admin(),
        &dst,
        {
            let reads = reads.clone();
            move || {
                let first = reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
                let bytes = if first { &good } else { &bad };
                Ok(std::io::Cursor::new(bytes.as_ref().clone()))
            }
        },
        new_version_with_deleted(),
        &mut after_batches(committed.clone(), None, None),
    );
    assert!(matches!(r, Err(Error::BadBackup(_))), "{r:?}");
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(
        committed.load(std::sync::atomic::Ordering::SeqCst) >= 8,
        "the damage was found after many batches"
    );
    assert_eq!(listing(&kh, &dst), seen_before, "bad last chunk");
    assert_eq!(
        everything(&kh),
        store_before,
        "bad last chunk: the store is as before"
    );

    // Nothing is left in the way: the same restore now succeeds.
    let r = restore(&kh, &dst, data, new_version_with_deleted())
        .await
        .unwrap();
    assert_eq!((r.restored, r.skipped), (121, 0));
    let n = ObjectName::parse("s055").unwrap();
    assert_eq!(
        kh.get_secret(&admin(), &dst, &n, None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        format!("src-55-2-{}", "v".repeat(200)),
        "new-version put the backup's latest on top"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_a_vault_being_restored_are_refused_until_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let kh = service(dir.path(), clock.clone());
    let (src, dst, data) = source_and_target(&kh, &clock).await;
    let checked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = {
        let (kh, src, dst, checked) = (kh.clone(), src.clone(), dst.clone(), checked.clone());
        move |p: RestoreProgress| {
            let n = p.batches;
            {
                if n != 3 {
                    return Ok(());
                }
                let n55 = ObjectName::parse("s055").unwrap();
                let busy = |r: Result<()>| {
                    assert!(
                        matches!(&r, Err(Error::RestoreInProgress { vault }) if vault == "dst"),
                        "{r:?}"
                    )
                };
                busy(kh.get_secret(&admin(), &dst, &n55, None).map(drop));
                busy(
                    kh.list_objects(
                        &admin(),
                        &dst,
                        ObjectKind::Secret,
                        false,
                        &PageRequest::default(),
                    )
                    .map(drop),
                );
                busy(kh.get_vault(&admin(), &dst).map(drop));
                // Its jobs may still be asked about (the restore's own status above all).
                kh.authorize_vault_job(&admin(), &dst, true).unwrap();
                kh.authorize_vault_job(&admin(), &dst, false).unwrap();
                busy(
                    kh.backup_vault(&admin(), &dst, false, Vec::new(), &mut |_| {})
                        .map(drop),
                );
                busy(
                    kh.backup_object(&admin(), &dst, ObjectKind::Secret, &n55)
                        .map(drop),
                );
                // Writes, from another thread with a runtime of its own.
                let (kh2, dst2) = (kh.clone(), dst.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let n = ObjectName::parse("s209").unwrap();
                        let r = kh2.set_secret(&admin(), &dst2, &n, secret("late")).await;
                        assert!(matches!(r, Err(Error::RestoreInProgress { .. })), "{r:?}");
                        let r = kh2
                            .delete_object(&admin(), &dst2, ObjectKind::Secret, &n)
                            .await;
                        assert!(matches!(r, Err(Error::RestoreInProgress { .. })), "{r:?}");
                        let r = kh2.delete_vault(&admin(), &dst2).await;
                        assert!(matches!(r, Err(Error::RestoreInProgress { .. })), "{r:?}");
                        let r = restore(&kh2, &dst2, Vec::new(), RestoreOptions::default()).await;
                        assert!(matches!(r, Err(Error::RestoreInProgress { .. })), "{r:?}");
                        // Background work goes on, leaving the vault alone.
                        kh2.purge_expired().await.unwrap();
                        kh2.run_lifetime_actions().await.unwrap();
                    })
                })
                .join()
                .unwrap();
                // Other vaults serve as usual.
                assert!(kh.get_secret(&admin(), &src, &n55, None).is_ok());
                checked.store(n, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
        }
    };
    let kh2 = kh.clone();
    let dst2 = dst.clone();
    tokio::task::spawn_blocking(move || {
        restore_with(&kh2, &dst2, data, new_version_with_deleted(), progress)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(checked.load(std::sync::atomic::Ordering::SeqCst), 3);
    let n = ObjectName::parse("s209").unwrap();
    assert_eq!(
        kh.get_secret(&admin(), &dst, &n, None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "dst-209",
        "served again once the restore has committed; the refused write left nothing"
    );
}

#[tokio::test]
async fn a_restore_abandoned_part_way_is_rolled_back_when_the_service_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let root = SealingKey::generate().unwrap();
    let kh = service_with(dir.path(), clock.clone(), root.clone());
    let (_, dst, data) = source_and_target(&kh, &clock).await;
    let store_before = everything(&kh);
    let seen_before = listing(&kh, &dst);

    // The restore stops after batch 9 and leaves its mark and journal, as a crash would.
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let r = restore_with(
        &kh,
        &dst,
        data.clone(),
        new_version_with_deleted(),
        after_batches(committed.clone(), Some(9), Some(kh.store.clone())),
    );
    assert!(r.is_err());
    let left = everything(&kh);
    assert!(left
        .iter()
        .any(|(k, _)| k.starts_with(b"restore\0mark\0dst")));
    assert!(left
        .iter()
        .any(|(k, _)| k.starts_with(b"restore\0journal\0")));
    assert_ne!(left, store_before, "batches were committed");
    let n = ObjectName::parse("s055").unwrap();
    assert!(matches!(
        kh.get_secret(&admin(), &dst, &n, None),
        Err(Error::RestoreInProgress { .. })
    ));
    drop(kh);

    // Reopening rolls it back: the store is exactly as before the restore.
    let kh = service_with(dir.path(), clock.clone(), root.clone());
    assert_eq!(everything(&kh), store_before);
    assert_eq!(listing(&kh, &dst), seen_before);
    let r = restore(&kh, &dst, data, new_version_with_deleted())
        .await
        .unwrap();
    assert_eq!(r.restored, 121);

    // A journal whose restore committed (its mark gone) is only removed at reopening, never undone.
    let after = everything(&kh);
    let job = "0123456789abcdef0123456789abcdef";
    let mut orphan = b"restore\0journal\0".to_vec();
    orphan.extend_from_slice(job.as_bytes());
    orphan.push(0);
    orphan.extend_from_slice(&crate::records::object_key(
        "dst",
        ObjectKind::Secret,
        "s055",
    ));
    kh.store
        .write_blocking(move |t| t.put(&orphan, &[1, 0]))
        .unwrap();
    drop(kh);
    let kh = service_with(dir.path(), clock, root);
    assert_eq!(everything(&kh), after);
}

/// Into an empty vault the restore writes no undo entry per key; a failure, or a crash and a reopen, empties the
/// vault again.
#[tokio::test]
async fn a_failed_or_abandoned_restore_into_an_empty_vault_leaves_it_empty() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let root = SealingKey::generate().unwrap();
    let kh = service_with(dir.path(), clock.clone(), root.clone());
    let (src, _, data) = source_and_target(&kh, &clock).await;
    let empty = vault(&kh, "empty").await;
    let store_before = everything(&kh);

    // A storage failure after batch 6.
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let r = restore_with(
        &kh,
        &empty,
        data.clone(),
        new_version_with_deleted(),
        after_batches(committed.clone(), Some(6), None),
    );
    assert!(matches!(r, Err(Error::Store(_))), "{r:?}");
    assert_eq!(committed.load(std::sync::atomic::Ordering::SeqCst), 6);
    assert_eq!(everything(&kh), store_before, "the store is as before");

    // Stopped after batch 5 as a crash would: mark left, no per-key journal; reopening empties the vault.
    let committed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let r = restore_with(
        &kh,
        &empty,
        data.clone(),
        new_version_with_deleted(),
        after_batches(committed.clone(), Some(5), Some(kh.store.clone())),
    );
    assert!(r.is_err());
    let left = everything(&kh);
    assert!(left
        .iter()
        .any(|(k, _)| k.starts_with(b"restore\0mark\0empty")));
    assert!(
        !left
            .iter()
            .any(|(k, _)| k.starts_with(b"restore\0journal\0")),
        "an empty target needs no undo entries"
    );
    assert_ne!(left, store_before, "batches were committed");
    drop(kh);
    let kh = service_with(dir.path(), clock.clone(), root);
    assert_eq!(everything(&kh), store_before, "rolled back at reopening");

    // A backup damaged near its end, found only after every object was written (there is no checking pass
    // before writing into an empty vault): the vault is emptied again.
    let mut damaged = data.clone();
    let at = damaged.len() - 40;
    damaged[at] ^= 0x01;
    let r = restore_with(
        &kh,
        &empty,
        damaged,
        new_version_with_deleted(),
        &mut after_batches(committed.clone(), None, None),
    );
    assert!(matches!(r, Err(Error::BadBackup(_))), "{r:?}");
    assert_eq!(everything(&kh), store_before, "damaged backup");
    // Selecting an object the backup does not hold: not found, nothing written.
    let only = RestoreOptions {
        only: Some((ObjectKind::Key, ObjectName::parse("no-such-key").unwrap())),
        ..Default::default()
    };
    assert!(matches!(
        restore(&kh, &empty, data.clone(), only).await,
        Err(Error::NotFound { .. })
    ));
    assert!(listing(&kh, &empty).is_empty(), "nothing written");

    // And the restore itself, in batches, gives the source's content.
    restore_with(
        &kh,
        &empty,
        data,
        new_version_with_deleted(),
        after_batches(committed, None, None),
    )
    .unwrap();
    assert_eq!(listing(&kh, &empty), listing(&kh, &src));
}
