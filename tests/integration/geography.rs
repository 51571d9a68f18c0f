//! Backups are bound to (subscription, geography): another deployment refuses them, until it imports the
//! geography key (joining the subscription).

use crate::sdk::{secret_client, status};
use azure_security_keyvault_secrets::models::{RestoreSecretParameters, SetSecretParameters};
use keyhaven_testkit::TestServer;
use serde_json::{json, Value};

#[tokio::test]
async fn another_deployment_refuses_a_blob_until_it_imports_the_geography_key() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let ca = secret_client(&a, "default");
    let cb = secret_client(&b, "default");
    let mut p = SetSecretParameters::default();
    p.value = Some("moved".into());
    ca.set_secret("portable", p.try_into().unwrap(), None)
        .await
        .unwrap();
    let blob = ca
        .backup_secret("portable", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    let restore = |blob: Vec<u8>| {
        let mut rp = RestoreSecretParameters::default();
        rp.secret_backup = Some(blob);
        rp.try_into().unwrap()
    };

    // Raw call to read the error message.
    let token = b.admin_token().await;
    let resp = b
        .http(&["default"])
        .post(format!(
            "{}/secrets/restore?api-version=7.5",
            b.vault_url("default")
        ))
        .bearer_auth(&token)
        .json(&json!({"value": keyhaven_azure_api_b64(&blob)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadParameter");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another subscription"),
        "{body}"
    );
    assert_eq!(
        status(&cb.get_secret("portable", None).await.unwrap_err()),
        404
    );

    // Export from A under a passphrase; a wrong passphrase is refused; B imports and then restores.
    let ta = a.management_token().await;
    let export: Value = a
        .http(&[])
        .post(format!(
            "{}/_keyhaven/geographies/local/export",
            a.authority()
        ))
        .bearer_auth(&ta)
        .json(&json!({"passphrase": "correct horse battery staple"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mtoken = b.management_token().await;
    let import = |pass: &'static str| {
        b.http(&[])
            .post(format!("{}/_keyhaven/geographies/import", b.authority()))
            .bearer_auth(mtoken.clone())
            .json(&json!({"passphrase": pass, "value": export["value"]}))
            .send()
    };
    let wrong = import("wrong").await.unwrap();
    assert_eq!(wrong.status(), 400);
    let ok = import("correct horse battery staple").await.unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    cb.restore_secret(restore(blob), None).await.unwrap();
    assert_eq!(
        cb.get_secret("portable", None)
            .await
            .unwrap()
            .into_model()
            .unwrap()
            .value
            .as_deref(),
        Some("moved")
    );

    // And the other way round: B's new backups restore on A.
    let blob_b = cb
        .backup_secret("portable", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    ca.delete_secret("portable", None).await.unwrap();
    ca.purge_deleted_secret("portable", None).await.unwrap();
    ca.restore_secret(restore(blob_b), None).await.unwrap();
}

fn keyhaven_azure_api_b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The server refuses to seal an export under a passphrase shorter than 12 characters, whatever the client checks.
#[tokio::test]
async fn export_passphrases_are_at_least_twelve_characters() {
    let ts = TestServer::start().await;
    let token = ts.management_token().await;
    let export = |pass: &'static str| {
        ts.http(&[])
            .post(format!(
                "{}/_keyhaven/geographies/local/export",
                ts.authority()
            ))
            .bearer_auth(token.clone())
            .json(&json!({ "passphrase": pass }))
            .send()
    };
    for short in ["", "short", "eleven char"] {
        let r = export(short).await.unwrap();
        assert_eq!(r.status(), 400, "{short:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "BadParameter");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 12 characters"));
    }
    let r = export("twelve chars").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["value"].as_str().is_some_and(|v| !v.is_empty()));
}
