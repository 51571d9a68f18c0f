//! Uploads and jobs: a vault backup body over the configured size is refused with 413 as soon as that is known,
//! restoring nothing and leaving no file; a vault runs one backup or restore at a time; finished jobs and their
//! backup files are deleted after their retention.

use base64::Engine;
use keyhaven_testkit::TestServer;
use serde_json::{json, Value};
use std::time::Duration;

const CAP: u64 = 64 << 10;

struct Vaults<'a> {
    ts: &'a TestServer,
    http: reqwest::Client,
    token: String,
}

impl Vaults<'_> {
    fn url(&self, vault: &str, path: &str) -> String {
        format!("{}/{path}?api-version=7.5", self.ts.vault_url(vault))
    }

    async fn set(&self, vault: &str, name: &str, value: &str) {
        let r = self
            .http
            .put(self.url(vault, &format!("secrets/{name}")))
            .bearer_auth(&self.token)
            .json(&json!({ "value": value }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn secret_count(&self, vault: &str) -> usize {
        let r: Value = self
            .http
            .get(self.url(vault, "secrets"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["value"].as_array().unwrap().len()
    }

    /// Starts a whole-vault backup: the response's status and body.
    async fn start_backup(&self, vault: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(vault, "backup"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// A job's status (`kind` backup or restore); None once the server no longer knows it.
    async fn job(&self, vault: &str, kind: &str, id: &str) -> Option<Value> {
        let r = self
            .http
            .get(self.url(vault, &format!("{kind}/{id}/pending")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => Some(r.json().await.unwrap()),
            404 => None,
            other => panic!("job status {other}"),
        }
    }

    async fn wait_done(&self, vault: &str, kind: &str, id: &str) -> Value {
        loop {
            let s = self.job(vault, kind, id).await.expect("the job exists");
            if s["status"] != "InProgress" {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A finished whole-vault backup of `vault`, and its job id.
    async fn backup(&self, vault: &str) -> (Vec<u8>, String) {
        let (code, started) = self.start_backup(vault).await;
        assert_eq!(code, 202, "{started}");
        let id = started["jobId"].as_str().unwrap().to_string();
        let done = self.wait_done(vault, "backup", &id).await;
        assert_eq!(done["status"], "Succeeded", "{done}");
        let bytes = self
            .http
            .get(self.url(vault, &format!("backup/{id}/content")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        (bytes, id)
    }
}

/// The files in the server's backup directory.
fn backup_dir_files(ts: &TestServer) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(ts.data_dir().join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// About 20 KB of text that does not compress much.
fn noise(seed: u8) -> String {
    let mut bytes = vec![0u8; 15_000];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    bytes[0] = seed;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_over_the_upload_limit_is_refused_with_413_and_restores_nothing() {
    let ts = TestServer::start_with(|c| c.jobs.max_upload_bytes = CAP, None).await;
    for v in ["big", "small", "copy"] {
        ts.create_vault(v).await;
    }
    let vaults = Vaults {
        ts: &ts,
        http: ts.http(&["big", "small", "copy"]),
        token: ts.admin_token().await,
    };
    for i in 0..6 {
        vaults.set("big", &format!("s{i}"), &noise(i)).await;
    }
    vaults.set("small", "only", "one small secret").await;
    let (big, _) = vaults.backup("big").await;
    let (small, _) = vaults.backup("small").await;
    assert!(big.len() as u64 > CAP && (small.len() as u64) < CAP);
    let before = backup_dir_files(&ts);

    // Declared too long: refused before a byte is read.
    let r = vaults
        .http
        .put(vaults.url("copy", "restore"))
        .bearer_auth(&vaults.token)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "RequestEntityTooLarge", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&CAP.to_string()),
        "{e}"
    );
    // No length declared (a stream of chunks): refused once the bytes pass the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(8 << 10).map(|c| Ok(c.to_vec())).collect();
    let r = vaults
        .http
        .put(vaults.url("copy", "restore"))
        .bearer_auth(&vaults.token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // The verify endpoint takes the same limit.
    let r = vaults
        .http
        .post(format!(
            "{}/_keyhaven/backups/verify?vault=copy",
            ts.authority()
        ))
        .bearer_auth(ts.management_token().await)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Nothing restored, no upload left behind.
    assert_eq!(vaults.secret_count("copy").await, 0);
    assert_eq!(backup_dir_files(&ts), before);

    // Under the limit, a restore goes through.
    let r = vaults
        .http
        .put(vaults.url("copy", "restore"))
        .bearer_auth(&vaults.token)
        .body(small)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let done = vaults.wait_done("copy", "restore", &id).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(vaults.secret_count("copy").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_backup_or_restore_of_a_vault_gets_409_while_one_runs() {
    let ts = TestServer::start().await;
    ts.create_vault("dst").await;
    let vaults = Vaults {
        ts: &ts,
        http: ts.http(&["default", "dst"]),
        token: ts.admin_token().await,
    };
    vaults.set("default", "a", "value-a").await;
    let (backup, _) = vaults.backup("default").await;

    // A restore into dst that runs as long as its upload does: the body comes in two parts, the second when the
    // test says so.
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    let half = backup.len() / 2;
    tx.unbounded_send(Ok(backup[..half].to_vec())).unwrap();
    let first = {
        let (http, url, token) = (
            vaults.http.clone(),
            vaults.url("dst", "restore"),
            vaults.token.clone(),
        );
        tokio::spawn(async move {
            http.put(url)
                .bearer_auth(token)
                .body(reqwest::Body::wrap_stream(rx))
                .send()
                .await
                .unwrap()
        })
    };
    // The server has the restore job once its upload file exists (`upload-{job}.khvs.tmp`).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let running = loop {
        let upload = backup_dir_files(&ts).into_iter().find_map(|f| {
            Some(
                f.strip_prefix("upload-")?
                    .strip_suffix(".khvs.tmp")?
                    .to_string(),
            )
        });
        if let Some(id) = upload {
            break id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restore did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A backup and a second restore of dst are refused, naming the running job.
    let (code, conflict) = vaults.start_backup("dst").await;
    assert_eq!(code, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "Conflict", "{conflict}");
    let message = conflict["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains(&format!("restore job ({running})")),
        "{message}"
    );
    let r = vaults
        .http
        .put(vaults.url("dst", "restore"))
        .bearer_auth(&vaults.token)
        .body(backup.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // Other vaults are not held up.
    let (code, other) = vaults.start_backup("default").await;
    assert_eq!(code, 202, "{other}");
    let other_id = other["jobId"].as_str().unwrap().to_string();
    vaults.wait_done("default", "backup", &other_id).await;

    // The first restore completes; its job is the one the refusals named; then dst takes jobs again.
    tx.unbounded_send(Ok(backup[half..].to_vec())).unwrap();
    drop(tx);
    let r = first.await.unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id, running);
    let done = vaults.wait_done("dst", "restore", &id).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(vaults.secret_count("dst").await, 1);
    let (code, body) = vaults.start_backup("dst").await;
    assert_eq!(code, 202, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_and_their_backup_files_are_deleted_after_their_retention() {
    let ts = TestServer::start_with(
        |c| {
            c.jobs.keep_finished_secs = 3600;
            c.jobs.keep_finished_per_vault = 2;
        },
        Some(std::sync::Arc::new(
            keyhaven_model::ManualClock::starting_now(),
        )),
    )
    .await;
    let clock = ts.clock.clone().unwrap();
    let mut vaults = Vaults {
        ts: &ts,
        http: ts.http(&["default"]),
        token: ts.admin_token().await,
    };
    vaults.set("default", "a", "value-a").await;
    let khvs = |ts: &TestServer| {
        backup_dir_files(ts)
            .into_iter()
            .filter(|f| f.ends_with(".khvs"))
            .collect::<Vec<_>>()
    };
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, id) = vaults.backup("default").await;
        ids.push(id);
        clock.advance(60);
    }
    // At most two finished jobs per vault: the oldest goes, with its file (the server checks every second).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while vaults.job("default", "backup", &ids[0]).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the oldest job is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut kept = vec![format!("{}.khvs", ids[1]), format!("{}.khvs", ids[2])];
    kept.sort();
    assert_eq!(khvs(&ts), kept);
    let gone = vaults
        .http
        .get(vaults.url("default", &format!("backup/{}/content", ids[0])))
        .bearer_auth(&vaults.token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(vaults.job("default", "backup", &ids[2]).await.is_some());

    // An hour on the server's clock later, the rest go too (a token of before has expired by then).
    clock.advance(3600);
    vaults.token = ts.admin_token().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !khvs(&ts).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "backup files are still there: {:?}",
            khvs(&ts)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &ids {
        assert!(vaults.job("default", "backup", id).await.is_none());
    }
}
