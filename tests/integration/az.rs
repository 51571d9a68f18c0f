//! The Azure CLI against a real server: README's "Using az against Keyhaven" procedure, command for command —
//! `az cloud register`, `az login --service-principal`, `az account set`, `az provider register`, then
//! `az keyvault {kind} backup` / `restore` of every kind into a second vault.
//!
//! `az` comes from `KEYHAVEN_AZ` (`eval "$(scripts/test-clients.sh)"` sets it; `.ci/run` does it). Each run
//! uses a fresh `AZURE_CONFIG_DIR`, so nothing of a developer's own `az` set-up is read or changed. Where the
//! system does not resolve `*.vault.localhost` (glibc with `hosts: files dns` and no systemd-resolved), az's
//! Python gets the RFC 6761 rule — `*.localhost` is loopback — through a `sitecustomize` on `PYTHONPATH`.

use keyhaven_testkit::TestServer;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SOURCE: &str = "az-source";
const TARGET: &str = "az-target";
/// The vaults `az keyvault create` makes through Resource Manager.
const PRIMARY: &str = "arm-primary";
const SECONDARY: &str = "arm-secondary";

/// One kind the procedure covers: how the test makes an object of it with `az`, and which fields of
/// `az keyvault {kind} show` must be the same after the restore.
struct Kind {
    kind: &'static str,
    /// `az keyvault {kind} …` arguments that make the object (`--vault-name`, `--name` and `--subscription`
    /// are added).
    create: &'static [&'static str],
    /// JMESPath of the object's id, whose last segment is the version (restore keeps versions).
    id: &'static str,
    /// JMESPath of the object's material.
    material: &'static str,
}

const KINDS: &[Kind] = &[
    Kind {
        kind: "secret",
        create: &["set", "--value", "restored-by-az"],
        id: "id",
        material: "value",
    },
    Kind {
        kind: "key",
        create: &["create", "--kty", "EC", "--curve", "P-256"],
        id: "key.kid",
        material: "key.x",
    },
    Kind {
        kind: "certificate",
        create: &["create", "--policy", CERTIFICATE_POLICY],
        id: "id",
        material: "cer",
    },
];

/// A self-signed certificate policy, as `az keyvault certificate create --policy` takes it.
const CERTIFICATE_POLICY: &str = r#"{"issuerParameters":{"name":"Self"},"keyProperties":{"exportable":true,"keyType":"RSA","keySize":2048,"reuseKey":false},"secretProperties":{"contentType":"application/x-pkcs12"},"x509CertificateProperties":{"subject":"CN=az-test","validityInMonths":12}}"#;

