//! A whole-vault restore killed with SIGKILL while it writes its batches leaves the target vault exactly as before
//! (rolled back from its journal when the server starts again).

use crate::crash::{free_port, spawn, start_process, token, wait_ready};
use crate::vault_backup::finished;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

async fn count(http: &reqwest::Client, port: u16, tok: &str) -> usize {
    let mut url = format!("https://dst.vault.localhost:{port}/secrets?api-version=7.5");
    let mut n = 0;
    loop {
        let v: Value = http
            .get(&url)
            .bearer_auth(tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        n += v["value"].as_array().map(Vec::len).unwrap_or(0);
        match v["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => return n,
        }
    }
}

/// What `dst` holds before the restore, and must hold again after the crash.
const KEPT: usize = 5;

/// GET a secret of `dst`: status, Retry-After, body.
async fn get_dst(
    http: &reqwest::Client,
    port: u16,
    tok: &str,
    name: &str,
) -> (u16, Option<String>, Value) {
    let r = http
        .get(format!(
            "https://dst.vault.localhost:{port}/secrets/{name}?api-version=7.5"
        ))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_part_way_leaves_the_target_unchanged() {
    // 3,000 secrets of 24 KB: about 72 MB of records, so the restore writes about ten batches.
    const SECRETS: usize = 3000;
    const VALUE: usize = 24_000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let (mut child, http, cred) = start_process(&data, port, &["src", "dst"]).await;
    let tok = token(&http, port, &cred).await;
    let mtok = crate::crash::management_token(&http, port, &cred).await;
    for v in ["src", "dst"] {
        let r = http
            .put(format!("https://localhost:{port}/_keyhaven/vaults/{v}"))
            .bearer_auth(&mtok)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    futures::stream::iter(0..SECRETS)
        .for_each_concurrent(32, |i| {
            let (http, tok) = (http.clone(), tok.clone());
            async move {
                let r = http
                    .put(format!(
                        "https://src.vault.localhost:{port}/secrets/s{i}?api-version=7.5"
                    ))
                    .bearer_auth(&tok)
                    .json(&json!({"value": format!("value-{i}-{}", "x".repeat(VALUE))}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
        .await;
    for i in 0..KEPT {
        let r = http
            .put(format!(
                "https://dst.vault.localhost:{port}/secrets/keep{i}?api-version=7.5"
            ))
            .bearer_auth(&tok)
            .json(&json!({"value": format!("kept-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let src = format!("https://src.vault.localhost:{port}");
    let status: Value = http
        .post(format!("{src}/backup?api-version=7.5"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = status["jobId"].as_str().unwrap().to_string();
    finished(
        &http,
        &tok,
        status,
        &format!("{src}/backup/{id}/pending?api-version=7.5"),
    )
    .await;
    let backup = http
        .get(format!("{src}/backup/{id}/content?api-version=7.5"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // Start the restore; once the vault answers 503 (pass 2 has put its mark on the vault and is writing
    // batches), give it time for a few batches and kill the server while the vault still answers 503.
    let r = http
        .put(format!(
            "https://dst.vault.localhost:{port}/restore?api-version=7.5"
        ))
        .bearer_auth(&tok)
        .body(backup.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let started = std::time::Instant::now();
    loop {
        let (status, retry, body) = get_dst(&http, port, &tok, "keep0").await;
        if status == 503 {
            assert_eq!(retry.as_deref(), Some("10"), "a 503 says when to retry");
            assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("is being restored"),
                "{body}"
            );
            break;
        }
        assert_eq!(
            status, 200,
            "before the restore writes, the vault serves: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the restore never started writing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, _) = get_dst(&http, port, &tok, "keep0").await;
    assert_eq!(
        status, 503,
        "the restore is still writing when it is killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn(&data, port);
    wait_ready(&http, port).await;
    let (status, _, body) = get_dst(&http, port, &tok, "keep3").await;
    assert_eq!(
        status, 200,
        "rolled back at start-up: the vault serves again: {body}"
    );
    assert_eq!(body["value"], "kept-3");
    let n = count(&http, port, &tok).await;
    assert_eq!(
        n, KEPT,
        "all or nothing: the vault holds exactly what it held before the restore"
    );
    {
        // The interrupted restore left nothing in the way: a new one succeeds completely.
        let mut status: Value = http
            .put(format!(
                "https://dst.vault.localhost:{port}/restore?api-version=7.5"
            ))
            .bearer_auth(&tok)
            .body(backup)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rid = status["jobId"].as_str().unwrap().to_string();
        status = finished(
            &http,
            &tok,
            status,
            &format!("https://dst.vault.localhost:{port}/restore/{rid}/pending?api-version=7.5"),
        )
        .await;
        assert_eq!(status["status"], "Succeeded", "{status}");
        assert_eq!(count(&http, port, &tok).await, SECRETS + KEPT);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
