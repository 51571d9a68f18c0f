//! Whole-vault backup and restore over the embedded engine.

use crate::*;
use keyhaven_crypto::SealingKey;
use keyhaven_model::{
    AttributesPatch, ManualClock, ObjectKind, ObjectName, SecretValue, SystemClock, Tags, VaultName,
};
use keyhaven_store::Store;
use keyhaven_store_embedded::EmbeddedEngine;
use std::collections::BTreeMap;
use std::sync::Arc;

fn admin() -> Principal {
    Principal {
        client_id: "admin".into(),
        roles: vec![Role::Administrator],
    }
}

fn service(dir: &std::path::Path, clock: Arc<dyn keyhaven_model::Clock>) -> Arc<Keyhaven> {
    let store =
        Arc::new(Store::new(Arc::new(EmbeddedEngine::open(&dir.join("s.redb")).unwrap())).unwrap());
    Arc::new(
        Keyhaven::open(
            store,
            SealingKey::generate().unwrap(),
            clock,
            Settings::default(),
        )
        .unwrap()
        .0,
    )
}

fn secret(v: &str) -> SetSecret {
    SetSecret {
        value: SecretValue::new(v.into()).unwrap(),
        content_type: None,
        attributes: AttributesPatch::default(),
        tags: Tags::default(),
    }
}

async fn vault(kh: &Keyhaven, name: &str) -> VaultName {
    let n = VaultName::parse(name).unwrap();
    kh.create_vault(
        &admin(),
        NewVault {
            name: n.clone(),
            location: None,
            retention_days: None,
            purge_protection: false,
        },
    )
    .await
    .unwrap();
    n
}

fn backup(kh: &Keyhaven, v: &VaultName, deleted: bool) -> (Vec<u8>, Manifest) {
    kh.backup_vault(&admin(), v, deleted, Vec::new(), &mut |_| {})
        .unwrap()
}

async fn restore(
    kh: &Keyhaven,
    v: &VaultName,
    data: Vec<u8>,
    options: RestoreOptions,
) -> Result<RestoreReport> {
    let data = Arc::new(data);
    kh.restore_vault(
        &admin(),
        v,
        move || Ok(std::io::Cursor::new(data.as_ref().clone())),
        options,
    )
    .await
}

fn values(kh: &Keyhaven, v: &VaultName) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut page = PageRequest {
        max: Some(25),
        after: None,
    };
    loop {
        let p = kh
            .list_objects(&admin(), v, ObjectKind::Secret, false, &page)
            .unwrap();
        for o in &p.items {
            let n = ObjectName::parse(&o.name).unwrap();
            out.insert(
                o.name.clone(),
                kh.get_secret(&admin(), v, &n, None)
                    .unwrap()
                    .value
                    .unwrap()
                    .expose()
                    .to_string(),
            );
        }
        match p.next {
            Some(n) => page.after = Some(n),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_one_instant_while_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "busy").await;
    let names: Vec<ObjectName> = (0..20)
        .map(|i| ObjectName::parse(&format!("s{i:02}")).unwrap())
        .collect();
    let writer = {
        let (kh, src, names) = (kh.clone(), src.clone(), names.clone());
        tokio::spawn(async move {
            for step in 0..400 {
                let items = names
                    .iter()
                    .map(|n| (n.clone(), secret(&step.to_string())))
                    .collect();
                kh.set_secrets(&admin(), &src, items).await.unwrap();
            }
        })
    };
    let mut checked = 0;
    while !writer.is_finished() || checked == 0 {
        let (kh2, src2) = (kh.clone(), src.clone());
        let (data, manifest) = tokio::task::spawn_blocking(move || backup(&kh2, &src2, false))
            .await
            .unwrap();
        if manifest.secrets == 0 {
            continue;
        }
        let target = vault(&kh, &format!("copy{checked}")).await;
        restore(&kh, &target, data, RestoreOptions::default())
            .await
            .unwrap();
        let restored = values(&kh, &target);
        let counters: std::collections::BTreeSet<&String> = restored.values().collect();
        assert_eq!(restored.len(), 20);
        assert_eq!(
            counters.len(),
            1,
            "every secret holds the same step: {restored:?}"
        );
        checked += 1;
    }
    writer.await.unwrap();
    assert!(checked >= 1);
}