/// Resolves `*.localhost` to loopback for one Python process (what systemd-resolved does system-wide).
const LOCALHOST_SHIM: &str = r#"import socket
_getaddrinfo = socket.getaddrinfo
def _loopback_localhost(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and (name.rstrip('.').lower() + '.').endswith('.localhost.'):
        host = '127.0.0.1'
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = _loopback_localhost
"#;

fn az_binary() -> PathBuf {
    let Some(az) = std::env::var_os("KEYHAVEN_AZ").filter(|v| !v.is_empty()) else {
        panic!(
            "KEYHAVEN_AZ is not set. This test runs the Azure CLI: create its venv once (a few minutes) with\n\n    \
             eval \"$(scripts/test-clients.sh)\"\n\nand run the tests again (.ci/run does the same)."
        );
    };
    let az = PathBuf::from(az);
    assert!(
        az.is_file(),
        "KEYHAVEN_AZ={} is not a file: run `eval \"$(scripts/test-clients.sh)\"`",
        az.display()
    );
    az
}

/// Whether the system resolves a vault host name to loopback (then `az` runs with no help at all).
fn resolves_to_loopback(host: &str, port: u16) -> bool {
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

struct Az {
    bin: PathBuf,
    config_dir: tempfile::TempDir,
    ca_file: PathBuf,
    /// A directory holding the `*.localhost` `sitecustomize`, when the system needs it.
    shim: Option<tempfile::TempDir>,
}

impl Az {
    fn new(ts: &TestServer, bin: PathBuf) -> Az {
        let needs_shim = [SOURCE, TARGET, PRIMARY, SECONDARY]
            .iter()
            .any(|v| !resolves_to_loopback(&format!("{v}.vault.localhost"), ts.port()));
        let shim = needs_shim.then(|| {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("sitecustomize.py"), LOCALHOST_SHIM).unwrap();
            d
        });
        Az {
            bin,
            config_dir: tempfile::tempdir().unwrap(),
            ca_file: ts.ca_file(),
            shim,
        }
    }

    /// Runs `az ARGS`, which must succeed; returns its standard output, trimmed.
    async fn run(&self, args: &[&str]) -> String {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .env("AZURE_CONFIG_DIR", self.config_dir.path())
            .env("REQUESTS_CA_BUNDLE", &self.ca_file)
            .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
            .env("NO_PROXY", "localhost,.localhost,127.0.0.1")
            .env("no_proxy", "localhost,.localhost,127.0.0.1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(shim) = &self.shim {
            cmd.env("PYTHONPATH", shim.path());
        }
        // The client secret never reaches a failure message.
        let shown: Vec<&str> = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if i > 0 && args[i - 1] == "-p" {
                    "***"
                } else {
                    a
                }
            })
            .collect();
        let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("az {} did not finish in 180 s", shown.join(" ")))
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success(),
            "az {} failed ({}):\n{stdout}\n{}",
            shown.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs `az ARGS`, which must fail; returns its standard error.
    async fn run_failing(&self, args: &[&str]) -> String {
        let out = tokio::time::timeout(Duration::from_secs(180), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("az {} did not finish in 180 s", args.join(" ")))
            .unwrap();
        assert!(
            !out.status.success(),
            "az {} succeeded but should have failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    /// `az ARGS` with this run's configuration (no secrets in ARGS: used for failing runs only).
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .env("AZURE_CONFIG_DIR", self.config_dir.path())
            .env("REQUESTS_CA_BUNDLE", &self.ca_file)
            .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
            .env("NO_PROXY", "localhost,.localhost,127.0.0.1")
            .env("no_proxy", "localhost,.localhost,127.0.0.1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(shim) = &self.shim {
            cmd.env("PYTHONPATH", shim.path());
        }
        cmd
    }

    /// README's one-time set-up: the cloud, the admin's sign-in, its subscription selected. Returns the
    /// subscription id.
    async fn sign_in(&self, ts: &TestServer) -> String {
        let suffix = format!(".vault.localhost:{}", ts.port());
        let authority = ts.authority();
        self.run(&[
            "cloud",
            "register",
            "-n",
            "Keyhaven",
            "--endpoint-resource-manager",
            &authority,
            "--suffix-keyvault-dns",
            &suffix,
        ])
        .await;
        self.run(&["cloud", "set", "-n", "Keyhaven"]).await;
        self.run(&["config", "set", "core.instance_discovery=false"])
            .await;
        self.run(&[
            "login",
            "--service-principal",
            "-u",
            &ts.admin.client_id,
            "-p",
            &ts.admin.client_secret,
            "--tenant",
            &ts.admin.tenant_id,
            "-o",
            "none",
        ])
        .await;
        let sub = self
            .run(&["account", "show", "--query", "id", "-o", "tsv"])
            .await;
        self.run(&["account", "set", "--subscription", &sub]).await;
        sub
    }

    /// `az keyvault {kind} show … --query Q -o tsv`.
    async fn show(&self, kind: &str, vault: &str, name: &str, sub: &str, query: &str) -> String {
        self.run(&[
            "keyvault",
            kind,
            "show",
            "--vault-name",
            vault,
            "--name",
            name,
            "--subscription",
            sub,
            "--query",
            query,
            "-o",
            "tsv",
        ])
        .await
    }
}

fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or_default()
}

