//! Whole-vault backup and restore through the CLI and the HTTP API.

use crate::cli::Cli;
use crate::sdk::secret_client;
use azure_security_keyvault_secrets::models::SetSecretParameters;
use futures::TryStreamExt;
use keyhaven_testkit::TestServer;
use serde_json::Value;

async fn names(ts: &TestServer, vault: &str) -> Vec<String> {
    let c = secret_client(ts, vault);
    let mut v: Vec<String> = c
        .list_secret_properties(None)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id.unwrap().rsplit('/').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_vault_backup_restore_verify_through_the_cli() {
    let ts = TestServer::start().await;
    ts.create_vault("src").await;
    ts.create_vault("dst").await;
    let src = secret_client(&ts, "src");
    for i in 0..60 {
        for j in 0..3 {
            let mut p = SetSecretParameters::default();
            p.value = Some(format!("value-{i}-{j}"));
            src.set_secret(&format!("s{i:02}"), p.try_into().unwrap(), None)
                .await
                .unwrap();
        }
    }
    let cli = Cli { ts: &ts };
    let (code, _, err) = cli
        .run(&[
            "key",
            "create",
            "--vault-name",
            "src",
            "--name",
            "k1",
            "--kty",
            "RSA",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("src.khvs");
    let f = file.to_str().unwrap();

    let (code, out, err) = cli
        .run(&["vault", "backup", "--vault-name", "src", "--file", f])
        .await;
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["manifest"]["secrets"], 60);
    assert_eq!(status["manifest"]["keys"], 1);
    assert_eq!(status["manifest"]["versions"], 181);
    let (code, out, err) = cli.run(&["vault", "verify", "--file", f]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["versions"],
        181
    );

    // Dry run writes nothing; a real restore brings everything; a second one conflicts and changes nothing.
    let (code, out, err) = cli
        .run(&[
            "vault",
            "restore",
            "--vault-name",
            "dst",
            "--file",
            f,
            "--dry-run",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["report"]["restored"],
        61
    );
    assert!(names(&ts, "dst").await.is_empty());
    let (code, _, err) = cli
        .run(&["vault", "restore", "--vault-name", "dst", "--file", f])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&ts, "dst").await, names(&ts, "src").await);
    let dst = secret_client(&ts, "dst");
    assert_eq!(
        dst.get_secret("s42", None)
            .await
            .unwrap()
            .into_model()
            .unwrap()
            .value
            .as_deref(),
        Some("value-42-2")
    );
    let (code, _, err) = cli
        .run(&["vault", "restore", "--vault-name", "dst", "--file", f])
        .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("Conflict") && err.contains("nothing was restored"),
        "{err}"
    );
    let (code, out, err) = cli
        .run(&[
            "vault",
            "restore",
            "--vault-name",
            "dst",
            "--file",
            f,
            "--conflict",
            "skip",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["report"]["skipped"],
        61
    );

    // A damaged file is refused by verify and by restore, and nothing is written.
    ts.create_vault("empty").await;
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    let bad = dir.path().join("bad.khvs");
    std::fs::write(&bad, &bytes).unwrap();
    let truncated = dir.path().join("truncated.khvs");
    std::fs::write(&truncated, &std::fs::read(&file).unwrap()[..at]).unwrap();
    for damaged in [&bad, &truncated] {
        let d = damaged.to_str().unwrap();
        let (code, _, err) = cli.run(&["vault", "verify", "--file", d]).await;
        assert_eq!(code, 1, "{err}");
        let (code, _, err) = cli
            .run(&["vault", "restore", "--vault-name", "empty", "--file", d])
            .await;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("BadParameter"), "{err}");
    }
    assert!(names(&ts, "empty").await.is_empty());
    // The CLI refuses to overwrite an existing backup file.
    let (code, _, _) = cli
        .run(&["vault", "backup", "--vault-name", "src", "--file", f])
        .await;
    assert_eq!(code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_restore_and_server_side_backups_over_http() {
    let ts = TestServer::start().await;
    ts.create_vault("dst").await;
    let src = secret_client(&ts, "default");
    for n in ["a", "b", "c"] {
        let mut p = SetSecretParameters::default();
        p.value = Some(format!("v-{n}"));
        src.set_secret(n, p.try_into().unwrap(), None)
            .await
            .unwrap();
    }
    let http = ts.http(&["default", "dst"]);
    let token = ts.admin_token().await;
    let base = ts.vault_url("default");
    let resp = http
        .post(format!("{base}/backup?api-version=7.5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let pending = resp.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let mut status: Value = resp.json().await.unwrap();
    let id = status["jobId"].as_str().unwrap().to_string();
    status = finished(&http, &token, status, &pending).await;
    assert_eq!(status["status"], "Succeeded", "{status}");
    // Restore only "b" into another vault from the server-side backup.
    let dst = ts.vault_url("dst");
    let resp = http
        .put(format!(
            "{dst}/secrets/b/restore?api-version=7.5&backupId={id}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let mut status: Value = resp.json().await.unwrap();
    let rid = status["jobId"].as_str().unwrap().to_string();
    status = finished(
        &http,
        &token,
        status,
        &format!("{dst}/restore/{rid}/pending?api-version=7.5"),
    )
    .await;
    assert_eq!(status["status"], "Succeeded", "{status}");
    assert_eq!(names(&ts, "dst").await, vec!["b".to_string()]);
    // Jobs are per vault: another vault does not see them.
    let other = http
        .get(format!("{dst}/backup/{id}/pending?api-version=7.5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_written_and_pruned() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_path_buf();
    let ts = TestServer::start_with(
        move |c| {
            c.backup_schedules = vec![keyhaven_server::BackupSchedule {
                vault: "default".into(),
                every_secs: 1,
                dir: Some(dir),
                keep_last: Some(2),
                max_age_days: None,
                include_deleted: false,
                container_url: None,
                sas_token_file: None,
            }]
        },
        None,
    )
    .await;
    let mut p = SetSecretParameters::default();
    p.value = Some("scheduled".into());
    secret_client(&ts, "default")
        .set_secret("s", p.try_into().unwrap(), None)
        .await
        .unwrap();
    let files = || {
        let mut v: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".khvs"))
            .collect();
        v.sort();
        v
    };
    // Wait for the first scheduled backup, then long enough for several more (health details need a token).
    let mtoken = ts.management_token().await;
    for _ in 0..100 {
        let health: Value = ts
            .http(&[])
            .get(format!("{}/healthz", ts.authority()))
            .bearer_auth(&mtoken)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["backupSchedules"][0]["lastSuccess"].is_i64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let names = files();
    assert_eq!(names.len(), 2, "keep-last 2: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("default-")));
    // A scheduled backup is a whole-vault backup like any other: it verifies and restores.
    let cli = crate::cli::Cli { ts: &ts };
    let newest = out.path().join(names.last().unwrap());
    let (code, outp, err) = cli
        .run(&["vault", "verify", "--file", newest.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&outp).unwrap()["secrets"], 1);
}

/// Waits for a whole-vault backup or restore job to finish and returns its final status.
pub(crate) async fn finished(
    http: &reqwest::Client,
    token: &str,
    mut status: Value,
    url: &str,
) -> Value {
    while status["status"] == "InProgress" {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        status = http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    status
}
