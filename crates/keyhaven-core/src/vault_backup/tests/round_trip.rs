//! What goes into a vault backup comes back out of its restore, exactly.

use super::*;

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
            kty: keyhaven_model::KeyKind::Ec,
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
