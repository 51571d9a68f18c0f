//! Durability: the real binary is killed with SIGKILL in the middle of a write loop; after a restart every
//! write it acknowledged is there.

use keyhaven_testkit::files_under;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn spawn(dir: &std::path::Path, port: u16) -> Child {
    spawn_on(dir, port, "embedded")
}

/// `keyhaven serve` on `port` with its data directory and the store `store` (`embedded` or a PostgreSQL URL).
pub fn spawn_on(dir: &std::path::Path, port: u16, store: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args([
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store",
            store,
        ])
        .env("KEYHAVEN_LOG", "warn")
        .env("KEYHAVEN_THROTTLE_LIMIT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub async fn wait_ready(http: &reqwest::Client, port: u16) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = http
            .get(format!("https://localhost:{port}/healthz"))
            .send()
            .await
        {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready");
}

pub async fn token(http: &reqwest::Client, port: u16, cred: &Value) -> String {
    token_for(http, port, cred, &format!("https://vault.localhost:{port}")).await
}

/// A management token (`/_keyhaven/*`) for the admin of the server on `port`.
pub async fn management_token(http: &reqwest::Client, port: u16, cred: &Value) -> String {
    token_for(http, port, cred, &format!("https://localhost:{port}")).await
}

async fn token_for(http: &reqwest::Client, port: u16, cred: &Value, resource: &str) -> String {
    let v: Value = http
        .post(format!(
            "https://localhost:{port}/{}/oauth2/v2.0/token",
            cred["tenantId"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cred["clientId"].as_str().unwrap()),
            ("client_secret", cred["clientSecret"].as_str().unwrap()),
            ("scope", &format!("{resource}/.default")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// Starts the binary on a fresh data directory; returns the child, a client trusting its CA (with the given
/// vault host names pinned to it) and its admin credential.
pub async fn start_process(
    data: &std::path::Path,
    port: u16,
    vaults: &[&str],
) -> (Child, reqwest::Client, Value) {
    start_process_on(data, port, vaults, "embedded").await
}

/// [`start_process`] with the store `store` (`embedded` or a PostgreSQL URL).
pub async fn start_process_on(
    data: &std::path::Path,
    port: u16,
    vaults: &[&str],
    store: &str,
) -> (Child, reqwest::Client, Value) {
    let child = spawn_on(data, port, store);
    let started = Instant::now();
    while !data.join("admin-credential.json").exists()
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).unwrap()).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut b = reqwest::Client::builder()
        .add_root_certificate(ca)
        .resolve("localhost", addr);
    for v in vaults {
        b = b.resolve(&format!("{v}.vault.localhost"), addr);
    }
    let http = b.build().unwrap();
    wait_ready(&http, port).await;
    let cred: Value =
        serde_json::from_slice(&std::fs::read(data.join("admin-credential.json")).unwrap())
            .unwrap();
    (child, http, cred)
}

#[tokio::test]
async fn every_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let (child, http, cred) = start_process(&data, port, &[]).await;
    let tok = token(&http, port, &cred).await;
    let acked = kill_under_write_load(child, &http, port, &tok).await;
    assert!(!files_under(&data).is_empty());

    // Restart on the same data: every acknowledged version holds its value.
    let mut child = spawn(&data, port);
    wait_ready(&http, port).await;
    let tok = token(&http, port, &cred).await;
    assert_acknowledged(&http, port, &tok, &acked).await;
    child.kill().unwrap();
    child.wait().unwrap();

    // Every acknowledged change has exactly one record (in the file, or written at the restart from the copy its
    // commit kept in the store), and the chain holds.
    let audit = data.join("audit");
    let files = keyhaven_server::audit::log_files(&audit).unwrap();
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let (ok, out) = crate::audit::verify_cli(&paths);
    assert!(ok, "{out}");
    let sets: Vec<Value> = crate::audit::records(&audit)
        .into_iter()
        .filter(|r| {
            r["operation"] == "Microsoft.KeyVault/vaults/secrets/setSecret/action"
                && r["result"] == "allowed"
        })
        .collect();
    let ids: std::collections::HashSet<&str> = sets
        .iter()
        .map(|r| r["requestId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), sets.len(), "a change recorded twice");
    assert!(
        sets.len() >= acked.len(),
        "{} acknowledged changes, {} records",
        acked.len(),
        sets.len()
    );
}

/// A write acknowledged by the server: the secret, the version it was given, its value.
pub type Acknowledged = (String, String, String);

/// 16 writers set secrets through the server on `port` as fast as it answers, each recording the versions it
/// acknowledged; once at least 300 are, the server is killed (SIGKILL) in the middle of the loop. Returns every
/// acknowledged write.
pub async fn kill_under_write_load(
    mut child: Child,
    http: &reqwest::Client,
    port: u16,
    tok: &str,
) -> Vec<Acknowledged> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Acknowledged>();
    let mut writers = Vec::new();
    for w in 0..16 {
        let (http, tok, tx) = (http.clone(), tok.to_string(), tx.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}");
                let value = format!("w{w}-{i}");
                let r = http
                    .put(format!(
                        "https://localhost:{port}/secrets/{name}?api-version=7.5"
                    ))
                    .bearer_auth(&tok)
                    .json(&json!({ "value": value }))
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status() == 200 => {
                        let v: Value = match resp.json().await {
                            Ok(v) => v,
                            Err(_) => return,
                        };
                        let version = v["id"]
                            .as_str()
                            .unwrap()
                            .rsplit('/')
                            .next()
                            .unwrap()
                            .to_string();
                        let _ = tx.send((name, version, value));
                    }
                    _ => return,
                }
            }
        }));
    }
    drop(tx);
    // Let some writes be acknowledged, then kill the server mid-loop.
    let mut acked = Vec::new();
    while acked.len() < 300 {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(a)) => acked.push(a),
            _ => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for w in writers {
        let _ = w.await;
    }
    while let Ok(a) = rx.try_recv() {
        acked.push(a);
    }
    assert!(
        acked.len() >= 300,
        "writes were acknowledged before the kill"
    );
    acked
}

/// Every acknowledged version holds its value on the server on `port`.
pub async fn assert_acknowledged(
    http: &reqwest::Client,
    port: u16,
    tok: &str,
    acked: &[Acknowledged],
) {
    for (name, version, value) in acked {
        let v: Value = http
            .get(format!(
                "https://localhost:{port}/secrets/{name}/{version}?api-version=7.5"
            ))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["value"].as_str(),
            Some(value.as_str()),
            "acknowledged write {name}/{version} lost: {v}"
        );
    }
}
