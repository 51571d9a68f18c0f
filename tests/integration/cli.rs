//! The `keyhaven` command line against a real server: backup files move between `keyhaven` and the Azure SDK.

use crate::sdk::secret_client;
use azure_security_keyvault_secrets::models::{RestoreSecretParameters, SetSecretParameters};
use keyhaven_testkit::TestServer;
use serde_json::Value;

pub struct Cli<'a> {
    pub ts: &'a TestServer,
}

impl Cli<'_> {
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let server = self.ts.authority();
        let ca = self.ts.ca_file();
        let cred = self.ts.data_dir().join("admin-credential.json");
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--server",
            &server,
            "--ca-file",
            ca.to_str().unwrap(),
            "--credential-file",
            cred.to_str().unwrap(),
        ]);
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"))
            .args(&all)
            .env_remove("AZURE_CLIENT_SECRET")
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_files_move_between_keyhaven_and_the_sdk() {
    let ts = TestServer::start().await;
    ts.create_vault("second").await;
    let cli = Cli { ts: &ts };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.blob");
    let f = file.to_str().unwrap();

    let (code, out, err) = cli
        .run(&[
            "secret",
            "set",
            "--vault-name",
            "default",
            "--name",
            "a",
            "--value",
            "from-cli",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["value"], "from-cli");
    let (code, _, err) = cli
        .run(&[
            "secret",
            "backup",
            "--vault-name",
            "default",
            "--name",
            "a",
            "--file",
            f,
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    // The file holds the raw blob: the SDK restores it into another vault.
    let sdk = secret_client(&ts, "second");
    let mut rp = RestoreSecretParameters::default();
    rp.secret_backup = Some(std::fs::read(&file).unwrap());
    sdk.restore_secret(rp.try_into().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        sdk.get_secret("a", None)
            .await
            .unwrap()
            .into_model()
            .unwrap()
            .value
            .as_deref(),
        Some("from-cli")
    );

    // The reverse: an SDK backup restores with the CLI.
    let mut p = SetSecretParameters::default();
    p.value = Some("from-sdk".into());
    sdk.set_secret("b", p.try_into().unwrap(), None)
        .await
        .unwrap();
    let blob = sdk
        .backup_secret("b", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    let file_b = dir.path().join("b.blob");
    std::fs::write(&file_b, blob).unwrap();
    let (code, out, err) = cli
        .run(&[
            "secret",
            "restore",
            "--vault-name",
            "default",
            "--file",
            file_b.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/secrets/b/"));
    let (code, out, _) = cli
        .run(&["secret", "show", "--vault-name", "default", "--name", "b"])
        .await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["value"],
        "from-sdk"
    );

    // Failures: a clear message and exit code 1; usage errors exit 2; nothing written.
    let (code, _, err) = cli
        .run(&[
            "secret",
            "restore",
            "--vault-name",
            "default",
            "--file",
            file_b.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("Conflict"), "{err}");
    let (code, _, err) = cli
        .run(&[
            "secret",
            "restore",
            "--vault-name",
            "default",
            "--file",
            "/nonexistent/file",
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/file"), "{err}");
    std::fs::write(dir.path().join("junk"), b"junk").unwrap();
    let (code, _, err) = cli
        .run(&[
            "secret",
            "restore",
            "--vault-name",
            "default",
            "--file",
            dir.path().join("junk").to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 1);
    assert!(err.contains("BadParameter"), "{err}");
    let (code, _, err) = cli
        .run(&[
            "secret",
            "show",
            "--vault-name",
            "nosuchvault",
            "--name",
            "b",
        ])
        .await;
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = cli.run(&["secret", "frobnicate"]).await;
    assert_eq!(code, 2);
    let (code, _, err) = cli
        .run(&[
            "secret",
            "backup",
            "--vault-name",
            "default",
            "--name",
            "a",
            "--file",
            f,
        ])
        .await;
    assert_eq!(code, 1, "an existing file is not overwritten: {err}");

    // Vault management and keys through the CLI.
    let (code, out, err) = cli
        .run(&["vault", "create", "third", "--retention-days", "30"])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["retentionDays"],
        30
    );
    let (code, out, err) = cli
        .run(&[
            "key",
            "create",
            "--vault-name",
            "third",
            "--name",
            "k",
            "--kty",
            "EC",
            "--curve",
            "P-256",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["key"]["crv"],
        "P-256"
    );
    let kfile = dir.path().join("k.blob");
    let (code, _, err) = cli
        .run(&[
            "key",
            "backup",
            "--vault-name",
            "third",
            "--name",
            "k",
            "--file",
            kfile.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli
        .run(&[
            "key",
            "restore",
            "--vault-name",
            "second",
            "--file",
            kfile.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = cli.run(&["key", "list", "--vault-name", "second"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_profiles_store_a_credential_for_later_verbs() {
    use tokio::io::AsyncWriteExt;
    let ts = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let keyhaven = || {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"));
        c.env("XDG_CONFIG_HOME", home.path())
            .env_remove("AZURE_CLIENT_SECRET")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .current_dir(home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let ca = ts.ca_file();
    let login = |secret: String| {
        let mut child = keyhaven()
            .args([
                "login",
                "--server",
                &ts.authority(),
                "--tenant",
                &ts.admin.tenant_id,
                "--client-id",
                &ts.admin.client_id,
            ])
            .args(["--client-secret-stdin", "--ca-file", ca.to_str().unwrap()])
            .spawn()
            .unwrap();
        async move {
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(format!("{secret}\n").as_bytes())
                .await
                .unwrap();
            drop(stdin);
            child.wait_with_output().await.unwrap()
        }
    };
    let bad = login("wrong-secret".into()).await;
    assert_eq!(
        bad.status.code(),
        Some(1),
        "a wrong secret is refused at login"
    );
    assert!(
        !home.path().join("keyhaven/profiles.json").exists(),
        "and not stored"
    );
    let ok = login(ts.admin.client_secret.clone()).await;
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let file = home.path().join("keyhaven/profiles.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = keyhaven()
        .args(["vault", "list", "-o", "json"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["name"], "default");
}
