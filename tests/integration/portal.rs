//! The web portal end to end in a real browser: `tests/portal/portal_e2e.py` drives Debian's headless Chromium
//! through Playwright (from the pinned Python clients of `scripts/sdk-clients.sh`) against a real server — sign in,
//! secrets, keys and certificates through Download Backup / delete / purge / Restore Backup, a corrupted file, a
//! Key Vault Secrets User, forms without their CSRF token, whole-vault backup and restore — and saves a screenshot
//! of each page under `target/portal-screenshots/`. Then the audit log must show the portal's requests under the
//! signed-in principals.

use keyhaven_testkit::TestServer;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

fn python() -> PathBuf {
    match std::env::var_os("KEYHAVEN_SDK_PYTHON") {
        Some(v) => PathBuf::from(v),
        None => panic!(
            "KEYHAVEN_SDK_PYTHON is not set: run `eval \"$(scripts/test-clients.sh)\"` first (it installs the pinned \
             Python clients with Playwright and prints the variables)"
        ),
    }
}

/// Debian's headless Chromium: `KEYHAVEN_CHROMIUM`, else where the `chromium-headless-shell` or `chromium`
/// package puts it.
fn chromium() -> PathBuf {
    if let Some(v) = std::env::var_os("KEYHAVEN_CHROMIUM") {
        return PathBuf::from(v);
    }
    ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "no Chromium: `apt-get install chromium-headless-shell` (as .ci/run does) or set KEYHAVEN_CHROMIUM"
            )
        })
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("portal-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A principal with Key Vault Secrets User on `vault`, made through the API.
async fn secrets_user(ts: &TestServer, vault: &str) -> Value {
    let http = ts.http(&[vault]);
    let r = http
        .post(format!("{}/_keyhaven/principals", ts.authority()))
        .bearer_auth(ts.management_token().await)
        .json(&json!({ "displayName": "portal reader" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let who: Value = r.json().await.unwrap();
    let r = http
        .put(format!(
            "{}//providers/Microsoft.Authorization/roleAssignments/{}?api-version=7.5",
            ts.vault_url(vault),
            keyhaven_crypto::random_uuid().unwrap()
        ))
        .bearer_auth(ts.admin_token().await)
        .json(&json!({ "properties": {
            "roleDefinitionId": format!(
                "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{SECRETS_USER}"
            ),
            "principalId": who["objectId"],
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    who
}

fn audit_records(dir: &Path) -> Vec<Value> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_browser() {
    let (python, chromium) = (python(), chromium());
    let ts = TestServer::start().await;
    ts.create_vault("second").await;
    ts.create_vault("third").await;
    let user = secrets_user(&ts, "default").await;
    let dir = tempfile::tempdir().unwrap();
    let shots = screenshots();
    let config = json!({
        "base": ts.authority(),
        "authority": ts.authority(),
        "ca": ts.ca_file(),
        "vaultUrls": {
            "default": ts.vault_url("default"),
            "second": ts.vault_url("second"),
            "third": ts.vault_url("third"),
        },
        "vault": "default",
        "second": "second",
        "third": "third",
        "admin": {
            "tenantId": ts.admin.tenant_id,
            "clientId": ts.admin.client_id,
            "clientSecret": ts.admin.client_secret,
        },
        "user": { "clientId": user["clientId"], "clientSecret": user["clientSecret"] },
        "chromium": chromium,
        "screenshots": shots,
        "downloads": dir.path().join("downloads"),
    });
    let config_file = dir.path().join("portal.json");
    std::fs::write(&config_file, config.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/portal/portal_e2e.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(&config_file)
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "the portal's browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(
        std::fs::read_dir(&shots).unwrap().count() >= 15,
        "a screenshot of each page"
    );

    // The portal's actions are audited like the API's, under the signed-in principal.
    let recs = audit_records(&ts.data_dir().join("audit"));
    let find = |f: &dyn Fn(&Value) -> bool| recs.iter().find(|r| f(r)).cloned();
    let signin =
        find(&|r| r["operation"] == "portal-signin" && r["status"] == 303).expect("the sign-in");
    assert_eq!(signin["principal"]["clientId"], ts.admin.client_id);
    let backup = find(&|r| {
        r["operation"] == "Microsoft.KeyVault/vaults/secrets/backup/action"
            && r["result"] == "allowed"
            && r["method"] == "POST"
    })
    .expect("Download Backup");
    assert_eq!(backup["principal"]["clientId"], ts.admin.client_id);
    assert_eq!(backup["vault"], "default");
    let shown = find(&|r| {
        r["operation"] == "Microsoft.KeyVault/vaults/secrets/getSecret/action"
            && r["principal"]["clientId"] == user["clientId"]
    })
    .expect("Show value, by the Secrets User");
    assert_eq!(shown["result"], "allowed");
    let refused = find(&|r| {
        r["operation"] == "Microsoft.KeyVault/vaults/secrets/backup/action"
            && r["principal"]["clientId"] == user["clientId"]
    })
    .expect("the Secrets User's hand-made Download Backup");
    assert_eq!(refused["result"], "denied");
    assert_eq!(refused["status"], 403);
    // No value, secret or session token in the log.
    let text = recs
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        "second value",
        "first value",
        ts.admin.client_secret.as_str(),
        user["clientSecret"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "the audit log holds a secret");
    }
}
