//! Tests of certificates, mostly against the OpenSSL command line: what this module makes, `openssl` reads and
//! checks; what `openssl` makes, this module reads.

mod bundles;
mod inspecting;
mod issuing;
mod pkcs12_cost;

use super::*;
use crate::CryptoError;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// 2024-01-31T10:00:00Z: a month end, so that month arithmetic shows.
const JAN_31_2024: i64 = 1_706_695_200;

/// One 2048-bit RSA key shared by the tests (generation is slow in debug builds).
fn rsa_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate_rsa(2048, None).unwrap())
}

/// Another RSA key, for "does not match" cases.
fn other_rsa_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate_rsa(2048, None).unwrap())
}

/// A request with every kind of field filled in.
fn full_request() -> CertificateRequest {
    CertificateRequest {
        subject: "CN=www.contoso.com, O=Contoso, OU=IT, L=Redmond, ST=WA, C=US".into(),
        dns_names: vec!["www.contoso.com".into(), "*.contoso.com".into()],
        emails: vec!["admin@contoso.com".into()],
        upns: vec!["user@contoso.com".into()],
        key_usage: vec!["digitalSignature".into(), "keyEncipherment".into()],
        ekus: vec!["1.3.6.1.5.5.7.3.1".into(), "1.3.6.1.5.5.7.3.2".into()],
        validity_months: 12,
        not_before: JAN_31_2024,
    }
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "keyhaven-x509-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes a file and returns its path.
    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, data).unwrap();
        p.to_str().unwrap().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `openssl`, failing the test (with its output) when it fails; returns stdout and stderr together.
fn openssl(args: &[&str]) -> String {
    let out = run_openssl(args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command line tool is installed")
}

/// `openssl x509 -text` of a DER certificate.
fn cert_text(der: &[u8]) -> String {
    let dir = Scratch::new("text");
    let path = dir.write("cert.der", der);
    openssl(&["x509", "-inform", "DER", "-in", &path, "-noout", "-text"])
}

/// DER of a PEM certificate file.
fn pem_file_to_der(path: &str) -> Vec<u8> {
    openssl::x509::X509::from_pem(&std::fs::read(path).unwrap())
        .unwrap()
        .to_der()
        .unwrap()
}

/// PEM of a DER certificate.
fn der_to_pem(der: &[u8]) -> Vec<u8> {
    openssl::x509::X509::from_der(der)
        .unwrap()
        .to_pem()
        .unwrap()
}

/// A three-level chain made with the OpenSSL command line: a root CA, an intermediate CA, and a leaf issued by
/// the intermediate from a signing request made by [`signing_request`] for [`rsa_key`].
struct Chain {
    leaf: Vec<u8>,
    intermediate: Vec<u8>,
    root: Vec<u8>,
}

impl Chain {
    /// Leaf first.
    fn ders(&self) -> Vec<Vec<u8>> {
        vec![
            self.leaf.clone(),
            self.intermediate.clone(),
            self.root.clone(),
        ]
    }
}

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let dir = Scratch::new("chain");
        let ext = dir.write(
            "ext.cnf",
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             [leaf]\nauthorityKeyIdentifier=keyid\n",
        );
        let (root_key, root) = (dir.path("root.key"), dir.path("root.pem"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &root_key,
            "-out",
            &root,
            "-subj",
            "/O=Keyhaven Test/CN=Test Root",
            "-days",
            "30",
        ]);
        let (int_key, int_csr, int) = (
            dir.path("int.key"),
            dir.path("int.csr"),
            dir.path("int.pem"),
        );
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &int_key,
            "-out",
            &int_csr,
            "-subj",
            "/O=Keyhaven Test/CN=Test Intermediate",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &int_csr,
            "-CA",
            &root,
            "-CAkey",
            &root_key,
            "-set_serial",
            "2",
            "-days",
            "30",
            "-extfile",
            &ext,
            "-extensions",
            "ca",
            "-out",
            &int,
        ]);
        let csr = signing_request(rsa_key(), &full_request()).unwrap();
        let csr_der = dir.write("leaf.csr.der", &csr);
        let csr_pem = dir.path("leaf.csr");
        openssl(&["req", "-inform", "DER", "-in", &csr_der, "-out", &csr_pem]);
        let leaf = dir.path("leaf.pem");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr_pem,
            "-CA",
            &int,
            "-CAkey",
            &int_key,
            "-set_serial",
            "3",
            "-days",
            "30",
            "-copy_extensions",
            "copy",
            "-extfile",
            &ext,
            "-extensions",
            "leaf",
            "-out",
            &leaf,
        ]);
        openssl(&["verify", "-CAfile", &root, "-untrusted", &int, &leaf]);
        Chain {
            leaf: pem_file_to_der(&leaf),
            intermediate: pem_file_to_der(&int),
            root: pem_file_to_der(&root),
        }
    })
}

/// Asserts a Malformed error whose message contains `needle`.
#[track_caller]
fn assert_malformed<T: std::fmt::Debug>(r: Result<T, CryptoError>, needle: &str) {
    match r {
        Err(CryptoError::Malformed(m)) => {
            assert!(
                m.contains(needle),
                "message {m:?} does not mention {needle:?}"
            )
        }
        other => panic!("expected Malformed({needle:?}), got {other:?}"),
    }
}
