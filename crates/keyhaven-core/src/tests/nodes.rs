//! Two nodes over one store (two services over one in-memory engine, as two Keyhaven processes over one
//! PostgreSQL database): vault keys rotated on one are used by the other, seal counts of both add up, a
//! restore one node runs is left alone by the other's recovery, and reads follow the other's writes at once.

use crate::records::{self, VersionRecord};
use crate::sealing::record_mac::{self, Signer};
use crate::*;
use keyhaven_crypto::SealingKey;
use keyhaven_model::{
    AttributesPatch, ManualClock, ObjectKind, ObjectName, SecretValue, Tags, VaultName,
};
use keyhaven_store::{Engine, MemoryEngine};
use std::sync::Arc;

fn admin() -> Principal {
    Principal::system("admin")
}

fn secret(v: &str) -> SetSecret {
    SetSecret {
        value: SecretValue::new(v.into()).unwrap(),
        content_type: None,
        attributes: AttributesPatch::default(),
        tags: Tags::default(),
    }
}

/// A node: a service over the shared engine, with the deployment's root key.
fn node(engine: &Arc<MemoryEngine>, root: &SealingKey, settings: Settings) -> Arc<Keyhaven> {
    Arc::new(
        Keyhaven::open(
            engine.clone(),
            root.clone(),
            Arc::new(ManualClock::new(1_800_000_000)),
            settings,
            StoredRecords::Authenticated,
        )
        .unwrap()
        .0,
    )
}

async fn new_vault(kh: &Keyhaven, name: &str) -> VaultName {
    let v = VaultName::parse(name).unwrap();
    kh.create_vault(
        &admin(),
        NewVault {
            name: v.clone(),
            location: None,
            retention_days: None,
            purge_protection: false,
        },
    )
    .await
    .unwrap();
    v
}

/// The generation that authenticated the latest version of a secret and the one that sealed its value, read
/// from the engine under the barrier.
fn generations(engine: &MemoryEngine, kh: &Keyhaven, v: &VaultName, n: &ObjectName) -> (u32, u32) {
    let view = kh.get_secret(&admin(), v, n, None).unwrap();
    let key = records::version_key(
        v.as_str(),
        ObjectKind::Secret,
        &n.key(),
        view.version.as_str(),
    );
    let raw = engine.snapshot().unwrap().get(&key).unwrap().unwrap();
    let parsed = record_mac::parse(&raw).unwrap();
    let Signer::Vault(signed) = parsed.signer else {
        panic!("a version record is authenticated by its vault's key")
    };
    let rec: VersionRecord = records::decode(parsed.payload).unwrap();
    (signed, rec.sealed_key)
}

#[tokio::test]
async fn a_vault_key_rotated_on_one_node_is_used_by_the_other() {
    let engine = Arc::new(MemoryEngine::new());
    let root = SealingKey::generate().unwrap();
    let a = node(&engine, &root, Settings::default());
    let b = node(&engine, &root, Settings::default());
    let v = new_vault(&a, "shared").await;
    let (s1, s2, s3) = (
        ObjectName::parse("s1").unwrap(),
        ObjectName::parse("s2").unwrap(),
        ObjectName::parse("s3").unwrap(),
    );
    // B loads the vault's keys (generation 0).
    b.set_secret(&admin(), &v, &s1, secret("one"))
        .await
        .unwrap();
    assert_eq!(generations(&engine, &b, &v, &s1), (0, 0));

    let rotated = a.rotate_vault_key(&admin(), &v).await.unwrap();
    assert_eq!(rotated.generation, 1);
    // A record of the new generation, read on B: B reloads the vault's keys instead of refusing it.
    a.set_secret(&admin(), &v, &s3, secret("three"))
        .await
        .unwrap();
    let got = b.get_secret(&admin(), &v, &s3, None).unwrap();
    assert_eq!(got.value.unwrap().expose(), "three");
    // B writes under the new generation, record and value, from its next request on.
    b.set_secret(&admin(), &v, &s2, secret("two"))
        .await
        .unwrap();
    assert_eq!(generations(&engine, &b, &v, &s2), (1, 1));
    // Everything reads on both nodes.
    for kh in [&a, &b] {
        for (n, want) in [(&s1, "one"), (&s2, "two"), (&s3, "three")] {
            let got = kh.get_secret(&admin(), &v, n, None).unwrap();
            assert_eq!(got.value.unwrap().expose(), want);
        }
    }
}