fn file_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn az_backs_up_and_restores_every_kind_into_a_second_vault() {
    let bin = az_binary();
    let ts = TestServer::start().await;
    ts.create_vault(SOURCE).await;
    ts.create_vault(TARGET).await;
    let az = Az::new(&ts, bin);
    let port = ts.port().to_string();
    let authority = ts.authority();
    let suffix = format!(".vault.localhost:{port}");

    // The set-up, once per machine.
    az.run(&[
        "cloud",
        "register",
        "-n",
        "Keyhaven",
        "--endpoint-resource-manager",
        &authority,
        "--suffix-keyvault-dns",
        &suffix,
    ])
    .await;
    az.run(&["cloud", "set", "-n", "Keyhaven"]).await;
    az.run(&["config", "set", "core.instance_discovery=false"])
        .await;

    // Log in as the admin client; the deployment's one subscription is listed.
    az.run(&[
        "login",
        "--service-principal",
        "-u",
        &ts.admin.client_id,
        "-p",
        &ts.admin.client_secret,
        "--tenant",
        &ts.admin.tenant_id,
        "-o",
        "none",
    ])
    .await;
    let subs = az
        .run(&[
            "account",
            "list",
            "--query",
            "[].[id, tenantId]",
            "-o",
            "tsv",
        ])
        .await;
    let rows: Vec<Vec<&str>> = subs.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 1, "one subscription: {subs}");
    assert_eq!(rows[0][1], ts.admin.tenant_id);
    let sub = rows[0][0].to_string();
    az.run(&["account", "set", "--subscription", &sub]).await;
    az.run(&["provider", "register", "-n", "Microsoft.KeyVault"])
        .await;
    assert_eq!(
        az.run(&[
            "provider",
            "show",
            "-n",
            "Microsoft.KeyVault",
            "--query",
            "registrationState",
            "-o",
            "tsv"
        ])
        .await,
        "Registered"
    );

    let files = tempfile::tempdir().unwrap();
    for k in KINDS {
        let name = format!("az-{}", k.kind);
        let mut create = vec!["keyvault", k.kind];
        create.extend(k.create);
        create.extend([
            "--vault-name",
            SOURCE,
            "--name",
            &name,
            "--subscription",
            &sub,
            "-o",
            "none",
        ]);
        az.run(&create).await;
        let id = az.show(k.kind, SOURCE, &name, &sub, k.id).await;
        let material = az.show(k.kind, SOURCE, &name, &sub, k.material).await;
        assert!(!material.is_empty(), "{} {name} has material", k.kind);

        // The procedure: backup from one vault, restore into the other.
        let file = files.path().join(format!("{name}.blob"));
        az.run(&[
            "keyvault",
            k.kind,
            "backup",
            "--file",
            file_arg(&file),
            "--name",
            &name,
            "--vault-name",
            SOURCE,
            "--subscription",
            &sub,
        ])
        .await;
        let blob = std::fs::read(&file).unwrap();
        assert!(!blob.is_empty(), "{} backup file written", k.kind);
        az.run(&[
            "keyvault",
            k.kind,
            "restore",
            "--file",
            file_arg(&file),
            "--vault-name",
            TARGET,
            "--subscription",
            &sub,
            "-o",
            "none",
        ])
        .await;

        let restored_id = az.show(k.kind, TARGET, &name, &sub, k.id).await;
        assert!(
            restored_id.contains(&format!("://{TARGET}.vault.localhost:{port}/")),
            "{restored_id}"
        );
        assert_eq!(
            last_segment(&restored_id),
            last_segment(&id),
            "{} version kept",
            k.kind
        );
        assert_eq!(
            az.show(k.kind, TARGET, &name, &sub, k.material).await,
            material,
            "{} restored as it was",
            k.kind
        );
    }
}

