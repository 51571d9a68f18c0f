//! Domain tests over the in-memory engine with a manual clock.

use crate::*;
use keyhaven_crypto::SealingKey;
use keyhaven_model::{
    AttributesPatch, ManualClock, ObjectKind, ObjectName, SecretValue, Tags, VaultName,
};
use keyhaven_store::MemoryEngine;
use std::sync::Arc;

mod nodes;

fn admin() -> Principal {
    Principal::system("admin")
}

fn service() -> (Keyhaven, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let (kh, fresh) = Keyhaven::open(
        Arc::new(MemoryEngine::new()),
        SealingKey::generate().unwrap(),
        clock.clone(),
        Settings::default(),
        StoredRecords::Authenticated,
    )
    .unwrap();
    assert!(fresh);
    (kh, clock)
}

fn secret(v: &str) -> SetSecret {
    SetSecret {
        value: SecretValue::new(v.into()).unwrap(),
        content_type: None,
        attributes: AttributesPatch::default(),
        tags: Tags::default(),
    }
}

#[tokio::test]
async fn deleted_objects_are_purged_after_retention_even_with_purge_protection() {
    let (kh, clock) = service();
    let who = admin();
    let vault = VaultName::parse("guarded").unwrap();
    kh.create_vault(
        &who,
        NewVault {
            name: vault.clone(),
            location: None,
            retention_days: Some(7),
            purge_protection: true,
        },
    )
    .await
    .unwrap();
    let name = ObjectName::parse("s").unwrap();
    kh.set_secret(&who, &vault, &name, secret("v"))
        .await
        .unwrap();
    kh.set_secret(&who, &vault, &name, secret("w"))
        .await
        .unwrap();
    kh.delete_object(&who, &vault, ObjectKind::Secret, &name)
        .await
        .unwrap();
    assert!(matches!(
        kh.purge_deleted(&who, &vault, ObjectKind::Secret, &name)
            .await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(kh.purge_expired().await.unwrap(), 0, "not due yet");
    clock.advance(7 * 86_400);
    assert_eq!(kh.purge_expired().await.unwrap(), 1);
    assert!(matches!(
        kh.get_deleted(&who, &vault, ObjectKind::Secret, &name),
        Err(Error::NotFound { .. })
    ));
    // The name is free again, with no old versions behind it.
    kh.set_secret(&who, &vault, &name, secret("x"))
        .await
        .unwrap();
    let page = kh
        .list_versions(
            &who,
            &vault,
            ObjectKind::Secret,
            &name,
            &PageRequest::default(),
        )
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn restore_is_all_or_nothing_and_keeps_versions() {
    let (kh, _) = service();
    let who = admin();
    let vault = VaultName::parse("default").unwrap();
    kh.ensure_vault(NewVault {
        name: vault.clone(),
        location: None,
        retention_days: None,
        purge_protection: false,
    })
    .unwrap();
    let name = ObjectName::parse("many").unwrap();
    for i in 0..60 {
        kh.set_secret(&who, &vault, &name, secret(&format!("v{i}")))
            .await
            .unwrap();
    }
    let blob = kh
        .backup_object(&who, &vault, ObjectKind::Secret, &name)
        .unwrap();
    assert!(matches!(
        kh.restore_object(&who, &vault, ObjectKind::Secret, blob.clone())
            .await,
        Err(Error::Conflict(_))
    ));
    let before = kh
        .list_versions(
            &who,
            &vault,
            ObjectKind::Secret,
            &name,
            &PageRequest {
                max: Some(25),
                after: None,
            },
        )
        .unwrap();
    kh.delete_object(&who, &vault, ObjectKind::Secret, &name)
        .await
        .unwrap();
    kh.purge_deleted(&who, &vault, ObjectKind::Secret, &name)
        .await
        .unwrap();
    let restored = kh
        .restore_object(&who, &vault, ObjectKind::Secret, blob.clone())
        .await
        .unwrap();
    assert_eq!(
        kh.get_secret(&who, &vault, &name, None)
            .unwrap()
            .value
            .unwrap()
            .expose(),
        "v59"
    );
    assert_eq!(
        restored.version,
        kh.get_secret(&who, &vault, &name, None).unwrap().version
    );
    let after = kh
        .list_versions(
            &who,
            &vault,
            ObjectKind::Secret,
            &name,
            &PageRequest {
                max: Some(25),
                after: None,
            },
        )
        .unwrap();
    let ids = |p: &Page<ObjectView>| {
        p.items
            .iter()
            .map(|v| v.version.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after));
    // Paging walks all 60 versions exactly once.
    let mut seen = 0;
    let mut req = PageRequest {
        max: Some(25),
        after: None,
    };
    loop {
        let p = kh
            .list_versions(&who, &vault, ObjectKind::Secret, &name, &req)
            .unwrap();
        seen += p.items.len();
        match p.next {
            Some(n) => req.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, 60);
}

#[tokio::test]
async fn rotation_policies_run_on_the_injected_clock() {
    let (kh, clock) = service();
    let who = admin();
    let vault = VaultName::parse("default").unwrap();
    kh.ensure_vault(NewVault {
        name: vault.clone(),
        location: None,
        retention_days: None,
        purge_protection: false,
    })
    .unwrap();
    let name = ObjectName::parse("rotating").unwrap();
    let spec = KeySpec {
        kty: keyhaven_model::KeyKind::Ec,
        key_size: None,
        public_exponent: None,
        curve: Some("P-256".into()),
    };
    kh.create_key(&who, &vault, &name, spec, KeyProperties::default())
        .await
        .unwrap();
    let policy = RotationPolicy {
        lifetime_actions: vec![
            LifetimeAction {
                action: LifetimeActionType::Rotate,
                time_after_create: Some("P30D".into()),
                time_before_expiry: None,
            },
            LifetimeAction {
                action: LifetimeActionType::Notify,
                time_after_create: None,
                time_before_expiry: Some("P10D".into()),
            },
        ],
        expiry_time: Some("P60D".into()),
        created: None,
        updated: None,
        notified_version: None,
    };
    kh.set_rotation_policy(&who, &vault, &name, policy)
        .await
        .unwrap();
    let versions = |kh: &Keyhaven| {
        kh.list_versions(
            &who,
            &vault,
            ObjectKind::Key,
            &name,
            &PageRequest::default(),
        )
        .unwrap()
        .items
        .len()
    };
    assert_eq!(
        kh.run_lifetime_actions().await.unwrap(),
        LifetimeReport::default(),
        "nothing due yet"
    );
    clock.advance(29 * 86_400);
    assert_eq!(kh.run_lifetime_actions().await.unwrap().rotated, 0);
    clock.advance(2 * 86_400);
    assert_eq!(
        kh.run_lifetime_actions().await.unwrap().rotated,
        1,
        "rotated 30 days after creation"
    );
    assert_eq!(versions(&kh), 2);
    let latest = kh
        .get_properties(&who, &vault, ObjectKind::Key, &name, None)
        .unwrap();
    assert_eq!(
        latest.attributes.exp,
        Some(latest.attributes.created + 60 * 86_400),
        "the policy's expiryTime applies"
    );
    assert_eq!(
        kh.run_lifetime_actions().await.unwrap(),
        LifetimeReport::default(),
        "the new version is not due"
    );
    // 51 days later the new version is 9 days from expiry: notify once (and rotate, 30 days having passed).
    clock.advance(51 * 86_400);
    let r = kh.run_lifetime_actions().await.unwrap();
    assert_eq!((r.notified, r.rotated), (1, 1));
    assert_eq!(versions(&kh), 3);
    assert!(matches!(
        kh.set_rotation_policy(
            &who,
            &vault,
            &name,
            RotationPolicy {
                lifetime_actions: vec![LifetimeAction {
                    action: LifetimeActionType::Rotate,
                    time_after_create: Some("soon".into()),
                    time_before_expiry: None
                }],
                expiry_time: None,
                created: None,
                updated: None,
                notified_version: None
            }
        )
        .await,
        Err(Error::BadParameter(_))
    ));
}

#[tokio::test]
async fn certificate_lifetime_actions_notify_once_per_version_and_renew_self_issued_ones() {
    let (kh, clock) = service();
    let who = admin();
    let vault = VaultName::parse("default").unwrap();
    kh.ensure_vault(NewVault {
        name: vault.clone(),
        location: None,
        retention_days: None,
        purge_protection: false,
    })
    .unwrap();
    let policy = |action: &str, trigger: serde_json::Value| -> CertificatePolicy {
        serde_json::from_value(serde_json::json!({
            "issuer": {"name": "Self"},
            "x509_props": {"subject": "CN=lifetime", "validity_months": 1},
            "lifetime_actions": [{"trigger": trigger, "action": {"action_type": action}}]
        }))
        .unwrap()
    };
    let create = |name: &str, p: CertificatePolicy| {
        let (kh, who, vault) = (&kh, &who, &vault);
        let name = ObjectName::parse(name).unwrap();
        async move {
            kh.create_certificate(
                who,
                vault,
                &name,
                CreateCertificate {
                    policy: p,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        }
    };
    create(
        "notify",
        policy(
            "EmailContacts",
            serde_json::json!({"lifetime_percentage": 50}),
        ),
    )
    .await;
    create(
        "renew",
        policy("AutoRenew", serde_json::json!({"days_before_expiry": 5})),
    )
    .await;
    kh.set_certificate_contacts(
        &who,
        &vault,
        vec![Contact {
            email: Some("pki@contoso.test".into()),
            ..Default::default()
        }],
    )
    .await
    .unwrap();

    // Nothing is due yet.
    assert_eq!(
        kh.run_lifetime_actions().await.unwrap(),
        LifetimeReport::default()
    );
    // Half-way through a month: one notice, given once.
    clock.advance(16 * 86_400);
    let r = kh.run_lifetime_actions().await.unwrap();
    assert_eq!((r.notified, r.renewed), (1, 0));
    assert_eq!(
        kh.run_lifetime_actions().await.unwrap().notified,
        0,
        "once per version"
    );
    // Five days before expiry: the self-issued certificate is renewed, once.
    clock.advance(11 * 86_400);
    let r = kh.run_lifetime_actions().await.unwrap();
    assert_eq!(r.renewed, 1);
    assert_eq!(kh.run_lifetime_actions().await.unwrap().renewed, 0);
    let renew = ObjectName::parse("renew").unwrap();
    let versions = kh
        .list_versions(
            &who,
            &vault,
            ObjectKind::Certificate,
            &renew,
            &PageRequest::default(),
        )
        .unwrap();
    assert_eq!(versions.items.len(), 2);
    let notify = ObjectName::parse("notify").unwrap();
    let versions = kh
        .list_versions(
            &who,
            &vault,
            ObjectKind::Certificate,
            &notify,
            &PageRequest::default(),
        )
        .unwrap();
    assert_eq!(versions.items.len(), 1, "EmailContacts makes no version");
}

#[tokio::test]
async fn a_deleted_vault_serves_nothing_until_recovered_and_is_purged_after_its_retention() {
    let (kh, clock) = service();
    let who = admin();
    let vault = VaultName::parse("placed").unwrap();
    let placed = kh
        .create_vault_placed(
            &who,
            NewVault {
                name: vault.clone(),
                location: None,
                retention_days: Some(7),
                purge_protection: true,
            },
            VaultPlacement {
                resource_group: Some("rg-one".into()),
                sku: Some("premium".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(placed.resource_group.as_deref(), Some("rg-one"));
    let name = ObjectName::parse("kept").unwrap();
    kh.set_secret(&who, &vault, &name, secret("v"))
        .await
        .unwrap();

    let deleted = kh.soft_delete_vault(&who, &vault).await.unwrap();
    assert_eq!(deleted.scheduled_purge(), Some(1_800_000_000 + 7 * 86_400));
    assert!(matches!(
        kh.get_secret(&who, &vault, &name, None),
        Err(Error::VaultNotFound(_))
    ));
    assert!(kh
        .list_vaults(&who)
        .unwrap()
        .iter()
        .all(|v| v.name != "placed"));
    assert_eq!(kh.list_deleted_vaults(&who).unwrap().len(), 1);
    assert!(matches!(
        kh.create_vault(
            &who,
            NewVault {
                name: vault.clone(),
                location: None,
                retention_days: None,
                purge_protection: false,
            },
        )
        .await,
        Err(Error::Conflict(_))
    ));
    // Purge protection: no purge by hand before the retention has passed.
    assert!(matches!(
        kh.purge_deleted_vault(&who, &vault).await,
        Err(Error::Forbidden(_))
    ));

    let back = kh.recover_vault(&who, &vault).await.unwrap();
    assert_eq!(back.sku.as_deref(), Some("premium"));
    assert!(kh.get_secret(&who, &vault, &name, None).is_ok());
    assert!(matches!(
        kh.recover_vault(&who, &vault).await,
        Err(Error::VaultNotFound(_))
    ));

    kh.soft_delete_vault(&who, &vault).await.unwrap();
    assert_eq!(kh.purge_expired_vaults().await.unwrap(), 0, "not due yet");
    clock.advance(7 * 86_400);
    assert_eq!(kh.purge_expired_vaults().await.unwrap(), 1);
    assert!(kh.list_deleted_vaults(&who).unwrap().is_empty());
    assert!(matches!(
        kh.get_deleted_vault(&who, &vault),
        Err(Error::VaultNotFound(_))
    ));
}
