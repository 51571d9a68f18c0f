//! Every secrets operation through the official `azure_security_keyvault_secrets` client.

use crate::sdk::{secret_client, status};
use azure_security_keyvault_secrets::models::{
    RestoreSecretParameters, SecretAttributes, SetSecretParameters,
    UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::{ResourceExt, SecretClient};
use futures::TryStreamExt;
use keyhaven_testkit::TestServer;
use std::collections::HashMap;

async fn set(
    c: &SecretClient,
    name: &str,
    value: &str,
) -> azure_security_keyvault_secrets::models::Secret {
    let mut p = SetSecretParameters::default();
    p.value = Some(value.into());
    c.set_secret(name, p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
}

async fn value_of(c: &SecretClient, name: &str) -> Result<Option<String>, u16> {
    match c.get_secret(name, None).await {
        Ok(r) => Ok(r.into_model().unwrap().value),
        Err(e) => Err(status(&e)),
    }
}

fn restore_params(blob: Vec<u8>) -> azure_core::http::RequestContent<RestoreSecretParameters> {
    let mut rp = RestoreSecretParameters::default();
    rp.secret_backup = Some(blob);
    rp.try_into().unwrap()
}

#[tokio::test]
async fn every_secret_operation_through_the_sdk() {
    secret_operations(&TestServer::start().await).await;
}

/// The flow of [`every_secret_operation_through_the_sdk`] on the server `ts` (run on PostgreSQL too: `postgres_sdk`).
pub async fn secret_operations(ts: &TestServer) {
    let c = secret_client(ts, "default");

    // Set, with content type and tags; ids are Azure-shaped.
    let mut p = SetSecretParameters::default();
    p.value = Some("hunter2".into());
    p.content_type = Some("text/plain".into());
    p.tags = Some(HashMap::from([("env".to_string(), "test".to_string())]));
    let s1 = c
        .set_secret("db-password", p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let id1 = s1.resource_id().unwrap();
    let v1 = id1.version.clone().unwrap();
    assert_eq!(id1.name, "db-password");
    assert_eq!(v1.len(), 32);
    assert!(s1
        .id
        .as_deref()
        .unwrap()
        .starts_with(&format!("{}/secrets/db-password/", ts.vault_url("default"))));
    assert_eq!(s1.content_type.as_deref(), Some("text/plain"));
    assert_eq!(s1.tags.as_ref().unwrap()["env"], "test");
    let attrs = s1.attributes.as_ref().unwrap();
    assert_eq!(attrs.enabled, Some(true));
    assert_eq!(attrs.recoverable_days, Some(90));

    // A second version becomes the latest; the first stays readable by version.
    let s2 = set(&c, "db-password", "hunter3").await;
    let v2 = s2.resource_id().unwrap().version.unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        value_of(&c, "db-password").await,
        Ok(Some("hunter3".into()))
    );
    let mut o = azure_security_keyvault_secrets::models::SecretClientGetSecretOptions::default();
    o.secret_version = Some(v1.clone());
    let old = c
        .get_secret("db-password", Some(o))
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(old.value.as_deref(), Some("hunter2"));
    // Names are case-insensitive.
    assert_eq!(
        value_of(&c, "DB-PASSWORD").await,
        Ok(Some("hunter3".into()))
    );

    // Update properties of the latest: disable it; its value is then refused with 403.
    let mut u = UpdateSecretPropertiesParameters::default();
    let mut a = SecretAttributes::default();
    a.enabled = Some(false);
    u.secret_attributes = Some(a);
    u.tags = Some(HashMap::from([("rotated".to_string(), "yes".to_string())]));
    let upd = c
        .update_secret_properties("db-password", u.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(upd.attributes.as_ref().unwrap().enabled, Some(false));
    assert_eq!(upd.tags.as_ref().unwrap()["rotated"], "yes");
    assert!(upd.value.is_none(), "update does not return the value");
    assert_eq!(value_of(&c, "db-password").await, Err(403));

    // Versions list.
    let versions: Vec<_> = c
        .list_secret_properties_versions("db-password", None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);

    // Listing pages through nextLink (more than one page of 25).
    for i in 0..30 {
        set(&c, &format!("bulk-{i:02}"), "v").await;
    }
    let all: Vec<_> = c
        .list_secret_properties(None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 31);
    assert!(
        all.iter()
            .all(|s| s.id.as_deref().unwrap().split('/').count() == 5),
        "listed ids carry no version"
    );

    // Delete: soft, recoverable, name not reusable meanwhile.
    let d = c
        .delete_secret("db-password", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert!(d
        .recovery_id
        .as_deref()
        .unwrap()
        .ends_with("/deletedsecrets/db-password"));
    assert!(d.scheduled_purge_date.unwrap() > d.deleted_date.unwrap());
    assert_eq!(value_of(&c, "db-password").await, Err(404));
    let gd = c
        .get_deleted_secret("db-password", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(gd.recovery_id, d.recovery_id);
    let deleted: Vec<_> = c
        .list_deleted_secret_properties(None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(deleted.len(), 1);
    let mut p = SetSecretParameters::default();
    p.value = Some("x".into());
    let e = c
        .set_secret("db-password", p.try_into().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);

    // Recover brings back every version.
    c.recover_deleted_secret("db-password", None).await.unwrap();
    let versions: Vec<_> = c
        .list_secret_properties_versions("db-password", None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);

    // Backup, delete, purge, restore: same versions, same values.
    let mut en = UpdateSecretPropertiesParameters::default();
    let mut a = SecretAttributes::default();
    a.enabled = Some(true);
    en.secret_attributes = Some(a);
    c.update_secret_properties("db-password", en.try_into().unwrap(), None)
        .await
        .unwrap();
    let blob = c
        .backup_secret("db-password", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    assert!(
        !blob.windows(7).any(|w| w == b"hunter2"),
        "the blob does not hold values in the clear"
    );
    c.delete_secret("db-password", None).await.unwrap();
    let e = c
        .restore_secret(restore_params(blob.clone()), None)
        .await
        .unwrap_err();
    assert_eq!(
        status(&e),
        409,
        "restore over a deleted-but-recoverable name is a conflict"
    );
    c.purge_deleted_secret("db-password", None).await.unwrap();
    assert_eq!(
        status(&c.get_deleted_secret("db-password", None).await.unwrap_err()),
        404
    );
    let r = c
        .restore_secret(restore_params(blob.clone()), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        r.resource_id().unwrap().version.as_deref(),
        Some(v2.as_str()),
        "original version ids"
    );
    assert_eq!(
        value_of(&c, "db-password").await,
        Ok(Some("hunter3".into()))
    );
    let mut o = azure_security_keyvault_secrets::models::SecretClientGetSecretOptions::default();
    o.secret_version = Some(v1);
    assert_eq!(
        c.get_secret("db-password", Some(o))
            .await
            .unwrap()
            .into_model()
            .unwrap()
            .value
            .as_deref(),
        Some("hunter2")
    );
    // Restoring over a live secret: 409, nothing changed.
    assert_eq!(
        status(
            &c.restore_secret(restore_params(blob), None)
                .await
                .unwrap_err()
        ),
        409
    );
}

#[tokio::test]
async fn restore_into_another_vault_and_refuse_tampered_blobs() {
    secret_restore_across_vaults(&TestServer::start().await).await;
}

/// The flow of [`restore_into_another_vault_and_refuse_tampered_blobs`] on the server `ts` (run on PostgreSQL too: `postgres_sdk`).
pub async fn secret_restore_across_vaults(ts: &TestServer) {
    ts.create_vault("second").await;
    let a = secret_client(ts, "default");
    let b = secret_client(ts, "second");
    set(&a, "api-key", "s3cr3t").await;
    let blob = a
        .backup_secret("api-key", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();

    // Tampered or truncated blobs: 400, nothing written.
    let mut bad = blob.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    assert_eq!(
        status(
            &b.restore_secret(restore_params(bad), None)
                .await
                .unwrap_err()
        ),
        400
    );
    assert_eq!(
        status(
            &b.restore_secret(restore_params(blob[..blob.len() - 1].to_vec()), None)
                .await
                .unwrap_err()
        ),
        400
    );
    assert_eq!(
        status(
            &b.restore_secret(restore_params(b"not a backup".to_vec()), None)
                .await
                .unwrap_err()
        ),
        400
    );
    assert_eq!(value_of(&b, "api-key").await, Err(404));

    // The same subscription and geography: restores.
    b.restore_secret(restore_params(blob), None).await.unwrap();
    assert_eq!(value_of(&b, "api-key").await, Ok(Some("s3cr3t".into())));
    assert_eq!(
        value_of(&a, "api-key").await,
        Ok(Some("s3cr3t".into())),
        "the source is untouched"
    );
}
