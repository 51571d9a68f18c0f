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
