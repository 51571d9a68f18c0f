//! The official Python and JavaScript Key Vault clients against a real server, through the scripts in
//! `tests/interop/`. The clients come from `scripts/sdk-clients.sh` (pinned versions), which `.ci/run` runs and
//! whose variables it exports.

use keyhaven_testkit::TestServer;
use std::path::{Path, PathBuf};

fn required(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) => PathBuf::from(v),
        None => panic!(
            "{var} is not set: run `eval \"$(scripts/sdk-clients.sh)\"` first (it installs the official Python and \
             JavaScript clients, pinned, and prints the variables)"
        ),
    }
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The admin's credential with the server's addresses, as the scripts read it.
fn credential_file(ts: &TestServer, dir: &Path) -> PathBuf {
    let file = dir.join("credential.json");
    let c = serde_json::json!({
        "tenantId": ts.admin.tenant_id,
        "clientId": ts.admin.client_id,
        "clientSecret": ts.admin.client_secret,
        "authorityHost": ts.authority(),
        "vaultUrl": ts.vault_url("default"),
    });
    std::fs::write(&file, c.to_string()).unwrap();
    file
}

async fn run(mut cmd: tokio::process::Command, what: &str) {
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "{what} failed:\n{stdout}\n{stderr}"
    );
}

async fn python(script: &str) {
    let python = required("KEYHAVEN_SDK_PYTHON");
    let ts = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cred = credential_file(&ts, dir.path());
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(interop_dir().join(script))
        .arg(&cred)
        .arg(ts.ca_file());
    run(cmd, script).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_secrets_and_keys_clients() {
    python("py_secrets_keys.py").await;
}

/// `KeyClient.release_key`: the server trusts an attestation authority made here; the script gets one of its tokens
/// (carrying a runtime key) and the runtime private key, and opens the release with `cryptography` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_keys_client_releases_a_key() {
    use crate::key_release::{claims, policy, Authority};
    let python = required("KEYHAVEN_SDK_PYTHON");
    let authority = Authority::new();
    let cfg = authority.config();
    let ts = TestServer::start_with(move |c| c.key_release_authorities = vec![cfg], None).await;
    let dir = tempfile::tempdir().unwrap();
    let cred = credential_file(&ts, dir.path());
    let runtime = openssl::rsa::Rsa::generate(2048).unwrap();
    let release = dir.path().join("release.json");
    let pem = openssl::pkey::PKey::from_rsa(runtime.clone())
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap();
    std::fs::write(
        &release,
        serde_json::json!({
            "token": authority.mint(&claims(&runtime, "sevsnpvm")),
            "policy": policy("x-ms-attestation-type", "sevsnpvm"),
            "runtimeKeyPem": String::from_utf8(pem).unwrap(),
        })
        .to_string(),
    )
    .unwrap();
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(interop_dir().join("py_key_release.py"))
        .arg(&cred)
        .arg(ts.ca_file())
        .arg(&release);
    run(cmd, "py_key_release.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_access_control_client() {
    python("py_access_control.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_certificates_client() {
    python("py_certificates.py").await;
}

/// Azure's full backup into Blob Storage (Azurite) and restore from it, with the Python `KeyVaultBackupClient`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_backup_client_through_blob_storage() {
    let python = required("KEYHAVEN_SDK_PYTHON");
    let azurite = super::azurite::Azurite::start().await;
    let ts = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cred = credential_file(&ts, dir.path());
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(interop_dir().join("py_backup_storage.py"))
        .arg(&cred)
        .arg(ts.ca_file())
        .arg(&azurite.endpoint)
        .env("NO_PROXY", "127.0.0.1,localhost,.localhost")
        .env("no_proxy", "127.0.0.1,localhost,.localhost");
    run(cmd, "py_backup_storage.py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_certificates_client() {
    let modules = required("KEYHAVEN_SDK_NODE_MODULES");
    let ts = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cred = credential_file(&ts, dir.path());
    // ES modules resolve packages from the script's own folder: run a copy beside the clients.
    std::os::unix::fs::symlink(&modules, dir.path().join("node_modules")).unwrap();
    let script = dir.path().join("js_certificates.mjs");
    std::fs::copy(interop_dir().join("js_certificates.mjs"), &script).unwrap();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg("-r")
        .arg(interop_dir().join("resolve-localhost.cjs"))
        .arg(&script)
        .arg(&cred)
        .env("NODE_EXTRA_CA_CERTS", ts.ca_file());
    run(cmd, "js_certificates.mjs").await;
}
