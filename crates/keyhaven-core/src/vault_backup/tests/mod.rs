//! Whole-vault backup and restore over the embedded engine, and the helpers the tests share.

mod batches;
mod certificates;
mod consistency;
mod refusals;
mod round_trip;

use crate::*;
use keyhaven_crypto::SealingKey;
use keyhaven_model::{
    AttributesPatch, ManualClock, ObjectKind, ObjectName, SecretValue, SystemClock, Tags, VaultName,
};
use keyhaven_store::Store;
use keyhaven_store_embedded::EmbeddedEngine;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn admin() -> Principal {
    Principal::system("admin")
}

pub(super) fn service(
    dir: &std::path::Path,
    clock: Arc<dyn keyhaven_model::Clock>,
) -> Arc<Keyhaven> {
    Arc::new(
        Keyhaven::open(
            Arc::new(EmbeddedEngine::open(&dir.join("s.redb")).unwrap()),
            SealingKey::generate().unwrap(),
            clock,
            Settings::default(),
            StoredRecords::Authenticated,
        )
        .unwrap()
        .0,
    )
}

pub(super) fn secret(v: &str) -> SetSecret {
    SetSecret {
        value: SecretValue::new(v.into()).unwrap(),
        content_type: None,
        attributes: AttributesPatch::default(),
        tags: Tags::default(),
    }
}

pub(super) async fn vault(kh: &Keyhaven, name: &str) -> VaultName {
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

pub(super) fn backup(kh: &Keyhaven, v: &VaultName, deleted: bool) -> (Vec<u8>, Manifest) {
    kh.backup_vault(&admin(), v, deleted, Vec::new(), &mut |_| {})
        .unwrap()
}

pub(super) async fn restore(
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
        &mut |_| Ok(()),
    )
}

pub(super) fn values(kh: &Keyhaven, v: &VaultName) -> BTreeMap<String, String> {
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

// ---- Restores written in batches: all or nothing through the restore journal ----

pub(super) fn service_with(
    dir: &std::path::Path,
    clock: Arc<dyn keyhaven_model::Clock>,
    root: SealingKey,
) -> Arc<Keyhaven> {
    Arc::new(
        Keyhaven::open(
            Arc::new(EmbeddedEngine::open(&dir.join("s.redb")).unwrap()),
            root,
            clock,
            Settings::default(),
            StoredRecords::Authenticated,
        )
        .unwrap()
        .0,
    )
}

/// Every key and value in the store.
pub(super) fn everything(kh: &Keyhaven) -> Vec<(Vec<u8>, Vec<u8>)> {
    kh.store
        .snapshot()
        .unwrap()
        .scan(b"", &[0xff; 8], usize::MAX)
        .unwrap()
}

/// What a caller sees of a vault: every object (live and deleted, every kind) with every version's properties,
/// and every secret version's value.
pub(super) fn listing(kh: &Keyhaven, v: &VaultName) -> Vec<String> {
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
                            _ => format!("{:?}", ver.detail),
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

pub(super) fn ec_key() -> KeySpec {
    KeySpec {
        kty: keyhaven_model::KeyKind::Ec,
        key_size: None,
        public_exponent: None,
        curve: Some("P-256".into()),
    }
}

/// A source vault (120 secrets with 3 versions, a key, 2 deleted secrets) and a target that already holds 20
/// of the same names (live, other values), 10 others, a deleted secret and a key. Returns the source's backup.
pub(super) async fn source_and_target(
    kh: &Keyhaven,
    clock: &ManualClock,
) -> (VaultName, VaultName, Vec<u8>) {
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

pub(super) fn new_version_with_deleted() -> RestoreOptions {
    RestoreOptions {
        conflict: ConflictPolicy::NewVersion,
        include_deleted: true,
        ..Default::default()
    }
}

/// The same service (same store, same root key) cutting restores into small batches: 64 KiB or 40 records.
pub(super) fn batched(kh: &Keyhaven) -> Keyhaven {
    let settings = Settings {
        restore_batch: RestoreBatch {
            bytes: 64 << 10,
            records: 40,
        },
        ..Settings::default()
    };
    kh.with_settings(settings)
}

/// What to do after a committed batch: count it, and after batch `fail_after` fail — as a full disk would — or,
/// with `crash`, also close the store first, so that nothing more is written (the rollback included): the state a
/// crash leaves.
pub(super) fn after_batches(
    committed: Arc<std::sync::atomic::AtomicU64>,
    fail_after: Option<u64>,
    crash: Option<Arc<Store>>,
) -> impl FnMut(RestoreProgress) -> Result<()> {
    move |p| {
        committed.store(p.batches, std::sync::atomic::Ordering::SeqCst);
        match fail_after {
            Some(f) if p.batches >= f => {
                if let Some(store) = &crash {
                    store.close();
                }
                Err(Error::Store(keyhaven_store::StoreError::unavailable(
                    "disk full (injected)",
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Restores through [`batched`], calling `progress` after each batch.
pub(super) fn restore_with(
    kh: &Keyhaven,
    v: &VaultName,
    data: Vec<u8>,
    options: RestoreOptions,
    mut progress: impl FnMut(RestoreProgress) -> Result<()>,
) -> Result<RestoreReport> {
    let data = Arc::new(data);
    batched(kh).restore_vault(
        &admin(),
        v,
        move || Ok(std::io::Cursor::new(data.as_ref().clone())),
        options,
        &mut progress,
    )
}
