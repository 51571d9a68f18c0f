//! Azurite, the Azure Storage emulator (its blob service), for the tests that back vaults up into Blob Storage:
//! started on a free 127.0.0.1 port with its data in a temporary directory, stopped when dropped. It comes with the
//! JavaScript clients (`scripts/sdk-clients.sh`, pinned), found through `KEYHAVEN_SDK_NODE_MODULES`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Azurite {
    /// `http://127.0.0.1:{port}/devstoreaccount1`: the development account's blob endpoint.
    pub endpoint: String,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Azurite {
    pub async fn start() -> Azurite {
        Azurite::launch(None).await
    }

    /// Azurite over HTTPS with this certificate and key (PEM files): `https://127.0.0.1:{port}/devstoreaccount1`.
    pub async fn start_tls(cert: &Path, key: &Path) -> Azurite {
        Azurite::launch(Some((cert, key))).await
    }

    /// A new container: its URL and a SAS token for it (made with the development account's key by the Python
    /// Storage client, `tests/interop/azurite_container.py`); `ca` when Azurite serves HTTPS.
    pub async fn container(&self, ca: Option<&Path>) -> (String, String) {
        let python = std::env::var_os("KEYHAVEN_SDK_PYTHON").unwrap_or_else(|| {
            panic!(
                "KEYHAVEN_SDK_PYTHON is not set: run `eval \"$(scripts/test-clients.sh)\"` first"
            )
        });
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/azurite_container.py");
        let out = tokio::process::Command::new(python)
            .arg(script)
            .arg(&self.endpoint)
            .args(ca)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let (url, sas) = line.trim().split_once(' ').unwrap();
        (url.to_string(), sas.to_string())
    }

    async fn launch(tls: Option<(&Path, &Path)>) -> Azurite {
        let modules = std::env::var_os("KEYHAVEN_SDK_NODE_MODULES").map(PathBuf::from);
        let Some(bin) = modules
            .map(|m| m.join("azurite/dist/src/blob/main.js"))
            .filter(|p| p.is_file())
        else {
            panic!(
                "Azurite is not installed: run `eval \"$(scripts/test-clients.sh)\"` first (it installs the pinned \
                 JavaScript clients and Azurite, and sets KEYHAVEN_SDK_NODE_MODULES)"
            );
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(dir.path())
            .args(["--silent", "--skipApiVersionCheck"]);
        if let Some((cert, key)) = tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs Azurite");
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "Azurite did not listen within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Azurite {
            endpoint: format!(
                "{}://127.0.0.1:{port}/devstoreaccount1",
                if tls.is_some() { "https" } else { "http" }
            ),
            _child: child,
            _dir: dir,
        }
    }
}
