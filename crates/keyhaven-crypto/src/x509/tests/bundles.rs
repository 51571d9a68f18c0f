//! PKCS#12 and PEM: files the OpenSSL command line writes are read here, and files written here are read by the
//! OpenSSL command line (and Python's cryptography package, when installed).

use super::*;

/// Files for [`chain`] and [`rsa_key`]: the key (PKCS#8 PEM), the leaf, and the CA certificates root first (the
/// reverse of the chain order, to show that the order is rebuilt).
pub(super) struct Files {
    pub(super) dir: Scratch,
    pub(super) key: String,
    pub(super) leaf: String,
    pub(super) cas: String,
}

pub(super) fn files(name: &str) -> Files {
    let dir = Scratch::new(name);
    let c = chain();
    let key_pem = to_pem(Some(rsa_key()), &[]).unwrap();
    let key = dir.write("key.pem", key_pem.as_bytes());
    let leaf = dir.write("leaf.pem", der_to_pem(&c.leaf));
    let mut cas = der_to_pem(&c.root);
    cas.extend(der_to_pem(&c.intermediate));
    let cas = dir.write("cas.pem", cas);
    Files {
        dir,
        key,
        leaf,
        cas,
    }
}

/// `openssl pkcs12 -export` of the key, leaf and CAs with `extra` options; the file's bytes.
pub(super) fn export(f: &Files, extra: &[&str]) -> Vec<u8> {
    let out = f.dir.path("out.pfx");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-inkey",
        &f.key,
        "-in",
        &f.leaf,
        "-certfile",
        &f.cas,
        "-out",
        &out,
    ];
    args.extend_from_slice(extra);
    openssl(&args);
    f.dir.read("out.pfx")
}

/// Asserts that a bundle holds [`rsa_key`] and the chain in order.
#[track_caller]
pub(super) fn assert_full_bundle(b: &CertificateBundle) {
    let key = b.key.as_ref().expect("a key");
    assert_eq!(key.public_jwk().unwrap(), rsa_key().public_jwk().unwrap());
    assert_eq!(b.chain, chain().ders());
}

#[test]
fn pkcs12_from_openssl_with_a_password() {
    let f = files("p12-secret");
    let pfx = export(&f, &["-passout", "pass:secret"]);
    let info = openssl(&[
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        &f.dir.path("out.pfx"),
        "-passin",
        "pass:secret",
    ]);
    assert!(info.contains("AES-256-CBC"), "{info}");
    assert_full_bundle(&parse_pkcs12(&pfx, "secret").unwrap());
    // The key works: it signs what the certificate's key verifies.
    let b = parse_pkcs12(&pfx, "secret").unwrap();
    let digest = openssl::sha::sha256(b"hello");
    let sig = b.key.as_ref().unwrap().sign("RS256", &digest).unwrap();
    assert!(rsa_key().verify("RS256", &digest, &sig).unwrap());
}

#[test]
fn pkcs12_wrong_password_and_damage_are_told_apart() {
    let f = files("p12-wrong");
    let pfx = export(&f, &["-passout", "pass:secret"]);
    for wrong in ["", "Secret", "secret "] {
        let r = parse_pkcs12(&pfx, wrong);
        assert_malformed(r, "the password is wrong");
    }
    let r = parse_pkcs12(&pfx, "wrong-password");
    match &r {
        Err(e) => assert!(!e.to_string().contains("wrong-password")),
        Ok(_) => panic!("accepted a wrong password"),
    }
    assert_malformed(
        parse_pkcs12(b"", "secret"),
        "not a valid PKCS#12 (PFX) file",
    );
    assert_malformed(
        parse_pkcs12(b"garbage bytes", "secret"),
        "not a valid PKCS#12 (PFX) file",
    );
    assert_malformed(
        parse_pkcs12(&pfx[..pfx.len() / 2], "secret"),
        "not a valid PKCS#12 (PFX) file",
    );
    let pem = to_pem(Some(rsa_key()), &chain().ders()).unwrap();
    assert_malformed(
        parse_pkcs12(pem.as_bytes(), "secret"),
        "not a valid PKCS#12 (PFX) file",
    );
    // Bytes changed inside: refused, never silently accepted.
    let mut damaged = pfx.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x55;
    assert!(matches!(
        parse_pkcs12(&damaged, "secret"),
        Err(CryptoError::Malformed(_))
    ));
    assert_malformed(parse_pkcs12(&pfx, "a\0b"), "NUL");
}