/// Without a write of its own in between, B reloads the keys as soon as its request reads the rotated vault
/// record: its first write after the rotation seals under the new generation.
#[tokio::test]
async fn the_first_write_after_a_rotation_elsewhere_seals_under_the_new_key() {
    let engine = Arc::new(MemoryEngine::new());
    let root = SealingKey::generate().unwrap();
    let a = node(&engine, &root, Settings::default());
    let b = node(&engine, &root, Settings::default());
    let v = new_vault(&a, "shared").await;
    let n = ObjectName::parse("n").unwrap();
    b.set_secret(&admin(), &v, &n, secret("before"))
        .await
        .unwrap();
    a.rotate_vault_key(&admin(), &v).await.unwrap();
    a.rotate_vault_key(&admin(), &v).await.unwrap();
    b.set_secret(&admin(), &v, &n, secret("after"))
        .await
        .unwrap();
    assert_eq!(generations(&engine, &b, &v, &n), (2, 2));
}

/// Every node counts its own seals; running the count on each adds them up in the vault's record (serialized
/// writes: none is lost), and the key rotates once when the sum reaches the limit.
#[tokio::test]
async fn seal_counts_of_every_node_add_up_and_rotate_once() {
    let engine = Arc::new(MemoryEngine::new());
    let root = SealingKey::generate().unwrap();
    let settings = Settings {
        vault_key_rotate_after: 10,
        ..Settings::default()
    };
    let a = node(&engine, &root, settings.clone());
    let b = node(&engine, &root, settings);
    let v = new_vault(&a, "counted").await;
    for (i, kh) in [&a, &b, &a, &b, &a, &b, &a, &b].iter().enumerate() {
        let n = ObjectName::parse(&format!("s{i}")).unwrap();
        kh.set_secret(&admin(), &v, &n, secret("x")).await.unwrap();
    }
    assert!(a.rotate_worn_vault_keys().await.unwrap().is_empty());
    assert!(b.rotate_worn_vault_keys().await.unwrap().is_empty());
    let info = a.vault_key_info(&admin(), &v).unwrap();
    assert_eq!((info.generation, info.seals), (0, 8), "both nodes' seals");
    for i in 0..3 {
        let n = ObjectName::parse(&format!("t{i}")).unwrap();
        b.set_secret(&admin(), &v, &n, secret("x")).await.unwrap();
    }
    let (ra, rb) = (
        b.rotate_worn_vault_keys().await.unwrap(),
        a.rotate_worn_vault_keys().await.unwrap(),
    );
    assert_eq!(ra, vec!["counted".to_string()]);
    assert!(rb.is_empty(), "rotated once");
    assert_eq!(a.vault_key_info(&admin(), &v).unwrap().generation, 1);
}

