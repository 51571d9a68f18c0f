//! The typed client (`keyhaven-client`) against a real server, operation by operation: what an SDK user or the
//! portal calls, beyond what the CLI's verbs exercise.

use keyhaven_azure_api::certificates::{
    CertificateCreateParameters, CertificateOperationUpdateParameter, ContactsDto, IssuerBundle,
    IssuerCredentials,
};
use keyhaven_azure_api::keys::{
    KeyCreateParameters, KeyImportParameters, KeyOperationsParameters, KeyRotationPolicy,
    KeySignParameters, KeyUpdateParameters, KeyVerifyParameters, LifetimeAction,
    LifetimeActionTrigger, LifetimeActionType, RotationPolicyAttributes,
};
use keyhaven_azure_api::secrets::{SecretSetParameters, SecretUpdateParameters};
use keyhaven_azure_api::{b64url, AttributesIn};
use keyhaven_client::{
    Client, ClientError, Connection, Credential, RestoreTarget, VaultClient, VaultRestoreOptions,
};
use keyhaven_testkit::TestServer;
use serde_json::json;
use std::collections::BTreeMap;

fn client(ts: &TestServer) -> Client {
    Client::new(Connection {
        server: ts.authority(),
        ca_file: Some(ts.ca_file()),
        credential: Credential::from_file(&ts.data_dir().join("admin-credential.json")).unwrap(),
    })
    .unwrap()
}

fn secret(value: &str) -> SecretSetParameters {
    SecretSetParameters {
        value: value.into(),
        tags: None,
        content_type: None,
        attributes: None,
    }
}