#[test]
fn pkcs12_without_a_mac() {
    let f = files("p12-nomac");
    // Without a password: read.
    let pfx = export(&f, &["-nomac", "-passout", "pass:"]);
    assert_full_bundle(&parse_pkcs12(&pfx, "").unwrap());
    // With one: OpenSSL's PKCS12_parse insists on a MAC, which is said plainly.
    let pfx = export(&f, &["-nomac", "-passout", "pass:secret"]);
    assert_malformed(parse_pkcs12(&pfx, "secret"), "has no integrity check (MAC)");
}

#[test]
fn pkcs12_from_openssl_without_a_password() {
    let f = files("p12-empty");
    let pfx = export(&f, &["-passout", "pass:"]);
    assert_full_bundle(&parse_pkcs12(&pfx, "").unwrap());
    assert_malformed(parse_pkcs12(&pfx, "secret"), "the password is wrong");
}

#[test]
fn pkcs12_with_legacy_algorithms() {
    let f = files("p12-legacy");
    let out = f.dir.path("out.pfx");
    let made = run_openssl(&[
        "pkcs12",
        "-export",
        "-legacy",
        "-inkey",
        &f.key,
        "-in",
        &f.leaf,
        "-certfile",
        &f.cas,
        "-out",
        &out,
        "-passout",
        "pass:old",
    ]);
    if !made.status.success() {
        eprintln!("skipped: this OpenSSL has no legacy provider to write RC2 files with");
        return;
    }
    let pfx = f.dir.read("out.pfx");
    assert_full_bundle(&parse_pkcs12(&pfx, "old").unwrap());
}

#[test]
fn pkcs12_of_certificates_only() {
    let f = files("p12-certs");
    let out = f.dir.path("out.pfx");
    // The leaf last, so that it has to be found.
    let all = f.dir.write(
        "all.pem",
        [
            std::fs::read(&f.cas).unwrap(),
            std::fs::read(&f.leaf).unwrap(),
        ]
        .concat(),
    );
    openssl(&[
        "pkcs12", "-export", "-nokeys", "-in", &all, "-out", &out, "-passout", "pass:x",
    ]);
    let b = parse_pkcs12(&f.dir.read("out.pfx"), "x").unwrap();
    assert!(b.key.is_none());
    assert_eq!(b.chain, chain().ders());
}

#[test]
fn pkcs12_key_must_match_a_certificate() {
    // OpenSSL refuses to pair a key with a certificate it does not belong to, so the leaf goes in as an extra
    // certificate next to another key.
    let mut extra = openssl::stack::Stack::new().unwrap();
    extra
        .push(openssl::x509::X509::from_der(&chain().leaf).unwrap())
        .unwrap();
    let pfx = openssl::pkcs12::Pkcs12::builder()
        .pkey(&other_rsa_key().to_pkey().unwrap())
        .ca(extra)
        .build2("x")
        .unwrap()
        .to_der()
        .unwrap();
    assert_malformed(
        parse_pkcs12(&pfx, "x"),
        "the private key does not match the certificate",
    );
    // Written here with a mismatched key: refused before writing.
    assert_malformed(
        to_pkcs12(Some(other_rsa_key()), &chain().ders()),
        "does not match",
    );
}

#[test]
fn pkcs12_refuses_keys_azure_does_not_hold() {
    let dir = Scratch::new("p12-ed25519");
    let (key, cert, out) = (dir.path("k.pem"), dir.path("c.pem"), dir.path("out.pfx"));
    openssl(&[
        "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", &key, "-out", &cert, "-subj",
        "/CN=ed", "-days", "1",
    ]);
    openssl(&[
        "pkcs12", "-export", "-inkey", &key, "-in", &cert, "-out", &out, "-passout", "pass:",
    ]);
    assert_malformed(parse_pkcs12(&dir.read("out.pfx"), ""), "only RSA and EC");
}

#[test]
fn pkcs12_written_here_reads_in_openssl_and_back() {
    let pfx = to_pkcs12(Some(rsa_key()), &chain().ders()).unwrap();
    let dir = Scratch::new("p12-out");
    let path = dir.write("out.pfx", &*pfx);
    let info = openssl(&[
        "pkcs12", "-info", "-noout", "-in", &path, "-passin", "pass:",
    ]);
    assert!(info.contains("MAC: sha256"), "{info}");
    let pem = openssl(&["pkcs12", "-in", &path, "-nodes", "-passin", "pass:"]);
    assert!(pem.contains("-----BEGIN PRIVATE KEY-----"), "{pem}");
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    // OpenSSL's output (with its "Bag Attributes" lines) reads back as PEM; the file reads back as PKCS#12.
    assert_full_bundle(&parse_pem(&pem).unwrap());
    assert_full_bundle(&parse_pkcs12(&pfx, "").unwrap());
    // An EC key, no chain beyond the leaf.
    let key = PrivateKey::generate_ec(Curve::P521).unwrap();
    let cert = self_signed(&key, &full_request()).unwrap();
    let pfx = to_pkcs12(Some(&key), std::slice::from_ref(&cert)).unwrap();
    let b = parse_pkcs12(&pfx, "").unwrap();
    assert_eq!(
        b.key.unwrap().public_jwk().unwrap(),
        key.public_jwk().unwrap()
    );
    assert_eq!(b.chain, [cert]);
}