/// A restore node A is running survives node B starting (its recovery at open) and B's periodic recovery; one
/// that A abandoned is rolled back by B without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_on_another_node_leaves_a_running_restore_alone() {
    let engine = Arc::new(MemoryEngine::new());
    let root = SealingKey::generate().unwrap();
    let a = node(&engine, &root, Settings::default());
    let src = new_vault(&a, "src").await;
    let dst = new_vault(&a, "dst").await;
    for i in 0..300 {
        let n = ObjectName::parse(&format!("s{i:03}")).unwrap();
        a.set_secret(
            &admin(),
            &src,
            &n,
            secret(&format!("{i}-{}", "v".repeat(2000))),
        )
        .await
        .unwrap();
    }
    let keep = ObjectName::parse("kept").unwrap();
    a.set_secret(&admin(), &dst, &keep, secret("kept"))
        .await
        .unwrap();
    let (data, _) = a
        .backup_vault(&admin(), &src, false, Vec::new(), &mut |_| {})
        .unwrap();
    let data = Arc::new(data);
    let small_batches = a.with_settings(Settings {
        restore_batch: RestoreBatch {
            bytes: 64 << 10,
            records: 40,
        },
        ..Settings::default()
    });

    // While A's restore is between two batches, B starts and recovers; A's own periodic recovery runs too.
    let checked = std::sync::atomic::AtomicBool::new(false);
    let (e, r) = (engine.clone(), root.clone());
    let a2 = a.clone();
    let report = small_batches
        .restore_vault(
            &admin(),
            &dst,
            {
                let data = data.clone();
                move || Ok(std::io::Cursor::new(data.as_ref().clone()))
            },
            RestoreOptions {
                conflict: ConflictPolicy::Skip,
                ..Default::default()
            },
            &mut |p| {
                if p.batches == 2 {
                    let b = node(&e, &r, Settings::default());
                    assert_eq!(b.recover_interrupted_restores().unwrap(), 0);
                    assert_eq!(a2.recover_interrupted_restores().unwrap(), 0);
                    assert!(matches!(
                        b.get_secret(&admin(), &dst, &keep, None),
                        Err(Error::RestoreInProgress { .. })
                    ));
                    checked.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(checked.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(report.restored, 300, "the restore committed whole");
    let b = node(&engine, &root, Settings::default());
    let n = ObjectName::parse("s299").unwrap();
    assert!(b
        .get_secret(&admin(), &dst, &n, None)
        .unwrap()
        .value
        .unwrap()
        .expose()
        .starts_with("299-"));

    // A restore A abandons part-way (A's store closes, as when its process dies): B rolls it back, running.
    let other = new_vault(&b, "other").await;
    let before_other = engine
        .snapshot()
        .unwrap()
        .scan(b"", &[0xff; 8], usize::MAX)
        .unwrap();
    let store = a.store.clone();
    let failed = small_batches.restore_vault(
        &admin(),
        &other,
        move || Ok(std::io::Cursor::new(data.as_ref().clone())),
        RestoreOptions::default(),
        &mut |p| {
            if p.batches == 3 {
                store.close();
                return Err(Error::Store(keyhaven_store::StoreError::unavailable(
                    "the node stopped (injected)",
                )));
            }
            Ok(())
        },
    );
    assert!(failed.is_err());
    assert!(matches!(
        b.list_objects(
            &admin(),
            &other,
            ObjectKind::Secret,
            false,
            &PageRequest::default()
        ),
        Err(Error::RestoreInProgress { .. })
    ));
    assert_eq!(b.recover_interrupted_restores().unwrap(), 1);
    assert_eq!(
        engine
            .snapshot()
            .unwrap()
            .scan(b"", &[0xff; 8], usize::MAX)
            .unwrap(),
        before_other,
        "rolled back by the other node: the store is as before the restore"
    );
}

/// A node reads an object's latest version in one call by remembering which one it was (see `point_read`); what
/// the other node does meanwhile — new versions, a delete, a recovery, a purge, a new object of the same name —
/// is seen at once all the same, since the remembered version is checked against the object read with it.
#[tokio::test]
async fn reads_follow_the_other_nodes_versions_deletes_and_purges() {
    let engine = Arc::new(MemoryEngine::new());
    let root = SealingKey::generate().unwrap();
    let (a, b) = (
        node(&engine, &root, Settings::default()),
        node(&engine, &root, Settings::default()),
    );
    let v = new_vault(&a, "shared").await;
    let n = ObjectName::parse("s").unwrap();
    let value = |kh: &Keyhaven| -> Result<String> {
        let view = kh.get_secret(&admin(), &v, &n, None)?;
        Ok(view
            .value
            .map(|s| s.expose().to_string())
            .unwrap_or_default())
    };
    let not_found = |r: Result<String>| matches!(r, Err(Error::NotFound { .. }));
    a.set_secret(&admin(), &v, &n, secret("one")).await.unwrap();
    assert_eq!(value(&b).unwrap(), "one");
    a.set_secret(&admin(), &v, &n, secret("two")).await.unwrap();
    assert_eq!(
        value(&b).unwrap(),
        "two",
        "a version written on the other node"
    );
    for i in 3..6 {
        a.set_secret(&admin(), &v, &n, secret(&i.to_string()))
            .await
            .unwrap();
    }
    assert_eq!(value(&b).unwrap(), "5", "several versions later");
    a.delete_object(&admin(), &v, ObjectKind::Secret, &n)
        .await
        .unwrap();
    assert!(not_found(value(&b)), "deleted on the other node");
    b.get_deleted(&admin(), &v, ObjectKind::Secret, &n).unwrap();
    a.recover_deleted(&admin(), &v, ObjectKind::Secret, &n)
        .await
        .unwrap();
    assert_eq!(value(&b).unwrap(), "5", "recovered on the other node");
    a.delete_object(&admin(), &v, ObjectKind::Secret, &n)
        .await
        .unwrap();
    a.purge_deleted(&admin(), &v, ObjectKind::Secret, &n)
        .await
        .unwrap();
    assert!(not_found(value(&b)), "purged on the other node");
    assert!(b.get_deleted(&admin(), &v, ObjectKind::Secret, &n).is_err());
    let fresh = a.set_secret(&admin(), &v, &n, secret("new")).await.unwrap();
    assert_eq!(value(&b).unwrap(), "new", "a new object of the same name");
    let props = b
        .get_properties(&admin(), &v, ObjectKind::Secret, &n, Some(&fresh.version))
        .unwrap();
    assert_eq!(props.version, fresh.version, "a version asked for by id");
    // This node's own writes keep its reads in one call and right too.
    b.set_secret(&admin(), &v, &n, secret("from b"))
        .await
        .unwrap();
    assert_eq!(value(&a).unwrap(), "from b");
    assert_eq!(value(&b).unwrap(), "from b");
}
