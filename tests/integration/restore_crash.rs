//! A whole-vault restore killed with SIGKILL part-way leaves the target vault exactly as before (after restart).

use crate::crash::{free_port, spawn, start_process, token, wait_ready};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_part_way_leaves_the_target_unchanged() {
    const SECRETS: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let (mut child, http, cred) = start_process(&data, port, &["src", "dst"]).await;
    let tok = token(&http, port, &cred).await;
    for v in ["src", "dst"] {
        let r = http
            .put(format!("https://localhost:{port}/_keyhaven/vaults/{v}"))
            .bearer_auth(&tok)
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
                    .json(&json!({"value": format!("value-{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        })
        .await;
    let src = format!("https://src.vault.localhost:{port}");
    let mut status: Value = http
        .post(format!("{src}/backup?api-version=7.5"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = status["jobId"].as_str().unwrap().to_string();
    while status["status"] == "InProgress" {
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = http
            .get(format!("{src}/backup/{id}/pending?api-version=7.5"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    let backup = http
        .get(format!("{src}/backup/{id}/content?api-version=7.5"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // Start the restore and kill the server while it runs.
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
    tokio::time::sleep(Duration::from_millis(30)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn(&data, port);
    wait_ready(&http, port).await;
    let n = count(&http, port, &tok).await;
    assert!(
        n == 0 || n == SECRETS,
        "all or nothing: {n} of {SECRETS} secrets after the crash"
    );
    if n == 0 {
        // The interrupted restore left nothing behind: a new one succeeds completely.
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
        while status["status"] == "InProgress" {
            tokio::time::sleep(Duration::from_millis(50)).await;
            status = http
                .get(format!(
                    "https://dst.vault.localhost:{port}/restore/{rid}/pending?api-version=7.5"
                ))
                .bearer_auth(&tok)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        }
        assert_eq!(status["status"], "Succeeded", "{status}");
        assert_eq!(count(&http, port, &tok).await, SECRETS);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