#[test]
fn pkcs12_written_here_reads_in_python() {
    let pfx = to_pkcs12(Some(rsa_key()), &chain().ders()).unwrap();
    let dir = Scratch::new("p12-python");
    let path = dir.write("out.pfx", &*pfx);
    let script = "import sys\n\
        from cryptography.hazmat.primitives.serialization import pkcs12\n\
        k, c, extra = pkcs12.load_key_and_certificates(open(sys.argv[1], 'rb').read(), None)\n\
        print(k.key_size, c.subject.rfc4514_string(), len(extra))\n";
    // The test suite's pinned Python clients (scripts/sdk-clients.sh) carry `cryptography`; without them, a
    // system python3 that has it.
    let pinned = std::env::var_os("KEYHAVEN_SDK_PYTHON");
    let required = pinned.is_some();
    let python = pinned.unwrap_or_else(|| "python3".into());
    let out = match Command::new(&python).args(["-c", script, &path]).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(
                !required,
                "KEYHAVEN_SDK_PYTHON={python:?} does not run: {e}"
            );
            eprintln!("skipped: python3 is not installed");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !required && stderr.contains("No module named 'cryptography'") {
        eprintln!("skipped: Python's cryptography package is not installed");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("2048 {} 2", full_request().subject.replace(", ", ","))
    );
}

#[test]
fn pkcs12_of_certificates_only_written_here() {
    let pfx = to_pkcs12(None, &chain().ders()).unwrap();
    let b = parse_pkcs12(&pfx, "").unwrap();
    assert!(b.key.is_none());
    assert_eq!(b.chain, chain().ders());
    assert_malformed(to_pkcs12(None, &[]), "needs a key or a certificate");
    assert_malformed(
        to_pkcs12(None, &[b"junk".to_vec()]),
        "not a valid X.509 certificate",
    );
    let oct = PrivateKey::generate_oct(128).unwrap();
    assert_malformed(to_pkcs12(Some(&oct), &chain().ders()), "oct");
}

#[test]
fn pem_in_any_order() {
    let c = chain();
    let key = to_pem(Some(rsa_key()), &[]).unwrap();
    let pem = |der: &Vec<u8>| String::from_utf8(der_to_pem(der)).unwrap();
    let orders = [
        format!(
            "{}{}{}{}",
            *key,
            pem(&c.leaf),
            pem(&c.intermediate),
            pem(&c.root)
        ),
        format!(
            "{}{}{}{}",
            pem(&c.root),
            pem(&c.intermediate),
            pem(&c.leaf),
            *key
        ),
        format!(
            "{}\n{}some text\n{}{}",
            pem(&c.intermediate),
            *key,
            pem(&c.root),
            pem(&c.leaf)
        ),
    ];
    for text in &orders {
        assert_full_bundle(&parse_pem(text).unwrap());
    }
    // Windows line ends and indentation.
    let crlf = orders[1].replace('\n', "\r\n  ");
    assert_full_bundle(&parse_pem(&crlf).unwrap());
    // Duplicates are dropped.
    let doubled = format!("{}{}", orders[0], pem(&c.leaf));
    assert_full_bundle(&parse_pem(&doubled).unwrap());
}