/// `az keyvault create/show/list/delete/recover/purge` through the server's Resource Manager: two vaults made by
/// `az` (a resource group name and a location that maps to a geography), a secret set in one, backed up and
/// restored into the other; then the first deleted (it serves nothing), recovered with its secret, deleted and
/// purged (its name free again). What Keyhaven cannot honour is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn az_creates_vaults_through_resource_manager() {
    let bin = az_binary();
    let ts = TestServer::start_with(
        |c| {
            c.domain
                .locations
                .insert("westeurope".into(), "europe".into());
        },
        None,
    )
    .await;
    let az = Az::new(&ts, bin);
    az.sign_in(&ts).await;
    let port = ts.port();

    for v in [PRIMARY, SECONDARY] {
        let made = az
            .run(&[
                "keyvault",
                "create",
                "-n",
                v,
                "-g",
                "kh-rg",
                "-l",
                "westeurope",
                "--retention-days",
                "7",
                "-o",
                "json",
            ])
            .await;
        let made: serde_json::Value = serde_json::from_str(&made).unwrap();
        assert_eq!(made["name"], v);
        assert_eq!(made["location"], "westeurope");
        assert!(made["id"]
            .as_str()
            .unwrap()
            .contains("/resourceGroups/kh-rg/providers/Microsoft.KeyVault/vaults/"));
        let p = &made["properties"];
        assert_eq!(
            p["vaultUri"],
            format!("https://{v}.vault.localhost:{port}/")
        );
        assert_eq!(p["tenantId"], ts.admin.tenant_id.as_str());
        assert_eq!(p["enableRbacAuthorization"], true);
        assert_eq!(p["enableSoftDelete"], true);
        assert_eq!(p["softDeleteRetentionInDays"], 7);
        assert_eq!(p["sku"]["name"], "standard");
        assert_eq!(p["provisioningState"], "Succeeded");
    }
    // Keyhaven's own view: the location's geography.
    let vault: serde_json::Value = ts
        .http(&[])
        .get(format!("{}/_keyhaven/vaults/{PRIMARY}", ts.authority()))
        .bearer_auth(ts.management_token().await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(vault["geography"], "europe");
    assert_eq!(
        az.run(&[
            "keyvault",
            "show",
            "-n",
            PRIMARY,
            "-g",
            "kh-rg",
            "--query",
            "properties.vaultUri",
            "-o",
            "tsv"
        ])
        .await,
        format!("https://{PRIMARY}.vault.localhost:{port}/")
    );
    let listed = az
        .run(&["keyvault", "list", "--query", "[].name", "-o", "tsv"])
        .await;
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    assert_eq!(listed, ["arm-primary", "arm-secondary", "default"]);
    let in_group = az
        .run(&[
            "keyvault",
            "list",
            "-g",
            "kh-rg",
            "--query",
            "length(@)",
            "-o",
            "tsv",
        ])
        .await;
    assert_eq!(in_group, "2");
    let err = az
        .run_failing(&[
            "keyvault",
            "create",
            "-n",
            PRIMARY,
            "-g",
            "kh-rg",
            "-l",
            "westeurope",
        ])
        .await;
    assert!(err.contains("already exists"), "{err}");
    let err = az
        .run_failing(&[
            "keyvault",
            "create",
            "-n",
            "arm-policies",
            "-g",
            "kh-rg",
            "-l",
            "westeurope",
            "--enable-rbac-authorization",
            "false",
            "--no-self-perms",
        ])
        .await;
    assert!(err.contains("roles only"), "{err}");

    // The seed's prerequisites: a secret set in the primary vault, backed up, restored into the secondary.
    az.run(&[
        "keyvault",
        "secret",
        "set",
        "--vault-name",
        PRIMARY,
        "-n",
        "moved",
        "--value",
        "across",
        "-o",
        "none",
    ])
    .await;
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("moved.blob");
    az.run(&[
        "keyvault",
        "secret",
        "backup",
        "--vault-name",
        PRIMARY,
        "-n",
        "moved",
        "--file",
        file_arg(&file),
    ])
    .await;
    az.run(&[
        "keyvault",
        "secret",
        "restore",
        "--vault-name",
        SECONDARY,
        "--file",
        file_arg(&file),
        "-o",
        "none",
    ])
    .await;
    let show = |vault: &'static str| {
        let az = &az;
        async move {
            az.run(&[
                "keyvault",
                "secret",
                "show",
                "--vault-name",
                vault,
                "-n",
                "moved",
                "--query",
                "value",
                "-o",
                "tsv",
            ])
            .await
        }
    };
    assert_eq!(show(SECONDARY).await, "across");

    // Delete: the vault serves nothing and is listed as deleted; recover brings it back with its secret.
    az.run(&["keyvault", "delete", "-n", PRIMARY, "-g", "kh-rg"])
        .await;
    az.run_failing(&["keyvault", "show", "-n", PRIMARY, "-g", "kh-rg"])
        .await;
    az.run_failing(&[
        "keyvault",
        "secret",
        "show",
        "--vault-name",
        PRIMARY,
        "-n",
        "moved",
    ])
    .await;
    let deleted: serde_json::Value = serde_json::from_str(
        &az.run(&["keyvault", "show-deleted", "-n", PRIMARY, "-o", "json"])
            .await,
    )
    .unwrap();
    assert_eq!(deleted["properties"]["location"], "westeurope");
    assert!(deleted["properties"]["vaultId"]
        .as_str()
        .unwrap()
        .contains("/resourceGroups/kh-rg/"));
    assert!(deleted["properties"]["scheduledPurgeDate"].is_string());
    let err = az
        .run_failing(&[
            "keyvault",
            "create",
            "-n",
            PRIMARY,
            "-g",
            "kh-rg",
            "-l",
            "westeurope",
        ])
        .await;
    assert!(err.contains("deleted vault"), "{err}");
    az.run(&["keyvault", "recover", "-n", PRIMARY, "-o", "none"])
        .await;
    assert_eq!(show(PRIMARY).await, "across");

    // Delete and purge: gone, and the name is free.
    az.run(&["keyvault", "delete", "-n", PRIMARY, "-g", "kh-rg"])
        .await;
    az.run(&["keyvault", "purge", "-n", PRIMARY]).await;
    assert_eq!(
        az.run(&[
            "keyvault",
            "list-deleted",
            "--query",
            "length(@)",
            "-o",
            "tsv"
        ])
        .await,
        "0"
    );
    // Without -l, az takes the resource group's location: the deployment's default.
    assert_eq!(
        az.run(&[
            "keyvault", "create", "-n", PRIMARY, "-g", "kh-rg", "--query", "location", "-o", "tsv",
        ])
        .await,
        "local"
    );
    az.run_failing(&[
        "keyvault",
        "secret",
        "show",
        "--vault-name",
        PRIMARY,
        "-n",
        "moved",
    ])
    .await;
    assert_eq!(show(SECONDARY).await, "across");
}
