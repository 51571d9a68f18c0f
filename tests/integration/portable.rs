//! `keyhaven vault export|import` (per-object API only) against a throttling server: every object arrives,
//! `Retry-After` is honoured, and an export killed part-way resumes to a complete, verified archive.

use keyhaven_testkit::TestServer;
use serde_json::{json, Value};
use std::time::Duration;

const OBJECTS: usize = 2000;

async fn put_with_retry(http: &reqwest::Client, url: String, token: &str, body: Value) {
    send_with_retry(http, reqwest::Method::PUT, url, token, body, 200).await
}

async fn send_with_retry(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Value,
    expect: u16,
) {
    for _ in 0..50 {
        let r = http
            .request(method.clone(), &url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            let wait: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        assert_eq!(r.status(), expect);
        return;
    }
    panic!("still throttled");
}

async fn count(http: &reqwest::Client, base: &str, token: &str) -> usize {
    let mut url = format!("{base}/secrets?api-version=7.5");
    let mut n = 0;
    loop {
        let r = http.get(&url).bearer_auth(token).send().await.unwrap();
        if r.status() == 429 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let v: Value = r.json().await.unwrap();
        n += v["value"].as_array().unwrap().len();
        match v["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => return n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_resumes_honours_retry_after_and_imports_everything() {
    let ts = TestServer::start_with(
        |c| {
            // Low enough that an export meets it even on a loaded machine.
            c.throttle_limit = 100;
            c.throttle_window_ms = 1000;
        },
        None,
    )
    .await;
    ts.create_vault("copy").await;
    let http = ts.http(&["default", "copy"]);
    let token = ts.admin_token().await;
    let base = ts.vault_url("default");
    let puts: Vec<_> = (0..OBJECTS)
        .map(|i| {
            let (http, token, url) = (
                http.clone(),
                token.clone(),
                format!("{base}/secrets/obj-{i:04}?api-version=7.5"),
            );
            async move {
                put_with_retry(&http, url, &token, json!({ "value": format!("value-{i}") })).await
            }
        })
        .collect();
    use futures::StreamExt;
    futures::stream::iter(puts)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    // A key and a certificate too: the certificate's managed key and secret travel inside its own backup.
    let post = reqwest::Method::POST;
    send_with_retry(
        &http,
        post.clone(),
        format!("{base}/keys/a-key/create?api-version=7.5"),
        &token,
        json!({"kty": "EC", "crv": "P-256"}),
        200,
    )
    .await;
    send_with_retry(
        &http,
        post,
        format!("{base}/certificates/a-cert/create?api-version=7.5"),
        &token,
        json!({"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=a-cert"}}}),
        202,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let export_dir = dir.path().join("export");
    let ca = ts.ca_file();
    let cred = ts.data_dir().join("admin-credential.json");
    let cli = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"));
        c.args(args)
            .args([
                "--server",
                &ts.authority(),
                "--ca-file",
                ca.to_str().unwrap(),
                "--credential-file",
                cred.to_str().unwrap(),
            ])
            .env_remove("AZURE_CLIENT_SECRET")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let export_args = [
        "vault",
        "export",
        "--vault-name",
        "default",
        "--dir",
        export_dir.to_str().unwrap(),
        "--concurrency",
        "8",
    ];

    // Interrupt the first export once part of it is on disk.
    let mut first = cli(&export_args).spawn().unwrap();
    let secrets_dir = export_dir.join("secrets");
    for _ in 0..600 {
        let n = std::fs::read_dir(&secrets_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "blob"))
                    .count()
            })
            .unwrap_or(0);
        if n >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().await.unwrap();
    let partial = std::fs::read_dir(&secrets_dir).unwrap().count();
    assert!(
        partial < OBJECTS,
        "the first export was interrupted part-way ({partial} files)"
    );

    // The second run completes it, keeping what the first one wrote.
    let out = cli(&export_args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("already exported"), "{stderr}");
    assert!(
        stderr.contains("honouring Retry-After"),
        "throttling was met and honoured: {stderr}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(export_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["objects"].as_array().unwrap().len(), OBJECTS + 2);

    // Import into another vault: every object, zero failures.
    let import_args = [
        "vault",
        "import",
        "--vault-name",
        "copy",
        "--dir",
        export_dir.to_str().unwrap(),
        "-o",
        "json",
    ];
    let out = cli(&import_args).output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    // One summary row per kind.
    let total = |field: &str| -> u64 {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r[field].as_u64().unwrap())
            .sum()
    };
    assert_eq!(total("imported"), OBJECTS as u64 + 2, "{rows}");
    assert_eq!(total("failed"), 0);
    // Every secret, and the certificate's managed one.
    assert_eq!(
        count(&http, &ts.vault_url("copy"), &token).await,
        OBJECTS + 1
    );
    let r = http
        .get(format!(
            "{}/keys/a-cert?api-version=7.5",
            ts.vault_url("copy")
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the certificate's key came with it");

    // A second import fails per object (they exist) with exit 1; a corrupted file is refused before anything.
    let out = cli(&import_args).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let first_file = export_dir.join(manifest["objects"][0]["file"].as_str().unwrap());
    let mut data = std::fs::read(&first_file).unwrap();
    data[10] ^= 1;
    std::fs::write(&first_file, data).unwrap();
    let out = cli(&[
        "vault",
        "import",
        "--vault-name",
        "default",
        "--dir",
        export_dir.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_reads_only_files_inside_its_directory() {
    use crate::cli::Cli;
    use std::os::unix::fs::PermissionsExt;
    let ts = TestServer::start().await;
    ts.create_vault("copy").await;
    let cli = Cli { ts: &ts };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("export");
    let d = dir.to_str().unwrap();
    for (name, value) in [("a", "1"), ("b", "2"), ("outside", "3")] {
        let (code, _, err) = cli
            .run(&[
                "secret",
                "set",
                "--vault-name",
                "default",
                "--name",
                name,
                "--value",
                value,
            ])
            .await;
        assert_eq!(code, 0, "{err}");
    }
    // A valid blob outside the export directory: imported by mistake, it would restore.
    let outside = root.path().join("outside.blob");
    let (code, _, err) = cli
        .run(&[
            "secret",
            "backup",
            "--vault-name",
            "default",
            "--name",
            "outside",
            "--file",
            outside.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli
        .run(&[
            "secret",
            "delete",
            "--vault-name",
            "default",
            "--name",
            "outside",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli
        .run(&["vault", "export", "--vault-name", "default", "--dir", d])
        .await;
    assert_eq!(code, 0, "{err}");
    for f in ["manifest.json", "secrets/a.blob", "secrets/b.blob"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["objects"].as_array().unwrap().len(), 2);
    std::os::unix::fs::symlink(&outside, dir.join("secrets/link.blob")).unwrap();
    let sha = keyhaven_crypto::sha256(&std::fs::read(&outside).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let copy_secrets = || async {
        let (code, out, err) = cli.run(&["secret", "list", "--vault-name", "copy"]).await;
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    // Each escaping entry comes after two good ones: nothing at all is imported.
    for (file, why) in [
        (outside.to_str().unwrap().to_string(), "not a path relative"),
        ("../outside.blob".to_string(), "'..'"),
        ("secrets/../../outside.blob".to_string(), "'..'"),
        (
            "secrets/link.blob".to_string(),
            "outside the export directory",
        ),
    ] {
        let mut m = manifest.clone();
        m["objects"].as_array_mut().unwrap().push(json!({
            "kind": "secret", "name": "outside", "file": file, "sha256": sha, "bytes": 1
        }));
        std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
        let (code, _, err) = cli
            .run(&["vault", "import", "--vault-name", "copy", "--dir", d])
            .await;
        assert_eq!(code, 1, "{file}: {err}");
        assert!(
            err.contains(&file) && err.contains(why) && err.contains("nothing was imported"),
            "{file}: {err}"
        );
        assert_eq!(copy_secrets().await, 0, "{file}: nothing was imported");
    }
    // The export as written imports.
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    let (code, _, err) = cli
        .run(&["vault", "import", "--vault-name", "copy", "--dir", d])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(copy_secrets().await, 2);
}
