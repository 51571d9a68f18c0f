//! Backups into Blob Storage (Azurite) beyond the SDK's test: over HTTPS, the server trusts the CA named by
//! `storage-ca-file` (besides the system's) and nothing else — a backup into Azurite served with a certificate of a
//! private CA succeeds with that CA configured, restores into another vault, and fails without it (the SAS token in
//! no message); and a backup schedule writes into a container.

use super::azurite::Azurite;
use super::tls::{ec_key, make_cert};
use keyhaven_testkit::TestServer;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A CA and a certificate for 127.0.0.1 it signed, written to `dir`: (CA file, certificate file, key file).
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = ec_key();
    let ca = make_cert("Storage test CA", &ca_key, None, true, &[], &[]);
    let key = ec_key();
    let leaf = make_cert(
        "127.0.0.1",
        &key,
        Some((&ca, &ca_key)),
        false,
        &["localhost"],
        &["127.0.0.1"],
    );
    let files = (
        dir.join("ca.pem"),
        dir.join("storage.pem"),
        dir.join("storage-key.pem"),
    );
    std::fs::write(&files.0, ca.to_pem().unwrap()).unwrap();
    std::fs::write(&files.1, leaf.to_pem().unwrap()).unwrap();
    std::fs::write(&files.2, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    files
}

/// Starts a job with `req` and waits for its end; returns the final status document.
async fn job(ts: &TestServer, vault: &str, req: reqwest::RequestBuilder) -> Value {
    let token = ts.admin_token().await;
    let resp = req
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let status_url = resp.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(status_url.starts_with(&ts.vault_url(vault)), "{status_url}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s: Value = ts
            .http(&[vault])
            .get(&status_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["status"] != "InProgress" {
            return s;
        }
        assert!(Instant::now() < deadline, "the job did not end: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Restores the backup in `folder` of the container into `vault`; returns the final status.
async fn restore(ts: &TestServer, vault: &str, url: &str, sas: &str, folder: &str) -> Value {
    let req = ts
        .http(&[vault])
        .put(format!("{}/restore?api-version=7.5", ts.vault_url(vault)))
        .body(
            json!({
                "folderToRestore": folder,
                "sasTokenParameters": { "storageResourceUri": url, "token": sas },
            })
            .to_string(),
        );
    job(ts, vault, req).await
}

async fn secret_value(ts: &TestServer, vault: &str, name: &str) -> Value {
    let v: Value = ts
        .http(&[vault])
        .get(format!(
            "{}/secrets/{name}?api-version=7.5",
            ts.vault_url(vault)
        ))
        .bearer_auth(ts.admin_token().await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"].clone()
}

async fn set_secret(ts: &TestServer, vault: &str, name: &str, value: &str) {
    let resp = ts
        .http(&[vault])
        .put(format!(
            "{}/secrets/{name}?api-version=7.5",
            ts.vault_url(vault)
        ))
        .bearer_auth(ts.admin_token().await)
        .json(&json!({ "value": value }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn backup(ts: &TestServer, url: &str, sas: &str) -> Value {
    let req = ts
        .http(&["default"])
        .post(format!(
            "{}/backup?api-version=7.5",
            ts.vault_url("default")
        ))
        .body(json!({ "storageResourceUri": url, "token": sas }).to_string());
    job(ts, "default", req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_reach_storage_over_https_trusting_only_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let azurite = Azurite::start_tls(&cert, &key).await;
    let (url, sas) = azurite.container(Some(&ca)).await;

    // Without the CA: the job fails, saying why, and no message holds the token.
    let untrusting = TestServer::start().await;
    let failed = backup(&untrusting, &url, &sas).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert_eq!(failed["error"]["code"], "StorageUnreachable", "{failed}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("certificate"), "{message}");
    let sig = sas.split('&').find_map(|p| p.strip_prefix("sig=")).unwrap();
    assert!(!failed.to_string().contains(sig), "{failed}");
    assert!(
        failed["azureStorageBlobContainerUri"].is_null(),
        "no folder was written: {failed}"
    );

    // With it: backed up, then restored into another vault from the folder.
    let ca_file = ca.clone();
    let ts = TestServer::start_with(move |c| c.storage_ca_file = Some(ca_file), None).await;
    ts.create_vault("dst").await;
    set_secret(&ts, "default", "over-tls", "sealed in transit").await;
    let done = backup(&ts, &url, &sas).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    let folder_url = done["azureStorageBlobContainerUri"].as_str().unwrap();
    let folder = folder_url.strip_prefix(&format!("{url}/")).unwrap();
    assert!(folder.starts_with("mhsm-default-"), "{folder}");

    let restored = restore(&ts, "dst", &url, &sas, folder).await;
    assert_eq!(restored["status"], "Succeeded", "{restored}");
    assert_eq!(
        secret_value(&ts, "dst", "over-tls").await,
        "sealed in transit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_schedule_writes_into_a_container() {
    let azurite = Azurite::start().await;
    let (url, sas) = azurite.container(None).await;
    let dir = tempfile::tempdir().unwrap();
    let sas_file = dir.path().join("sas-token");
    std::fs::write(&sas_file, &sas).unwrap();
    let (u, f) = (url.clone(), sas_file.clone());
    let ts = TestServer::start_with(
        move |c| {
            c.backup_schedules = vec![keyhaven_server::BackupSchedule {
                vault: "default".into(),
                every_secs: 1,
                dir: None,
                keep_last: None,
                max_age_days: None,
                include_deleted: false,
                container_url: Some(u),
                sas_token_file: Some(f),
            }]
        },
        None,
    )
    .await;
    ts.create_vault("dst").await;
    set_secret(&ts, "default", "scheduled", "to the container").await;
    let token = ts.management_token().await;
    // Backups run one after another: the second one to finish after the secret was set began after it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut seen, mut changes) = (None::<Option<String>>, 0);
    let folder_url = loop {
        let health: Value = ts
            .http(&[])
            .get(format!("{}/healthz", ts.authority()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = &health["backupSchedules"][0];
        assert!(status["lastError"].is_null(), "{health}");
        let last = status["lastFile"].as_str().map(String::from);
        match &seen {
            Some(prev) if *prev == last => {}
            Some(_) => {
                changes += 1;
                seen = Some(last.clone());
            }
            None => seen = Some(last.clone()),
        }
        if let (2.., Some(file)) = (changes, last) {
            break file;
        }
        assert!(Instant::now() < deadline, "no scheduled backup: {health}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!folder_url.contains(&sas), "{folder_url}");
    let folder = folder_url.strip_prefix(&format!("{url}/")).unwrap();
    let restored = restore(&ts, "dst", &url, &sas, folder).await;
    assert_eq!(restored["status"], "Succeeded", "{restored}");
    assert_eq!(
        secret_value(&ts, "dst", "scheduled").await,
        "to the container"
    );
}
