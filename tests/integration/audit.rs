//! The audit log: one chained record per request (allowed, denied, failed, token requests), never a secret, a
//! token or a client secret; `keyhaven audit verify` names the first broken line; fail closed.

use crate::crash::{free_port, wait_ready};
use keyhaven_testkit::TestServer;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

pub(crate) fn records(dir: &std::path::Path) -> Vec<Value> {
    keyhaven_server::audit::log_files(dir)
        .unwrap()
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(crate) fn verify_cli(paths: &[&std::path::Path]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .arg("audit")
        .arg("verify")
        .args(paths)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn token(
    http: &reqwest::Client,
    port: u16,
    tenant: &str,
    id: &str,
    secret: &str,
    resource: &str,
) -> reqwest::Response {
    http.post(format!(
        "https://localhost:{port}/{tenant}/oauth2/v2.0/token"
    ))
    .form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", &format!("{resource}/.default")),
    ])
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn every_request_is_recorded_chained_and_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_file = dir.path().join("server.log");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("KEYHAVEN_LOG", "debug")
        .env("KEYHAVEN_THROTTLE_LIMIT", "0")
        .stdout(Stdio::from(std::fs::File::create(&log_file).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("server.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !data.join("admin-credential.json").exists() && started.elapsed().as_secs() < 60 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).unwrap())
                .unwrap(),
        )
        .resolve("localhost", addr)
        .resolve("default.vault.localhost", addr)
        .build()
        .unwrap();
    wait_ready(&http, port).await;
    let cred: Value =
        serde_json::from_slice(&std::fs::read(data.join("admin-credential.json")).unwrap())
            .unwrap();
    let (tenant, admin_id, admin_secret) = (
        cred["tenantId"].as_str().unwrap(),
        cred["clientId"].as_str().unwrap(),
        cred["clientSecret"].as_str().unwrap(),
    );
    let vault_res = format!("https://vault.localhost:{port}");
    let mgmt_res = format!("https://localhost:{port}");
    let tok = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let admin = tok(token(&http, port, tenant, admin_id, admin_secret, &vault_res).await).await;
    let mgmt = tok(token(&http, port, tenant, admin_id, admin_secret, &mgmt_res).await).await;
    let vault = format!("https://default.vault.localhost:{port}");

    // A canary secret, read back by the admin; a principal without roles is refused it; a bad secret; a 404.
    let canary = format!("CANARY-{}", keyhaven_crypto::random_uuid().unwrap());
    let r = http
        .put(format!("{vault}/secrets/canary?api-version=7.5"))
        .bearer_auth(&admin)
        .json(&json!({"value": canary}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let version = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let r = http
        .get(format!("{vault}/secrets/canary/{version}?api-version=7.5"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-ms-request-id"));
    let reader: Value = http
        .post(format!("https://localhost:{port}/_keyhaven/principals"))
        .bearer_auth(&mgmt)
        .json(&json!({"displayName": "reader"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reader_secret = reader["clientSecret"].as_str().unwrap().to_string();
    let reader_tok = tok(token(
        &http,
        port,
        tenant,
        reader["clientId"].as_str().unwrap(),
        &reader_secret,
        &vault_res,
    )
    .await)
    .await;
    let r = http
        .get(format!("{vault}/secrets/canary?api-version=7.5"))
        .bearer_auth(&reader_tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["innererror"]["code"], "ForbiddenByRbac");
    let wrong = token(&http, port, tenant, admin_id, "not-the-secret", &vault_res).await;
    assert_eq!(wrong.status(), 401);
    let r = http
        .get(format!("{vault}/secrets/nothing-here?api-version=7.5"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let audit = data.join("audit");
    let recs = records(&audit);
    let find = |pred: &dyn Fn(&Value) -> bool| recs.iter().find(|r| pred(r)).cloned();
    let got = find(&|r| {
        r["operation"] == "Microsoft.KeyVault/vaults/secrets/getSecret/action"
            && r["result"] == "allowed"
    })
    .expect("the admin's read");
    assert_eq!(got["principal"]["clientId"], admin_id);
    assert_eq!(
        (
            got["vault"].as_str(),
            got["kind"].as_str(),
            got["name"].as_str()
        ),
        (Some("default"), Some("secret"), Some("canary"))
    );
    assert_eq!(got["version"], version.as_str());
    assert_eq!(got["status"], 200);
    assert_eq!(got["source"], "127.0.0.1");
    let denied =
        find(&|r| r["result"] == "denied" && r["status"] == 403).expect("the refused read");
    assert_eq!(denied["principal"]["clientId"], reader["clientId"]);
    assert_eq!(
        denied["operation"],
        "Microsoft.KeyVault/vaults/secrets/getSecret/action"
    );
    assert!(
        find(&|r| r["operation"] == "token"
            && r["status"] == 401
            && r["principal"]["clientId"] == admin_id)
        .is_some(),
        "a failed token request"
    );
    assert!(
        find(&|r| r["operation"] == "token"
            && r["status"] == 200
            && r["principal"]["objectId"].is_string())
        .is_some(),
        "an issued token"
    );
    assert!(
        find(&|r| r["status"] == 404 && r["result"] == "failed").is_some(),
        "a failed request"
    );
    assert!(
        find(&|r| r["operation"] == "Keyhaven/principals/action" && r["result"] == "allowed")
            .is_some()
    );

    // No secret value, client secret or token anywhere in the audit files or the server's log.
    let _ = child.kill();
    let _ = child.wait();
    let mut haystack = String::new();
    for f in keyhaven_server::audit::log_files(&audit).unwrap() {
        haystack.push_str(&std::fs::read_to_string(f).unwrap());
    }
    let log = std::fs::read_to_string(&log_file).unwrap()
        + &std::fs::read_to_string(dir.path().join("server.err")).unwrap();
    assert!(log.contains("request"), "the server logged at debug level");
    for (what, needle) in [
        ("secret value", canary.as_str()),
        ("admin client secret", admin_secret),
        ("reader client secret", reader_secret.as_str()),
        ("admin token", admin.as_str()),
        ("management token", mgmt.as_str()),
        ("reader token", reader_tok.as_str()),
    ] {
        assert!(!haystack.contains(needle), "{what} in the audit log");
        assert!(!log.contains(needle), "{what} in the server log");
    }

    // The chain verifies; every kind of tampering is found at its line.
    let (ok, out) = verify_cli(&[&audit]);
    assert!(ok, "{out}");
    let file = keyhaven_server::audit::log_files(&audit).unwrap().remove(0);
    let good: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(good.len() >= 8);
    let copy = dir.path().join("copy.jsonl");
    let tampered = |lines: Vec<String>, expect_line: usize| {
        std::fs::write(&copy, lines.join("\n") + "\n").unwrap();
        let (ok, out) = verify_cli(&[&copy]);
        assert!(!ok, "tampering passed: {out}");
        assert!(out.contains(&format!("copy.jsonl:{expect_line}:")), "{out}");
    };
    let mut edited = good.clone();
    edited[2] = edited[2].replacen("\"status\":", "\"status\":1", 1);
    tampered(edited, 3);
    let mut removed = good.clone();
    removed.remove(4);
    tampered(removed, 5);
    let mut swapped = good.clone();
    swapped.swap(5, 6);
    tampered(swapped, 6);
    let mut inserted = good.clone();
    inserted.insert(3, good[1].clone());
    tampered(inserted, 4);
}

#[tokio::test]
async fn requests_are_refused_while_the_audit_log_cannot_be_written() {
    let ts = TestServer::start_with(|c| c.audit.max_file_bytes = 4096, None).await;
    let token = ts.admin_token().await;
    let http = ts.http(&["default"]);
    let set = |i: usize| {
        http.put(format!(
            "{}/secrets/s{i}?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(&token)
        .json(&json!({"value": "v"}))
        .send()
    };
    assert_eq!(set(0).await.unwrap().status(), 200);
    // The audit directory goes: the next file cannot be begun, so a request is answered 503…
    let audit = ts.data_dir().join("audit");
    std::fs::remove_dir_all(&audit).unwrap();
    let mut refused_at = None;
    for i in 1..200 {
        let r = set(i).await.unwrap();
        if r.status() == 503 {
            refused_at = Some(i);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let at = refused_at.expect("a request whose record cannot be written is refused");
    // …and while it cannot be written, requests are refused before they do anything.
    let r = set(1000).await.unwrap();
    assert_eq!(r.status(), 503);
    std::fs::create_dir_all(&audit).unwrap();
    // Once it can be written again (the refused request's own record goes first), service resumes.
    let mut resumed = false;
    for _ in 0..3 {
        if set(1001).await.unwrap().status() == 200 {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "service resumes once the log can be written");
    let get = |i: usize| {
        http.get(format!(
            "{}/secrets/s{i}?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(&token)
        .send()
    };
    assert_eq!(
        get(1000).await.unwrap().status(),
        404,
        "a request refused up front did nothing"
    );
    assert!(at > 0);
}

/// The copies of changes' records that commits keep in the store (receipts) are deleted once the records are
/// synced to the log: after a burst of writes and an orderly stop none is left, and none leaks while serving.
#[tokio::test]
async fn receipts_kept_for_changes_are_deleted_once_their_records_are_synced() {
    let mut ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let tok = ts.admin_token().await;
    let url = ts.vault_url("default");
    let receipts = |data: &std::path::Path| -> usize {
        use keyhaven_store::Engine;
        let engine =
            keyhaven_store_embedded::EmbeddedEngine::open(&data.join("keyhaven.redb")).unwrap();
        engine
            .snapshot()
            .unwrap()
            .scan(b"audit-receipt", b"audit-receipu", usize::MAX)
            .unwrap()
            .len()
    };
    let writes = |round: usize| {
        let (http, tok, url) = (http.clone(), tok.clone(), url.clone());
        async move {
            let mut tasks = Vec::new();
            for w in 0..8 {
                let (http, tok, url) = (http.clone(), tok.clone(), url.clone());
                tasks.push(tokio::spawn(async move {
                    for i in 0..50 {
                        let r = http
                            .put(format!("{url}/secrets/r{w}?api-version=7.5"))
                            .bearer_auth(&tok)
                            .json(&json!({ "value": format!("{round}-{i}") }))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 200);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    writes(0).await;
    // Past the pruning interval, the next writes delete what the first ones left.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    writes(1).await;
    ts.stop().await;
    assert_eq!(receipts(&ts.data_dir()), 0, "receipts left after a stop");

    // Every write has its record, none recovered (nothing was lost), and the chain holds.
    let recs = records(&ts.data_dir().join("audit"));
    let sets = recs
        .iter()
        .filter(|r| r["operation"] == "Microsoft.KeyVault/vaults/secrets/setSecret/action")
        .count();
    assert_eq!(sets, 800);
    assert!(recs.iter().all(|r| r.get("recovered").is_none()));
    let files = keyhaven_server::audit::log_files(&ts.data_dir().join("audit")).unwrap();
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let (ok, out) = verify_cli(&paths);
    assert!(ok, "{out}");
}
