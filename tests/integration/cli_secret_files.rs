//! Secrets off the command line: `secret set --value @FILE | -`, `--file --encoding`, `secret download`,
//! `certificate import --password-file`, the geography passphrase from a file (and its minimum length); and files
//! that hold secrets or keys are created readable by their owner only.

use keyhaven_testkit::TestServer;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// Runs `keyhaven` against `ts` (its server, CA and admin credential), with `stdin` on standard input.
async fn keyhaven(ts: &TestServer, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let cred = ts.data_dir().join("admin-credential.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(args)
        .args([
            "--server",
            &ts.authority(),
            "--ca-file",
            ts.ca_file().to_str().unwrap(),
            "--credential-file",
            cred.to_str().unwrap(),
        ])
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("KEYHAVEN_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_come_from_files_and_standard_input() {
    let ts = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let set = |name: &'static str, extra: Vec<String>, stdin: Vec<u8>| {
        let ts = &ts;
        async move {
            let mut args = vec!["secret", "set", "--vault-name", "default", "--name", name];
            args.extend(extra.iter().map(String::as_str));
            keyhaven(ts, &args, &stdin).await
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // --value @FILE: the file's text exactly, trailing newline included.
    std::fs::write(d.join("value.txt"), "pässword from a file\n").unwrap();
    let (code, out, err) = set(
        "from-file",
        args(&["--value", &format!("@{}", p("value.txt"))]),
        vec![],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["value"], "pässword from a file\n");
    // --value -: standard input, exactly.
    let (code, out, err) = set(
        "from-stdin",
        args(&["--value", "-"]),
        b"line one\nline two\n".to_vec(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["value"], "line one\nline two\n");
    // --file without --encoding: text, no tag (as before).
    let (code, out, err) = set("text", args(&["--file", &p("value.txt")]), vec![]).await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["value"], "pässword from a file\n");
    assert!(v.get("tags").is_none(), "{v}");

    // A binary file: refused as text, stored as base64 or hex with the file-encoding tag, and downloaded back.
    let binary: Vec<u8> = (0u8..=255).rev().chain(0u8..=255).collect();
    std::fs::write(d.join("blob.bin"), &binary).unwrap();
    let (code, _, err) = set("bin", args(&["--file", &p("blob.bin")]), vec![]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--encoding base64"), "{err}");
    let (code, out, err) = set(
        "bin64",
        args(&["--file", &p("blob.bin"), "--encoding", "base64"]),
        vec![],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["tags"]["file-encoding"], "base64");
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap())
            .unwrap(),
        binary
    );
    let (code, _, err) = keyhaven(
        &ts,
        &[
            "secret",
            "download",
            "--vault-name",
            "default",
            "--name",
            "bin64",
            "--file",
            &p("bin64.out"),
        ],
        b"",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(d.join("bin64.out")).unwrap(),
        binary,
        "decoded by the tag"
    );
    assert_eq!(mode(&d.join("bin64.out")), 0o600);
    let (code, out, err) = set(
        "binhex",
        args(&[
            "--file",
            &p("blob.bin"),
            "--encoding",
            "hex",
            "--tags",
            "team=ops",
        ]),
        vec![],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["value"].as_str().unwrap().len(), binary.len() * 2);
    assert_eq!(v["tags"]["file-encoding"], "hex");
    assert_eq!(v["tags"]["team"], "ops");
    let (code, _, err) = keyhaven(
        &ts,
        &[
            "secret",
            "download",
            "--vault-name",
            "default",
            "--name",
            "binhex",
            "--file",
            &p("binhex.out"),
            "--encoding",
            "hex",
        ],
        b"",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(d.join("binhex.out")).unwrap(), binary);
    // A text secret downloads as its text; an existing file is not overwritten.
    let (code, _, err) = keyhaven(
        &ts,
        &[
            "secret",
            "download",
            "--vault-name",
            "default",
            "--name",
            "from-stdin",
            "--file",
            &p("text.out"),
        ],
        b"",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("text.out")).unwrap(),
        "line one\nline two\n"
    );
    let (code, _, _) = keyhaven(
        &ts,
        &[
            "secret",
            "download",
            "--vault-name",
            "default",
            "--name",
            "from-file",
            "--file",
            &p("text.out"),
        ],
        b"",
    )
    .await;
    assert_eq!(code, 1, "an existing file is kept");
    assert_eq!(
        std::fs::read_to_string(d.join("text.out")).unwrap(),
        "line one\nline two\n"
    );

    // Usage errors: --encoding needs --file (exit 2); a missing @FILE is named; no value at all.
    let (code, _, _) = set("x", args(&["--value", "v", "--encoding", "hex"]), vec![]).await;
    assert_eq!(code, 2);
    let (code, _, _) = set("x", args(&["--encoding", "hex"]), vec![]).await;
    assert_eq!(code, 2);
    let (code, _, err) = set(
        "x",
        args(&["--value", &format!("@{}", p("missing.txt"))]),
        vec![],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("missing.txt"), "{err}");
    let (code, _, err) = set("x", vec![], vec![]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--value or --file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_holding_secrets_or_keys_are_readable_by_their_owner_only() {
    let ts = TestServer::start().await;
    let second = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let vn = ["--vault-name", "default"];
    let run = |args: Vec<String>| {
        let ts = &ts;
        async move {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            keyhaven(ts, &a, b"").await
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (code, _, err) = run(args(&[
        "secret", "set", vn[0], vn[1], "--name", "s", "--value", "v",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(args(&[
        "key", "create", vn[0], vn[1], "--name", "k", "--kty", "EC",
    ]))
    .await;
    assert_eq!(code, 0, "{err}");

    // Per-object backups and a whole-vault backup.
    for (kind, name, file) in [("secret", "s", "s.blob"), ("key", "k", "k.blob")] {
        let (code, _, err) = run(args(&[
            kind,
            "backup",
            vn[0],
            vn[1],
            "--name",
            name,
            "--file",
            &p(file),
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        assert_eq!(mode(&d.join(file)), 0o600, "{file}");
    }
    let (code, _, err) = run(args(&[
        "vault",
        "backup",
        vn[0],
        vn[1],
        "--file",
        &p("all.khvs"),
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&d.join("all.khvs")), 0o600);

    // Geography export: a short passphrase is refused before anything is written.
    std::fs::write(d.join("short.txt"), "too-short\n").unwrap();
    let (code, _, err) = run(args(&[
        "geography",
        "export",
        "--file",
        &p("local.geokey"),
        "--password-file",
        &p("short.txt"),
    ]))
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("at least 12 characters"), "{err}");
    assert!(!d.join("local.geokey").exists());
    // A long one, from --password-file (the alias of --passphrase-file); an existing world-readable file is
    // replaced by an owner-only one.
    std::fs::write(d.join("local.geokey"), "old").unwrap();
    std::fs::set_permissions(
        d.join("local.geokey"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(d.join("pass.txt"), "correct horse battery staple\n").unwrap();
    let (code, _, err) = run(args(&[
        "geography",
        "export",
        "--file",
        &p("local.geokey"),
        "--password-file",
        &p("pass.txt"),
    ]))
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&d.join("local.geokey")), 0o600);
    assert!(std::fs::metadata(d.join("local.geokey")).unwrap().len() > 3);
    // Another deployment imports it with the same passphrase file; a wrong one is refused.
    std::fs::write(d.join("wrong.txt"), "the wrong passphrase\n").unwrap();
    let (code, _, err) = keyhaven(
        &second,
        &[
            "geography",
            "import",
            "--file",
            &p("local.geokey"),
            "--password-file",
            &p("wrong.txt"),
        ],
        b"",
    )
    .await;
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = keyhaven(
        &second,
        &[
            "geography",
            "import",
            "--file",
            &p("local.geokey"),
            "--passphrase-file",
            &p("pass.txt"),
        ],
        b"",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["geography"], "local");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_import_reads_the_pfx_password_from_a_file() {
    let ts = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "c.key",
        "-out",
        "c.pem",
        "-subj",
        "/CN=from-a-file",
        "-days",
        "2",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        "c.key",
        "-in",
        "c.pem",
        "-passout",
        "pass:pfx pass phrase",
        "-out",
        "c.pfx",
    ]);
    std::fs::write(
        d.join("right.txt"),
        "pfx pass phrase\nignored second line\n",
    )
    .unwrap();
    std::fs::write(d.join("wrong.txt"), "not it\n").unwrap();
    let import = |extra: &[&str]| {
        let mut a = vec![
            "certificate".to_string(),
            "import".into(),
            "--vault-name".into(),
            "default".into(),
            "--name".into(),
            "filed".into(),
            "--file".into(),
            p("c.pfx"),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        let ts = &ts;
        async move {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            keyhaven(ts, &a, b"").await
        }
    };
    let (code, _, err) = import(&["--password-file", &p("wrong.txt")]).await;
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = import(&["--password-file", &p("right.txt"), "--password", "x"]).await;
    assert_eq!(code, 2, "one password source at a time");
    let (code, out, err) = import(&["--password-file", &p("right.txt")]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&out)["policy"]["x509_props"]["subject"],
        "CN=from-a-file"
    );
}