fn status(e: &ClientError) -> Option<u16> {
    e.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_page_through_listings_and_go_through_their_lifecycle() {
    let ts = TestServer::start().await;
    let c = client(&ts);
    let v = c.vault("default").await.unwrap();
    for i in 0..30 {
        v.set_secret(&format!("s{i:02}"), &secret(&format!("value-{i}")))
            .await
            .unwrap();
    }
    // More than a page (25): next_page follows nextLink.
    let mut pager = v.list_secrets();
    let first = pager.next_page().await.unwrap().unwrap();
    let second = pager.next_page().await.unwrap().unwrap();
    assert_eq!((first.len(), second.len()), (25, 5));
    assert!(pager.next_page().await.unwrap().is_none());
    assert!(
        first.iter().all(|s| s.value.is_none()),
        "listings carry no values"
    );
    assert_eq!(v.list_secrets().collect_all().await.unwrap().len(), 30);

    // Versions, get by version, update.
    let newer = v.set_secret("s00", &secret("newer")).await.unwrap();
    let versions = v
        .list_secret_versions("s00")
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    let old = versions.iter().find(|s| s.id != newer.id).unwrap();
    let old_version = old.id.rsplit('/').next().unwrap();
    assert_eq!(
        v.get_secret("s00", Some(old_version))
            .await
            .unwrap()
            .value
            .as_deref(),
        Some("value-0")
    );
    assert_eq!(
        v.get_secret("s00", None).await.unwrap().value.as_deref(),
        Some("newer")
    );
    let updated = v
        .update_secret(
            "s00",
            None,
            &SecretUpdateParameters {
                content_type: Some("text/plain".into()),
                tags: Some(BTreeMap::from([("team".into(), "ops".into())])),
                attributes: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.content_type.as_deref(), Some("text/plain"));
    assert_eq!(updated.tags["team"], "ops");

    // Delete, deleted, recover, purge.
    let deleted = v.delete_secret("s01").await.unwrap();
    assert!(deleted.deleted.recovery_id.is_some());
    assert!(v.get_deleted_secret("s01").await.is_ok());
    assert_eq!(
        v.list_deleted_secrets().collect_all().await.unwrap().len(),
        1
    );
    v.recover_deleted_secret("s01").await.unwrap();
    assert_eq!(
        v.get_secret("s01", None).await.unwrap().value.as_deref(),
        Some("value-1")
    );
    let blob = v.backup_secret("s02").await.unwrap();
    v.delete_secret("s02").await.unwrap();
    v.purge_deleted_secret("s02").await.unwrap();
    assert_eq!(
        status(&v.get_deleted_secret("s02").await.unwrap_err()),
        Some(404)
    );
    let restored = v.restore_secret(&blob).await.unwrap();
    assert!(restored.id.contains("/secrets/s02/"));

    // A name that would change the request's path is refused by the client; others reach the server.
    for bad in ["", ".", ".."] {
        assert!(matches!(
            v.get_secret(bad, None).await,
            Err(ClientError::InvalidArgument(_))
        ));
    }
    assert!(matches!(
        v.get_secret("s00", Some("../x")).await,
        Err(ClientError::InvalidArgument(_))
    ));
    assert_eq!(
        status(&v.get_secret("a/b", None).await.unwrap_err()),
        Some(400),
        "a slash travels percent-encoded, as part of the name"
    );
    assert!(matches!(
        c.vault("evil.example.com#").await,
        Err(ClientError::InvalidArgument(_))
    ));
}

async fn create_key(v: &VaultClient, name: &str, kty: &str, crv: Option<&str>) {
    v.create_key(
        name,
        &KeyCreateParameters {
            kty: kty.into(),
            crv: crv.map(str::to_string),
            key_size: (kty == "RSA").then_some(2048),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_operations_rotation_and_random_bytes() {
    let ts = TestServer::start().await;
    let c = client(&ts);
    let v = c.vault("default").await.unwrap();
    create_key(&v, "rsa", "RSA", None).await;
    create_key(&v, "ec", "EC", Some("P-256")).await;

    // encrypt/decrypt, wrapKey/unwrapKey (RSA-OAEP-256), sign/verify (ES256).
    let plain = b"plain text".to_vec();
    let op = |value: &[u8]| KeyOperationsParameters {
        alg: "RSA-OAEP-256".into(),
        value: b64url::encode(value),
        ..Default::default()
    };
    let ct = v.encrypt("rsa", None, &op(&plain)).await.unwrap();
    let ct_bytes = b64url::decode(&ct.value).unwrap();
    let pt = v.decrypt("rsa", None, &op(&ct_bytes)).await.unwrap();
    assert_eq!(b64url::decode(&pt.value).unwrap(), plain);
    let version = ct.kid.rsplit('/').next().unwrap().to_string();
    let wrapped = v
        .wrap_key("rsa", Some(&version), &op(&[7u8; 32]))
        .await
        .unwrap();
    let unwrapped = v
        .unwrap_key("rsa", None, &op(&b64url::decode(&wrapped.value).unwrap()))
        .await
        .unwrap();
    assert_eq!(b64url::decode(&unwrapped.value).unwrap(), vec![7u8; 32]);
    let digest = keyhaven_crypto::sha256(b"message");
    let sig = v
        .sign(
            "ec",
            None,
            &KeySignParameters {
                alg: "ES256".into(),
                value: b64url::encode(&digest),
            },
        )
        .await
        .unwrap();
    let verify = |d: &[u8]| KeyVerifyParameters {
        alg: "ES256".into(),
        digest: b64url::encode(d),
        value: sig.value.clone(),
    };
    assert!(v.verify("ec", None, &verify(&digest)).await.unwrap().value);
    assert!(
        !v.verify("ec", None, &verify(&keyhaven_crypto::sha256(b"other")))
            .await
            .unwrap()
            .value
    );

    // Update, rotation policy, rotate, versions.
    let k = v
        .update_key(
            "ec",
            None,
            &KeyUpdateParameters {
                key_ops: Some(vec!["sign".into(), "verify".into()]),
                tags: Some(BTreeMap::from([("use".into(), "signing".into())])),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(k.tags["use"], "signing");
    let policy = v
        .set_key_rotation_policy(
            "ec",
            &KeyRotationPolicy {
                id: None,
                lifetime_actions: vec![LifetimeAction {
                    trigger: LifetimeActionTrigger {
                        time_after_create: Some("P90D".into()),
                        time_before_expiry: None,
                    },
                    action: LifetimeActionType {
                        kind: "Rotate".into(),
                    },
                }],
                attributes: Some(RotationPolicyAttributes {
                    expiry_time: Some("P1Y".into()),
                    ..Default::default()
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(policy.lifetime_actions.len(), 1);
    let got = v.get_key_rotation_policy("ec").await.unwrap();
    assert_eq!(
        got.lifetime_actions[0].trigger.time_after_create.as_deref(),
        Some("P90D")
    );
    v.rotate_key("ec").await.unwrap();
    assert_eq!(
        v.list_key_versions("ec")
            .unwrap()
            .collect_all()
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(v.list_keys().collect_all().await.unwrap().len(), 2);
    assert_eq!(v.get_random_bytes(16).await.unwrap().len(), 16);

    // Import an oct key, delete, recover, back up and restore elsewhere.
    let imported = v
        .import_key(
            "imported",
            &KeyImportParameters {
                hsm: None,
                key: json!({"kty": "oct", "k": b64url::encode(&[9u8; 32])}),
                attributes: None,
                tags: None,
                release_policy: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(imported.key.kty, "oct");
    v.delete_key("imported").await.unwrap();
    assert!(v.get_deleted_key("imported").await.is_ok());
    assert_eq!(v.list_deleted_keys().collect_all().await.unwrap().len(), 1);
    v.recover_deleted_key("imported").await.unwrap();
    let blob = v.backup_key("rsa").await.unwrap();
    c.create_vault("other", &Default::default()).await.unwrap();
    let other = c.vault("other").await.unwrap();
    let restored = other.restore_key(&blob).await.unwrap();
    assert_eq!(restored.key.kty, "RSA");
    other.delete_key("rsa").await.unwrap();
    other.purge_deleted_key("rsa").await.unwrap();
    assert_eq!(
        status(&other.get_key("rsa", None).await.unwrap_err()),
        Some(404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_pending_operations_contacts_and_issuers() {
    let ts = TestServer::start().await;
    let c = client(&ts);
    let v = c.vault("default").await.unwrap();
    let create = |issuer: &str, subject: &str| CertificateCreateParameters {
        policy: Some(
            serde_json::from_value(
                json!({"issuer": {"name": issuer}, "x509_props": {"subject": subject}}),
            )
            .unwrap(),
        ),
        attributes: None,
        tags: None,
        preserve_cert_order: None,
    };
    let op = v
        .create_certificate("self", &create("Self", "CN=self"))
        .await
        .unwrap();
    assert_eq!(op.status, "inProgress");
    assert_eq!(
        v.get_certificate_operation("self").await.unwrap().status,
        "completed"
    );
    let cert = v.get_certificate("self", None).await.unwrap();
    assert!(cert.cer.is_some());
    let updated = v
        .update_certificate(
            "self",
            None,
            &CertificateCreateParameters {
                tags: Some(BTreeMap::from([("env".into(), "test".into())])),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.tags["env"], "test");
    let policy = v.get_certificate_policy("self").await.unwrap();
    assert_eq!(policy["x509_props"]["subject"], "CN=self");
    let policy = v
        .update_certificate_policy(
            "self",
            &json!({"x509_props": {"subject": "CN=renamed", "validity_months": 6}}),
        )
        .await
        .unwrap();
    assert_eq!(policy["x509_props"]["subject"], "CN=renamed");
    assert_eq!(
        v.list_certificate_versions("self")
            .unwrap()
            .collect_all()
            .await
            .unwrap()
            .len(),
        1
    );

    // A pending certificate: listed only with include_pending; cancelled; its operation deleted.
    v.create_certificate("ext", &create("Unknown", "CN=ext"))
        .await
        .unwrap();
    let op = v.get_certificate_operation("ext").await.unwrap();
    assert_eq!(op.status, "inProgress");
    assert!(op.csr.is_some());
    assert_eq!(
        v.list_certificates(false)
            .collect_all()
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        v.list_certificates(true).collect_all().await.unwrap().len(),
        2
    );
    let cancelled = v
        .update_certificate_operation(
            "ext",
            &CertificateOperationUpdateParameter {
                cancellation_requested: true,
            },
        )
        .await
        .unwrap();
    assert!(cancelled.cancellation_requested);
    v.delete_certificate_operation("ext").await.unwrap();
    assert_eq!(
        status(&v.get_certificate_operation("ext").await.unwrap_err()),
        Some(404)
    );

    // Contacts and issuers.
    let contacts = v
        .set_certificate_contacts(&ContactsDto {
            id: None,
            contacts: vec![json!({"email": "ops@example.com", "name": "Ops"})],
        })
        .await
        .unwrap();
    assert_eq!(contacts.contacts.len(), 1);
    assert_eq!(
        v.get_certificate_contacts().await.unwrap().contacts[0]["email"],
        "ops@example.com"
    );
    v.delete_certificate_contacts().await.unwrap();
    assert_eq!(
        status(&v.get_certificate_contacts().await.unwrap_err()),
        Some(404)
    );
    let issuer = v
        .set_certificate_issuer(
            "digi",
            &IssuerBundle {
                provider: Some("DigiCert".into()),
                credentials: Some(IssuerCredentials {
                    account_id: Some("acct".into()),
                    pwd: Some("issuer-password".into()),
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(issuer.provider.as_deref(), Some("DigiCert"));
    assert!(
        issuer.credentials.and_then(|c| c.pwd).is_none(),
        "the password is never returned"
    );
    let issuer = v
        .update_certificate_issuer(
            "digi",
            &IssuerBundle {
                attributes: Some(keyhaven_azure_api::certificates::IssuerAttributes {
                    enabled: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(issuer.attributes.and_then(|a| a.enabled), Some(false));
    assert_eq!(
        v.get_certificate_issuer("digi")
            .await
            .unwrap()
            .provider
            .as_deref(),
        Some("DigiCert")
    );
    let issuers = v.list_certificate_issuers().collect_all().await.unwrap();
    assert_eq!(issuers.len(), 1);
    assert_eq!(issuers[0].provider, "DigiCert");
    v.delete_certificate_issuer("digi").await.unwrap();
    assert!(v
        .list_certificate_issuers()
        .collect_all()
        .await
        .unwrap()
        .is_empty());

    // Delete, deleted, recover, purge, backup, restore.
    let blob = v.backup_certificate("self").await.unwrap();
    v.delete_certificate("self").await.unwrap();
    assert!(v.get_deleted_certificate("self").await.is_ok());
    assert_eq!(
        v.list_deleted_certificates()
            .collect_all()
            .await
            .unwrap()
            .len(),
        1
    );
    v.recover_deleted_certificate("self").await.unwrap();
    v.delete_certificate("self").await.unwrap();
    v.purge_deleted_certificate("self").await.unwrap();
    let restored = v.restore_certificate(&blob).await.unwrap();
    assert_eq!(restored.cer, cert.cer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_vault_jobs_and_management_calls() {
    let ts = TestServer::start().await;
    let c = client(&ts);
    let d = c.deployment().await.unwrap();
    assert_eq!(d.dns_suffix, "vault.localhost");
    let v = c.vault("default").await.unwrap();
    for n in ["a", "b"] {
        v.set_secret(n, &secret(&format!("v-{n}"))).await.unwrap();
    }
    let mut job = v.start_vault_backup(false).await.unwrap();
    while job.in_progress() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        job = v.vault_backup_job(&job.job_id).await.unwrap();
    }
    assert!(job.succeeded(), "{job:?}");
    assert_eq!(job.manifest.as_ref().unwrap().secrets, 2);
    let mut bytes = Vec::new();
    let mut last = 0;
    let n = v
        .download_vault_backup(&job.job_id, &mut bytes, &mut |p| last = p)
        .await
        .unwrap();
    assert_eq!(
        (n, last, bytes.len() as u64),
        (job.bytes, job.bytes, job.bytes)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vault.khvs");
    std::fs::write(&file, &bytes).unwrap();
    let manifest = c.verify_vault_backup(&file, None).await.unwrap();
    assert_eq!(manifest.digest, job.manifest.as_ref().unwrap().digest);

    // A selective restore of one secret into another vault, then the rest.
    c.create_vault("dst", &Default::default()).await.unwrap();
    let dst = c.vault("dst").await.unwrap();
    let wait = |mut job: keyhaven_azure_api::vault_backup::VaultJobStatus| {
        let dst = &dst;
        async move {
            while job.in_progress() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                job = dst.vault_restore_job(&job.job_id).await.unwrap();
            }
            job
        }
    };
    let job = wait(
        dst.start_vault_restore(&file, &Default::default(), RestoreTarget::Secret("a"))
            .await
            .unwrap(),
    )
    .await;
    assert!(job.succeeded(), "{job:?}");
    assert_eq!(job.report.as_ref().unwrap().restored, 1);
    let job = wait(
        dst.start_vault_restore(
            &file,
            &VaultRestoreOptions {
                conflict: keyhaven_client::ConflictPolicy::Skip,
                ..Default::default()
            },
            RestoreTarget::Vault,
        )
        .await
        .unwrap(),
    )
    .await;
    let report = job.report.unwrap();
    assert_eq!((report.restored, report.skipped), (1, 1));
    assert_eq!(
        dst.get_secret("b", None).await.unwrap().value.as_deref(),
        Some("v-b")
    );

    // Management: vaults and the geography's key.
    assert_eq!(c.get_vault("dst").await.unwrap().name, "dst");
    assert_eq!(c.list_vaults().await.unwrap().len(), 2);
    assert!(matches!(
        c.export_geography("local", "eleven char").await,
        Err(ClientError::InvalidArgument(m)) if m.contains("at least 12 characters")
    ));
    assert!(!c
        .export_geography("local", "twelve chars")
        .await
        .unwrap()
        .is_empty());
    let rotated = c.rotate_geography("local").await.unwrap();
    assert_eq!(rotated.geography, "local");
    assert!(!rotated.active_key_id.is_empty());
    c.delete_vault("dst").await.unwrap();
    assert_eq!(c.get_vault("dst").await.unwrap_err().status(), Some(404));
    // Disabled attributes travel typed too.
    let disabled = v
        .update_secret(
            "a",
            None,
            &SecretUpdateParameters {
                attributes: Some(AttributesIn {
                    enabled: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!disabled.attributes.enabled);
}