#[tokio::test]
async fn round_trip_with_every_version_attribute_and_tag_and_deleted_objects() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let kh = service(dir.path(), clock.clone());
    let src = vault(&kh, "src").await;
    for i in 0..30 {
        let n = ObjectName::parse(&format!("obj-{i}")).unwrap();
        for j in 0..(1 + i % 4) {
            let mut s = secret(&format!("{i}-{j}"));
            s.tags = Tags::new([("i".to_string(), i.to_string())].into()).unwrap();
            s.content_type = Some("text/plain".into());
            kh.set_secret(&admin(), &src, &n, s).await.unwrap();
            clock.advance(1);
        }
    }
    let k = ObjectName::parse("signing").unwrap();
    kh.create_key(
        &admin(),
        &src,
        &k,
        KeySpec {
            kty: "EC".into(),
            key_size: None,
            public_exponent: None,
            curve: Some("P-256".into()),
        },
        KeyProperties::default(),
    )
    .await
    .unwrap();
    let gone = ObjectName::parse("obj-3").unwrap();
    kh.delete_object(&admin(), &src, ObjectKind::Secret, &gone)
        .await
        .unwrap();

    let (data, manifest) = backup(&kh, &src, true);
    assert_eq!(
        (manifest.secrets, manifest.keys, manifest.deleted_objects),
        (30, 1, 1)
    );
    let dst = vault(&kh, "dst").await;
    let report = restore(
        &kh,
        &dst,
        data.clone(),
        RestoreOptions {
            include_deleted: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.restored, 31);
    for i in 0..30 {
        let n = ObjectName::parse(&format!("obj-{i}")).unwrap();
        if i == 3 {
            let d = kh
                .get_deleted(&admin(), &dst, ObjectKind::Secret, &n)
                .unwrap();
            assert!(
                d.deleted.is_some(),
                "deleted objects stay deleted, with their purge date"
            );
            continue;
        }
        let a = kh
            .list_versions(
                &admin(),
                &src,
                ObjectKind::Secret,
                &n,
                &PageRequest::default(),
            )
            .unwrap()
            .items;
        let b = kh
            .list_versions(
                &admin(),
                &dst,
                ObjectKind::Secret,
                &n,
                &PageRequest::default(),
            )
            .unwrap()
            .items;
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.version, &x.attributes, &x.tags, &x.content_type),
                (&y.version, &y.attributes, &y.tags, &y.content_type)
            );
            let vx = kh
                .get_secret(&admin(), &src, &n, Some(&x.version))
                .unwrap()
                .value
                .unwrap();
            let vy = kh
                .get_secret(&admin(), &dst, &n, Some(&y.version))
                .unwrap()
                .value
                .unwrap();
            assert_eq!(vx.expose(), vy.expose());
        }
    }
    let digest = vec![1u8; 32];
    let input = OperationInput {
        alg: "ES256".into(),
        value: digest.clone(),
        ..Default::default()
    };
    let sig = kh
        .key_operation(&admin(), &dst, &k, None, KeyOperation::Sign, &input)
        .unwrap()
        .value
        .unwrap();
    let check = OperationInput {
        alg: "ES256".into(),
        value: digest,
        signature: Some(sig.to_vec()),
        ..Default::default()
    };
    assert_eq!(
        kh.key_operation(&admin(), &src, &k, None, KeyOperation::Verify, &check)
            .unwrap()
            .valid,
        Some(true),
        "the restored key is the same key"
    );

    // Conflict policies and dry run.
    let before = values(&kh, &dst);
    match restore(&kh, &dst, data.clone(), RestoreOptions::default()).await {
        Err(Error::Conflict(m)) => assert!(m.contains("nothing was restored")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let dry = restore(
        &kh,
        &dst,
        data.clone(),
        RestoreOptions {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        dry.conflicts, 30,
        "the deleted object is excluded, every other one conflicts"
    );
    let skip = restore(
        &kh,
        &dst,
        data.clone(),
        RestoreOptions {
            conflict: ConflictPolicy::Skip,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(skip.skipped, 31);
    assert_eq!(values(&kh, &dst), before, "skip and dry-run change nothing");
    // new-version: a newer value in the target is replaced by the backup's latest, with history kept.
    let n0 = ObjectName::parse("obj-0").unwrap();
    kh.set_secret(&admin(), &dst, &n0, secret("newer"))
        .await
        .unwrap();
    let only = RestoreOptions {
        conflict: ConflictPolicy::NewVersion,
        only: Some((ObjectKind::Secret, n0.clone())),
        ..Default::default()
    };
    let r = restore(&kh, &dst, data.clone(), only).await.unwrap();
    assert_eq!(r.objects.len(), 1, "selective restore touches one object");
    assert_eq!(
        kh.get_secret(&admin(), &dst, &n0, None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "0-0",
        "the backup's value is current again"
    );
    assert_eq!(
        kh.list_versions(
            &admin(),
            &dst,
            ObjectKind::Secret,
            &n0,
            &PageRequest::default()
        )
        .unwrap()
        .items
        .len(),
        3,
        "history kept"
    );
    let n1 = ObjectName::parse("obj-1").unwrap();
    assert_eq!(
        values(&kh, &dst)["obj-1"],
        "1-1",
        "other objects untouched by the selective restore"
    );
    let missing = RestoreOptions {
        only: Some((ObjectKind::Key, n1)),
        ..Default::default()
    };
    assert!(matches!(
        restore(&kh, &dst, data.clone(), missing).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn damaged_or_foreign_backups_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "src").await;
    for i in 0..200 {
        let n = ObjectName::parse(&format!("s{i}")).unwrap();
        kh.set_secret(&admin(), &src, &n, secret(&"x".repeat(500 + i)))
            .await
            .unwrap();
    }
    let (data, _) = backup(&kh, &src, false);
    let dst = vault(&kh, "dst").await;
    let n = data.len();
    let mut cases: Vec<(String, Vec<u8>)> = vec![("empty".into(), Vec::new())];
    for cut in [1, 10, 40, 100, n / 3, n / 2, n - 17, n - 1] {
        cases.push((format!("truncated at {cut}"), data[..cut].to_vec()));
    }
    for at in [5, 30, 90, n / 4, n / 2, n - 5] {
        let mut d = data.clone();
        d[at] ^= 0x20;
        cases.push((format!("flipped byte {at}"), d));
    }
    let mut longer = data.clone();
    longer.extend_from_slice(b"junk");
    cases.push(("trailing bytes".into(), longer));
    for (what, bytes) in cases {
        let r = restore(&kh, &dst, bytes, RestoreOptions::default()).await;
        assert!(
            matches!(r, Err(Error::BadParameter(_)) | Err(Error::BadBackup(_))),
            "{what}: {r:?}"
        );
        assert!(values(&kh, &dst).is_empty(), "{what}: nothing written");
    }
    // Another deployment (another subscription) refuses it.
    let other_dir = tempfile::tempdir().unwrap();
    let other = service(other_dir.path(), Arc::new(SystemClock));
    let ov = vault(&other, "dst").await;
    let r = restore(&other, &ov, data, RestoreOptions::default()).await;
    assert!(
        matches!(
            r,
            Err(Error::BadBackup(
                keyhaven_blob::BlobError::ForeignSubscription
            ))
        ),
        "{r:?}"
    );
}

/// 10,000 objects × 10 versions: the restored vault backs up to the same manifest digest, which covers every
/// object's name, latest version, and every version's id, attributes, tags, content type and value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_objects_with_ten_versions_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let kh = service(dir.path(), clock.clone());
    let src = vault(&kh, "large").await;
    let names: Vec<ObjectName> = (0..10_000)
        .map(|i| ObjectName::parse(&format!("secret-{i:05}")).unwrap())
        .collect();
    for round in 0..10 {
        for chunk in names.chunks(500) {
            let items = chunk
                .iter()
                .map(|n| {
                    let mut s = secret(&format!("{n}-{round}"));
                    s.tags = Tags::new([("round".to_string(), round.to_string())].into()).unwrap();
                    (n.clone(), s)
                })
                .collect();
            kh.set_secrets(&admin(), &src, items).await.unwrap();
        }
        clock.advance(60);
    }
    let (kh2, src2) = (kh.clone(), src.clone());
    let (data, manifest) = tokio::task::spawn_blocking(move || backup(&kh2, &src2, false))
        .await
        .unwrap();
    assert_eq!((manifest.secrets, manifest.versions), (10_000, 100_000));
    let dst = vault(&kh, "restored").await;
    let report = restore(&kh, &dst, data, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (report.restored, report.versions_written),
        (10_000, 100_000)
    );
    let (kh3, dst3) = (kh.clone(), dst.clone());
    let (_, again) = tokio::task::spawn_blocking(move || backup(&kh3, &dst3, false))
        .await
        .unwrap();
    assert_eq!(
        again.digest, manifest.digest,
        "the restored vault holds exactly what the source held"
    );
    assert_eq!(again.versions, 100_000);
}

// ---- Restores written in batches: all or nothing through the restore journal ----

fn service_with(
    dir: &std::path::Path,
    clock: Arc<dyn keyhaven_model::Clock>,
    root: SealingKey,
) -> Arc<Keyhaven> {
    let store =
        Arc::new(Store::new(Arc::new(EmbeddedEngine::open(&dir.join("s.redb")).unwrap())).unwrap());
    Arc::new(
        Keyhaven::open(store, root, clock, Settings::default())
            .unwrap()
            .0,
    )
}

/// Every key and value in the store.
fn everything(kh: &Keyhaven) -> Vec<(Vec<u8>, Vec<u8>)> {
    kh.store
        .snapshot()
        .unwrap()
        .scan(b"", &[0xff; 8], usize::MAX)
        .unwrap()
}

/// What a caller sees of a vault: every object (live and deleted, every kind) with every version's properties,
/// and every secret version's value.
fn listing(kh: &Keyhaven, v: &VaultName) -> Vec<String> {
    let mut out = Vec::new();
    for kind in [ObjectKind::Secret, ObjectKind::Key] {
        for deleted in [false, true] {
            let mut page = PageRequest {
                max: Some(25),
                after: None,
            };
            loop {
                let p = kh.list_objects(&admin(), v, kind, deleted, &page).unwrap();
                for o in &p.items {
                    out.push(format!(
                        "{kind:?} {} deleted={:?} latest={} {:?}",
                        o.name, o.deleted, o.version, o.attributes
                    ));
                    if deleted {
                        continue;
                    }
                    let n = ObjectName::parse(&o.name).unwrap();
                    let versions = kh
                        .list_versions(&admin(), v, kind, &n, &PageRequest::default())
                        .unwrap()
                        .items;
                    for ver in versions {
                        let value = match kind {
                            ObjectKind::Secret => kh
                                .get_secret(&admin(), v, &n, Some(&ver.version))
                                .unwrap()
                                .value
                                .unwrap()
                                .expose()
                                .to_string(),
                            _ => format!("{:?}", ver.public),
                        };
                        out.push(format!(
                            "  {} {:?} {:?} {:?} = {value}",
                            ver.version, ver.attributes, ver.tags, ver.content_type
                        ));
                    }
                }
                match p.next {
                    Some(n) => page.after = Some(n),
                    None => break,
                }
            }
        }
    }
    out
}

fn ec_key() -> KeySpec {
    KeySpec {
        kty: "EC".into(),
        key_size: None,
        public_exponent: None,
        curve: Some("P-256".into()),
    }
}

/// A source vault (120 secrets with 3 versions, a key, 2 deleted secrets) and a target that already holds 20
/// of the same names (live, other values), 10 others, a deleted secret and a key. Returns the source's backup.
async fn source_and_target(kh: &Keyhaven, clock: &ManualClock) -> (VaultName, VaultName, Vec<u8>) {
    let src = vault(kh, "src").await;
    let dst = vault(kh, "dst").await;
    for i in 0..120 {
        let n = ObjectName::parse(&format!("s{i:03}")).unwrap();
        for j in 0..3 {
            let mut s = secret(&format!("src-{i}-{j}-{}", "v".repeat(200)));
            s.tags = Tags::new([("j".to_string(), j.to_string())].into()).unwrap();
            kh.set_secret(&admin(), &src, &n, s).await.unwrap();
        }
        clock.advance(1);
    }
    for i in [7, 8] {
        let n = ObjectName::parse(&format!("s{i:03}")).unwrap();
        kh.delete_object(&admin(), &src, ObjectKind::Secret, &n)
            .await
            .unwrap();
    }
    let k = ObjectName::parse("src-key").unwrap();
    kh.create_key(&admin(), &src, &k, ec_key(), KeyProperties::default())
        .await
        .unwrap();
    for i in (50..70).chain(200..210) {
        let n = ObjectName::parse(&format!("s{i:03}")).unwrap();
        kh.set_secret(&admin(), &dst, &n, secret(&format!("dst-{i}")))
            .await
            .unwrap();
    }
    let gone = ObjectName::parse("s205").unwrap();
    kh.delete_object(&admin(), &dst, ObjectKind::Secret, &gone)
        .await
        .unwrap();
    let k = ObjectName::parse("dst-key").unwrap();
    kh.create_key(&admin(), &dst, &k, ec_key(), KeyProperties::default())
        .await
        .unwrap();
    let (data, _) = backup(kh, &src, true);
    (src, dst, data)
}

fn new_version_with_deleted() -> RestoreOptions {
    RestoreOptions {
        conflict: ConflictPolicy::NewVersion,
        include_deleted: true,
        ..Default::default()
    }
}

/// Small batches, a counter of committed batches, and an optional failure after batch `fail_after`.
fn small_batches(
    committed: Arc<std::sync::atomic::AtomicU64>,
    fail_after: Option<u64>,
    roll_back: bool,
) -> crate::vault_backup::Pass2 {
    crate::vault_backup::Pass2 {
        batch_bytes: 64 << 10,
        batch_steps: 40,
        after_batch: Some(Box::new(move |n| {
            committed.store(n, std::sync::atomic::Ordering::SeqCst);
            match fail_after {
                Some(f) if n >= f => Err(Error::Store(keyhaven_store::StoreError::unavailable(
                    "disk full (injected)",
                ))),
                _ => Ok(()),
            }
        })),
        roll_back,
    }
}

fn restore_with(
    kh: &Keyhaven,
    v: &VaultName,
    data: Vec<u8>,
    options: RestoreOptions,
    pass2: crate::vault_backup::Pass2,
) -> Result<RestoreReport> {
    let data = Arc::new(data);
    kh.restore_vault_with(
        &admin(),
        v,
        move || Ok(std::io::Cursor::new(data.as_ref().clone())),
        options,
        pass2,
    )
}

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
        small_batches(committed.clone(), None, true),
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
        small_batches(committed.clone(), Some(12), true),
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
    let r = kh.restore_vault_with(
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
        small_batches(committed.clone(), None, true),
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
    let pass2 = crate::vault_backup::Pass2 {
        batch_bytes: 64 << 10,
        batch_steps: 40,
        after_batch: Some(Box::new({
            let (kh, src, dst, checked) = (kh.clone(), src.clone(), dst.clone(), checked.clone());
            move |n| {
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
        })),
        roll_back: true,
    };
    let kh2 = kh.clone();
    let dst2 = dst.clone();
    tokio::task::spawn_blocking(move || {
        restore_with(&kh2, &dst2, data, new_version_with_deleted(), pass2)
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
        small_batches(committed.clone(), Some(9), false),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_travel_with_their_key_and_secret_whole_or_selected() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "certsrc").await;
    let policy: CertificatePolicy = serde_json::from_value(serde_json::json!({
        "issuer": {"name": "Self"}, "x509_props": {"subject": "CN=vault-backup"}
    }))
    .unwrap();
    let web = ObjectName::parse("web").unwrap();
    let req = CreateCertificate {
        policy,
        ..Default::default()
    };
    kh.create_certificate(&admin(), &src, &web, req.clone())
        .await
        .unwrap();
    kh.create_certificate(&admin(), &src, &web, req)
        .await
        .unwrap();
    kh.set_secret(
        &admin(),
        &src,
        &ObjectName::parse("plain").unwrap(),
        secret("p"),
    )
    .await
    .unwrap();
    let original = kh.get_certificate(&admin(), &src, &web, None).unwrap();
    let pfx = kh.get_secret(&admin(), &src, &web, None).unwrap();
    let (data, manifest) = backup(&kh, &src, false);
    assert_eq!(
        manifest.objects(),
        4,
        "certificate, its key and secret, and the plain secret"
    );

    let check = |v: &VaultName| {
        let got = kh.get_certificate(&admin(), v, &web, None).unwrap();
        assert_eq!(got.object.version, original.object.version);
        assert_eq!(
            got.object.public, original.object.public,
            "same certificate"
        );
        assert_eq!(got.policy, original.policy);
        let secret = kh.get_secret(&admin(), v, &web, None).unwrap();
        assert!(secret.managed);
        assert_eq!(
            secret.value.unwrap().expose(),
            pfx.value.as_ref().unwrap().expose()
        );
        let key = kh
            .get_properties(&admin(), v, ObjectKind::Key, &web, None)
            .unwrap();
        assert!(key.managed);
        let versions = kh
            .list_versions(
                &admin(),
                v,
                ObjectKind::Certificate,
                &web,
                &PageRequest::default(),
            )
            .unwrap();
        assert_eq!(versions.items.len(), 2);
    };
    let whole = vault(&kh, "certwhole").await;
    restore(&kh, &whole, data.clone(), RestoreOptions::default())
        .await
        .unwrap();
    check(&whole);

    // Selecting the certificate brings its key and secret, and nothing else.
    let selected = vault(&kh, "certselected").await;
    let r = restore(
        &kh,
        &selected,
        data,
        RestoreOptions {
            only: Some((ObjectKind::Certificate, web.clone())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.objects.len(), 3, "{:?}", r.objects);
    check(&selected);
    assert!(values(&kh, &selected).keys().all(|k| k == "web"));
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
        small_batches(committed.clone(), Some(6), true),
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
        small_batches(committed.clone(), Some(5), false),
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
        small_batches(committed.clone(), None, true),
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
        small_batches(committed, None, true),
    )
    .unwrap();
    assert_eq!(listing(&kh, &empty), listing(&kh, &src));
}

/// The issuer password stored in `v`, opened with `v`'s key (what issuing through the issuer would use).
fn issuer_password(kh: &Keyhaven, v: &VaultName, issuer: &str) -> Option<String> {
    let snap = kh.snapshot().unwrap();
    let rec = kh.vault_record(&*snap, v.as_str()).unwrap();
    let name = ObjectName::parse(issuer).unwrap();
    let r: crate::certificates::IssuerRecord =
        crate::records::read(&*snap, &crate::records::issuer_key(v.as_str(), &name.key()))
            .unwrap()?;
    let plain = kh
        .vault_sealing_key(&rec)
        .unwrap()
        .open(
            &crate::records::issuer_password_aad(v.as_str(), &name.key()),
            &r.sealed_password?,
        )
        .unwrap();
    Some(String::from_utf8(plain.to_vec()).unwrap())
}

/// Certificate issuers (with their passwords) and contacts are part of a whole-vault backup: restored into an
/// empty vault with the password sealed for it; into a vault that has them, by the conflict policy; left alone
/// by a selective restore.
#[tokio::test]
async fn certificate_issuers_and_contacts_travel_with_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "settings-src").await;
    let issuer = ObjectName::parse("corp-ca").unwrap();
    let change = |password: &str| IssuerChange {
        provider: Some("DigiCert".into()),
        account_id: Some("acct-1".into()),
        password: Some(SecretValue::new(password.into()).unwrap()),
        ..IssuerChange::default()
    };
    kh.set_issuer(&admin(), &src, &issuer, change("issuer-pw-1"), true)
        .await
        .unwrap();
    let contacts = vec![Contact {
        email: Some("ops@example.com".into()),
        name: Some("Ops".into()),
        phone: None,
    }];
    kh.set_certificate_contacts(&admin(), &src, contacts.clone())
        .await
        .unwrap();
    kh.set_secret(
        &admin(),
        &src,
        &ObjectName::parse("s1").unwrap(),
        secret("v1"),
    )
    .await
    .unwrap();
    let (data, manifest) = backup(&kh, &src, false);
    assert_eq!(manifest.settings, 2);
    let geography = {
        let snap = kh.snapshot().unwrap();
        kh.vault_record(&*snap, src.as_str()).unwrap().geography
    };
    assert_eq!(
        kh.verify_vault_backup(&admin(), std::io::Cursor::new(data.clone()), &geography)
            .unwrap(),
        manifest
    );

    // Into an empty vault: both settings, the password sealed for the new vault.
    let dst = vault(&kh, "settings-dst").await;
    let report = restore(&kh, &dst, data.clone(), RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.settings.len(), 2, "{:?}", report.settings);
    assert!(report.settings.iter().all(|s| s.action == "restored"));
    let got = kh.get_issuer(&admin(), &dst, &issuer).unwrap();
    assert_eq!(
        (got.provider.as_str(), got.has_password),
        ("DigiCert", true)
    );
    assert_eq!(
        issuer_password(&kh, &dst, "corp-ca").as_deref(),
        Some("issuer-pw-1")
    );
    assert_eq!(
        kh.get_certificate_contacts(&admin(), &dst).unwrap(),
        contacts
    );

    // Into a vault that has its own: refused under `fail` (nothing written), kept under `skip`, replaced under
    // `new-version`.
    let other = vault(&kh, "settings-other").await;
    kh.set_issuer(&admin(), &other, &issuer, change("other-pw"), true)
        .await
        .unwrap();
    let before = everything(&kh);
    let err = restore(&kh, &other, data.clone(), RestoreOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("issuer corp-ca")),
        "{err:?}"
    );
    assert_eq!(everything(&kh), before, "a refused restore writes nothing");
    let skip = RestoreOptions {
        conflict: ConflictPolicy::Skip,
        ..RestoreOptions::default()
    };
    let report = restore(&kh, &other, data.clone(), skip).await.unwrap();
    let action =
        |r: &RestoreReport, s: &str| r.settings.iter().find(|o| o.setting == s).map(|o| o.action);
    assert_eq!(action(&report, "issuer corp-ca"), Some("skipped"));
    assert_eq!(action(&report, "contacts"), Some("restored"));
    assert_eq!(
        issuer_password(&kh, &other, "corp-ca").as_deref(),
        Some("other-pw")
    );
    assert_eq!(
        kh.get_certificate_contacts(&admin(), &other).unwrap(),
        contacts
    );
    let third = vault(&kh, "settings-third").await;
    kh.set_issuer(&admin(), &third, &issuer, change("third-pw"), true)
        .await
        .unwrap();
    let replace = RestoreOptions {
        conflict: ConflictPolicy::NewVersion,
        ..RestoreOptions::default()
    };
    let report = restore(&kh, &third, data.clone(), replace).await.unwrap();
    assert_eq!(action(&report, "issuer corp-ca"), Some("replaced"));
    assert_eq!(
        issuer_password(&kh, &third, "corp-ca").as_deref(),
        Some("issuer-pw-1")
    );

    // A selective restore brings the object only.
    let sel = vault(&kh, "settings-sel").await;
    let only = RestoreOptions {
        only: Some((ObjectKind::Secret, ObjectName::parse("s1").unwrap())),
        ..RestoreOptions::default()
    };
    let report = restore(&kh, &sel, data, only).await.unwrap();
    assert!(report.settings.is_empty());
    assert!(kh.get_issuer(&admin(), &sel, &issuer).is_err());
    assert!(kh.get_certificate_contacts(&admin(), &sel).is_err());
}

/// A certificate waiting for an outside authority travels with its pending operation (its signing request), so
/// that the signed certificate can still be merged after a restore; the operation goes only where its
/// certificate is restored.
#[tokio::test]
async fn a_pending_certificate_travels_with_its_operation() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "pendingsrc").await;
    let policy: CertificatePolicy = serde_json::from_value(serde_json::json!({
        "issuer": {"name": "Unknown"}, "x509_props": {"subject": "CN=pending"}
    }))
    .unwrap();
    let name = ObjectName::parse("awaiting").unwrap();
    let req = CreateCertificate {
        policy,
        ..Default::default()
    };
    let op = kh
        .create_certificate(&admin(), &src, &name, req)
        .await
        .unwrap();
    assert_eq!(op.status, STATUS_IN_PROGRESS);
    assert!(op.csr.is_some());
    let (data, manifest) = backup(&kh, &src, false);
    assert_eq!(manifest.settings, 1, "the operation");

    for (target, options) in [
        ("pendingall", RestoreOptions::default()),
        (
            "pendingone",
            RestoreOptions {
                only: Some((ObjectKind::Certificate, name.clone())),
                ..RestoreOptions::default()
            },
        ),
    ] {
        let dst = vault(&kh, target).await;
        restore(&kh, &dst, data.clone(), options).await.unwrap();
        let got = kh.get_certificate_operation(&admin(), &dst, &name).unwrap();
        assert_eq!(got, op, "{target}");
    }

    // Where the certificate is skipped (it exists), its operation is not written either.
    let other = vault(&kh, "pendingother").await;
    kh.create_certificate(
        &admin(),
        &other,
        &name,
        CreateCertificate {
            policy: serde_json::from_value(serde_json::json!({
                "issuer": {"name": "Self"}, "x509_props": {"subject": "CN=mine"}
            }))
            .unwrap(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mine = kh
        .get_certificate_operation(&admin(), &other, &name)
        .unwrap();
    let skip = RestoreOptions {
        conflict: ConflictPolicy::Skip,
        ..RestoreOptions::default()
    };
    restore(&kh, &other, data, skip).await.unwrap();
    assert_eq!(
        kh.get_certificate_operation(&admin(), &other, &name)
            .unwrap(),
        mine
    );
}