#[test]
fn pem_key_formats_from_openssl() {
    let dir = Scratch::new("pem-formats");
    let f = files("pem-formats-files");
    let leaf = std::fs::read_to_string(&f.leaf).unwrap();
    let rsa = dir.path("rsa.pem");
    openssl(&["rsa", "-in", &f.key, "-traditional", "-out", &rsa]);
    let rsa_text = std::fs::read_to_string(&rsa).unwrap();
    assert!(rsa_text.contains("BEGIN RSA PRIVATE KEY"));
    let b = parse_pem(&format!("{leaf}{rsa_text}")).unwrap();
    assert_eq!(
        b.key.unwrap().public_jwk().unwrap(),
        rsa_key().public_jwk().unwrap()
    );

    // `openssl ecparam -genkey` writes EC PARAMETERS before EC PRIVATE KEY.
    let (ec, cert) = (dir.path("ec.pem"), dir.path("ec-cert.pem"));
    openssl(&["ecparam", "-name", "secp256k1", "-genkey", "-out", &ec]);
    openssl(&[
        "req", "-x509", "-key", &ec, "-out", &cert, "-subj", "/CN=k1", "-days", "1",
    ]);
    let ec_text = std::fs::read_to_string(&ec).unwrap();
    assert!(ec_text.contains("BEGIN EC PARAMETERS") && ec_text.contains("BEGIN EC PRIVATE KEY"));
    let cert_text = std::fs::read_to_string(&cert).unwrap();
    let b = parse_pem(&format!("{ec_text}{cert_text}")).unwrap();
    assert_eq!(b.key.as_ref().unwrap().curve(), Some(Curve::P256K));
    assert_eq!(b.chain.len(), 1);
    assert!(matches_key(&b.chain[0], b.key.as_ref().unwrap()).unwrap());
}

#[test]
fn pem_refusals() {
    let f = files("pem-refusals");
    let leaf = std::fs::read_to_string(&f.leaf).unwrap();
    let other = to_pem(Some(other_rsa_key()), &[]).unwrap();
    assert_malformed(
        parse_pem(&format!("{}{leaf}", *other)),
        "the private key does not match the certificate",
    );

    let enc = f.dir.path("enc.pem");
    openssl(&[
        "pkcs8", "-topk8", "-in", &f.key, "-v2", "aes256", "-passout", "pass:pw", "-out", &enc,
    ]);
    let enc = std::fs::read_to_string(&enc).unwrap();
    assert!(enc.contains("ENCRYPTED PRIVATE KEY"));
    assert_malformed(
        parse_pem(&format!("{enc}{leaf}")),
        "encrypted PEM private keys are not supported; ",
    );

    let legacy = f.dir.path("legacy.pem");
    openssl(&[
        "rsa",
        "-in",
        &f.key,
        "-traditional",
        "-aes256",
        "-passout",
        "pass:pw",
        "-out",
        &legacy,
    ]);
    let legacy = std::fs::read_to_string(&legacy).unwrap();
    assert!(legacy.contains("Proc-Type: 4,ENCRYPTED"));
    assert_malformed(
        parse_pem(&format!("{leaf}{legacy}")),
        "encrypted PEM private keys are not supported",
    );

    let key = to_pem(Some(rsa_key()), &[]).unwrap();
    assert_malformed(parse_pem(&key), "contains no certificate");
    assert_malformed(parse_pem(""), "no PEM blocks");
    assert_malformed(parse_pem("hello"), "no PEM blocks");
    assert_malformed(
        parse_pem(&format!("{}{}{leaf}", *key, *key)),
        "more than one private key",
    );
    assert_malformed(
        parse_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        "unsupported PEM block 'PUBLIC KEY'",
    );
    assert_malformed(
        parse_pem("-----BEGIN CERTIFICATE-----\nAAAA\n"),
        "has no END line",
    );
    assert_malformed(
        parse_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        "ends with END PRIVATE KEY",
    );
    assert_malformed(
        parse_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
        "not valid base64",
    );
    assert_malformed(
        parse_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        "not a valid X.509 certificate",
    );
    assert_malformed(
        parse_pem(&format!(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{leaf}"
        )),
        "not a valid private key",
    );
}

#[test]
fn pem_written_here_reads_in_openssl() {
    let c = chain();
    let text = to_pem(Some(rsa_key()), &c.ders()).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    let dir = Scratch::new("pem-out");
    let path = dir.write("all.pem", text.as_bytes());
    // The key and the first certificate hold the same public key.
    let from_key = openssl(&["pkey", "-in", &path, "-pubout"]);
    let from_cert = openssl(&["x509", "-in", &path, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
    let subject = openssl(&["x509", "-in", &path, "-noout", "-subject"]);
    assert!(subject.contains("CN = www.contoso.com"), "{subject}");
    assert_full_bundle(&parse_pem(&text).unwrap());
    // Certificates only, and refusals.
    let certs = to_pem(None, &c.ders()).unwrap();
    assert!(certs.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(parse_pem(&certs).unwrap().chain, c.ders());
    assert_malformed(to_pem(Some(other_rsa_key()), &c.ders()), "does not match");
    assert_malformed(
        to_pem(None, &[c.leaf[1..].to_vec()]),
        "not a valid X.509 certificate",
    );
}
