//! `keyhaven certificate …` against a real server: create from the default policy, show, download, pending
//! operation and merge, import, backup with `keyhaven` and restore with the Azure SDK (and back), delete, recover,
//! purge; bad input exits non-zero with the server's message.

use crate::cli::Cli;
use crate::sdk::certificate_client;
use azure_security_keyvault_certificates::models::RestoreCertificateParameters;
use keyhaven_testkit::TestServer;
use serde_json::Value;
use std::process::Command;

fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_verbs() {
    let ts = TestServer::start().await;
    ts.create_vault("second").await;
    let cli = Cli { ts: &ts };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |f: &str| d.join(f).to_str().unwrap().to_string();
    let vn = ["--vault-name", "default"];
    let run = |args: Vec<String>| {
        let cli = &cli;
        async move {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            cli.run(&a).await
        }
    };
    let args = |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };

    // The default policy, edited like a user would, written to a file and passed as @file.
    // (It needs no server.)
    let out = Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(["certificate", "get-default-policy"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut policy: Value = serde_json::from_slice(&out.stdout).unwrap();
    policy["x509_props"]["subject"] = Value::from("CN=cli.contoso.test");
    std::fs::write(d.join("policy.json"), policy.to_string()).unwrap();
    let at_policy = format!("@{}", path("policy.json"));
    let (code, out, err) = run(args(&[
        "certificate",
        "create",
        vn[0],
        vn[1],
        "--name",
        "cli",
        "--policy",
        &at_policy,
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    assert!(created["cer"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(
        created["policy"]["x509_props"]["subject"],
        "CN=cli.contoso.test"
    );

    // `az`'s camelCase spelling of a policy works too.
    let camel = r#"{"issuerParameters": {"name": "Self"}, "keyProperties": {"keyType": "EC", "curve": "P-256"},
                    "x509CertificateProperties": {"subject": "CN=camel", "validityInMonths": 3}}"#;
    let (code, _, err) = run(args(&[
        "certificate",
        "create",
        vn[0],
        vn[1],
        "--name",
        "camel",
        "--policy",
        camel,
    ]))
    .await;
    assert_eq!(code, 0, "{err}");

    // Download as PEM and DER; OpenSSL reads both.
    let (code, _, err) = run(args(&[
        "certificate",
        "download",
        vn[0],
        vn[1],
        "--name",
        "cli",
        "--file",
        &path("cli.pem"),
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    openssl(&["x509", "-in", "cli.pem", "-noout", "-subject"], d);
    let (code, _, err) = run(args(&[
        "certificate",
        "download",
        vn[0],
        vn[1],
        "--name",
        "cli",
        "--file",
        &path("cli.der"),
        "--encoding",
        "der",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    openssl(&["x509", "-inform", "DER", "-in", "cli.der", "-noout"], d);

    // List, versions.
    let (code, out, _) = run(args(&["certificate", "list", vn[0], vn[1]])).await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let (code, out, _) = run(args(&[
        "certificate",
        "list-versions",
        vn[0],
        vn[1],
        "--name",
        "cli",
    ]))
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Pending: create with issuer Unknown, sign the CSR with a test CA, merge a PEM chain file.
    let unknown = r#"{"issuer": {"name": "Unknown"}, "x509_props": {"subject": "CN=ext"}}"#;
    let (code, out, err) = run(args(&[
        "certificate",
        "create",
        vn[0],
        vn[1],
        "--name",
        "ext",
        "--policy",
        unknown,
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("pending"), "{err}");
    let op: Value = serde_json::from_str(&out).unwrap();
    let csr = op["csr"].as_str().unwrap();
    std::fs::write(
        d.join("ext.csr"),
        format!("-----BEGIN CERTIFICATE REQUEST-----\n{csr}\n-----END CERTIFICATE REQUEST-----\n"),
    )
    .unwrap();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=CLI CA",
            "-days",
            "5",
        ],
        d,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "ext.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "5",
            "-out",
            "ext.pem",
        ],
        d,
    );
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(d.join("ext.pem")).unwrap(),
        std::fs::read_to_string(d.join("ca.pem")).unwrap()
    );
    std::fs::write(d.join("chain.pem"), chain).unwrap();
    // The CA alone does not match the pending key: exit 1 with the server's message.
    let (code, _, err) = run(args(&[
        "certificate",
        "pending",
        "merge",
        vn[0],
        vn[1],
        "--name",
        "ext",
        "--file",
        &path("ca.pem"),
    ]))
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("BadParameter") && err.contains("pending"),
        "{err}"
    );
    let (code, out, err) = run(args(&[
        "certificate",
        "pending",
        "merge",
        vn[0],
        vn[1],
        "--name",
        "ext",
        "--file",
        &path("chain.pem"),
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(serde_json::from_str::<Value>(&out).unwrap()["cer"].is_string());
    let (code, out, _) = run(args(&[
        "certificate",
        "pending",
        "show",
        vn[0],
        vn[1],
        "--name",
        "ext",
    ]))
    .await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"],
        "completed"
    );

    // Import a password-protected PFX.
    openssl(
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "ca.key",
            "-in",
            "ca.pem",
            "-passout",
            "pass:pfx-pass",
            "-out",
            "ca.pfx",
        ],
        d,
    );
    let (code, _, err) = run(args(&[
        "certificate",
        "import",
        vn[0],
        vn[1],
        "--name",
        "imported",
        "--file",
        &path("ca.pfx"),
        "--password",
        "wrong",
    ]))
    .await;
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = run(args(&[
        "certificate",
        "import",
        vn[0],
        vn[1],
        "--name",
        "imported",
        "--file",
        &path("ca.pfx"),
        "--password",
        "pfx-pass",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["policy"]["x509_props"]["subject"],
        "CN=CLI CA"
    );
    // Missing file: exit 1, nothing sent.
    let (code, _, err) = run(args(&[
        "certificate",
        "import",
        vn[0],
        vn[1],
        "--name",
        "nothing",
        "--file",
        &path("missing.pfx"),
    ]))
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("missing.pfx"), "{err}");

    // Backup with keyhaven, restore with the SDK into another vault; back up there with the SDK, restore with
    // keyhaven.
    let (code, _, err) = run(args(&[
        "certificate",
        "backup",
        vn[0],
        vn[1],
        "--name",
        "cli",
        "--file",
        &path("cli.blob"),
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let sdk = certificate_client(&ts, "second");
    let mut rp = RestoreCertificateParameters::default();
    rp.certificate_backup = Some(std::fs::read(d.join("cli.blob")).unwrap());
    sdk.restore_certificate(rp.try_into().unwrap(), None)
        .await
        .unwrap();
    let blob = sdk
        .backup_certificate("cli", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    std::fs::write(d.join("sdk.blob"), blob).unwrap();
    let (code, _, _) = run(args(&[
        "certificate",
        "delete",
        vn[0],
        vn[1],
        "--name",
        "cli",
    ]))
    .await;
    assert_eq!(code, 0);
    let (code, _, _) = run(args(&[
        "certificate",
        "purge",
        vn[0],
        vn[1],
        "--name",
        "cli",
    ]))
    .await;
    assert_eq!(code, 0);
    let (code, out, err) = run(args(&[
        "certificate",
        "restore",
        vn[0],
        vn[1],
        "--file",
        &path("sdk.blob"),
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["cer"],
        created["cer"]
    );
    // The managed secret came back with it.
    let (code, out, err) = run(args(&["secret", "show", vn[0], vn[1], "--name", "cli"])).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["managed"],
        true
    );

    // Delete, list-deleted, recover.
    let (code, _, _) = run(args(&[
        "certificate",
        "delete",
        vn[0],
        vn[1],
        "--name",
        "camel",
    ]))
    .await;
    assert_eq!(code, 0);
    let (code, out, _) = run(args(&["certificate", "list-deleted", vn[0], vn[1]])).await;
    assert_eq!(code, 0);
    assert!(out.contains("camel"));
    let (code, _, err) = run(args(&[
        "certificate",
        "recover",
        vn[0],
        vn[1],
        "--name",
        "camel",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = run(args(&[
        "certificate",
        "show",
        vn[0],
        vn[1],
        "--name",
        "camel",
    ]))
    .await;
    assert_eq!(code, 0);
    // A policy that is not JSON: usage error from the CLI itself.
    let (code, _, err) = run(args(&[
        "certificate",
        "create",
        vn[0],
        vn[1],
        "--name",
        "x",
        "--policy",
        "{nope",
    ]))
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not JSON"), "{err}");
}
