//! The server certificate: the local CA is limited by name constraints that OpenSSL enforces; its server
//! certificates are short-lived and renewed without a restart; a CA from before name constraints keeps working;
//! an operator's own certificate is served, checked at start and reloaded when its files change.

use keyhaven_model::ManualClock;
use keyhaven_testkit::TestServer;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::stack::Stack;
use openssl::x509::extension::{
    BasicConstraints, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509NameBuilder, X509StoreContext, X509VerifyResult, X509};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(super) fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn serial() -> Asn1Integer {
    let mut bn = BigNum::new().unwrap();
    bn.rand(120, MsbOption::MAYBE_ZERO, false).unwrap();
    bn.to_asn1_integer().unwrap()
}

/// A certificate for `cn`, signed by `issuer` (or self-signed), made with OpenSSL alone.
pub(super) fn make_cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    ca: bool,
    dns: &[&str],
    ips: &[&str],
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map(|(c, _)| c.subject_name()).unwrap_or(&name))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now() - 3600).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(if ca { 3650 } else { 90 }).unwrap())
        .unwrap();
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
        let ski = SubjectKeyIdentifier::new()
            .build(&b.x509v3_context(None, None))
            .unwrap();
        b.append_extension(ski).unwrap();
    }
    if !dns.is_empty() || !ips.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for d in dns {
            san.dns(d);
        }
        for i in ips {
            san.ip(i);
        }
        let ext = san
            .build(&b.x509v3_context(issuer.map(|(c, _)| c.as_ref()), None))
            .unwrap();
        b.append_extension(ext).unwrap();
    }
    b.sign(
        issuer.map(|(_, k)| k).unwrap_or(key),
        MessageDigest::sha256(),
    )
    .unwrap();
    b.build()
}

/// Verifies `leaf` against the one trusted `ca` with OpenSSL at time `at`.
fn verify(ca: &X509, leaf: &X509, at: i64) -> X509VerifyResult {
    let mut store = X509StoreBuilder::new().unwrap();
    store.add_cert(ca.clone()).unwrap();
    let mut param = X509VerifyParam::new().unwrap();
    param.set_time(at as _);
    store.set_param(&param).unwrap();
    let store = store.build();
    let mut ctx = X509StoreContext::new().unwrap();
    ctx.init(&store, leaf, &Stack::new().unwrap(), |c| {
        c.verify_cert()?;
        Ok(c.error())
    })
    .unwrap()
}

/// The certificate the server presents to a TLS client (not verified here).
fn served_certificate(addr: SocketAddr) -> X509 {
    let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let tcp = TcpStream::connect(addr).unwrap();
    let s = b.build().connect("localhost", tcp).unwrap();
    s.ssl().peer_certificate().unwrap()
}

fn serial_of(c: &X509) -> String {
    c.serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string()
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    let d = Asn1Time::from_unix(0).unwrap().diff(t).unwrap();
    i64::from(d.days) * DAY + i64::from(d.secs)
}

fn data_ca(ts: &TestServer) -> (X509, PKey<Private>) {
    let dir = ts.data_dir().join("tls");
    (
        X509::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap(),
        PKey::private_key_from_pem(&std::fs::read(dir.join("ca-key.pem")).unwrap()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_ca_signs_only_for_the_deployments_names() {
    let ts = TestServer::start_with(|c| c.tls_names = vec!["kv.example.com".into()], None).await;
    let (ca, ca_key) = data_ca(&ts);
    let t = now();
    let signed = |dns: &[&str], ips: &[&str]| {
        make_cert("test", &ec_key(), Some((&ca, &ca_key)), false, dns, ips)
    };
    for (dns, ips) in [
        (vec!["x.vault.localhost"], vec![]),
        (
            vec!["localhost", "kv.example.com", "a.kv.example.com"],
            vec!["127.0.0.1", "::1"],
        ),
    ] {
        assert_eq!(
            verify(&ca, &signed(&dns, &ips), t),
            X509VerifyResult::OK,
            "{dns:?} {ips:?}"
        );
    }
    // Anything else signed with the CA's own key is refused by OpenSSL.
    for (dns, ips) in [
        (vec!["www.example.org"], vec![]),
        (vec!["localhost", "login.microsoftonline.com"], vec![]),
        (vec!["example.com"], vec![]),
        (vec!["localhost"], vec!["10.0.0.1"]),
    ] {
        let r = verify(&ca, &signed(&dns, &ips), t);
        assert_eq!(
            r.as_raw(),
            openssl_sys_permitted_violation(),
            "{dns:?} {ips:?}: {}",
            r.error_string()
        );
    }
    // The served certificate chains to it, and is valid for 30 days (and an hour of back-dating).
    let leaf = served_certificate(ts.addr);
    assert_eq!(verify(&ca, &leaf, t), X509VerifyResult::OK);
    let (nb, na) = (unix(leaf.not_before()), unix(leaf.not_after()));
    assert!(nb <= t && t < na);
    assert!(
        (na - t - 30 * DAY).abs() < 120,
        "valid until {} days from now",
        (na - t) / DAY
    );
    // Clients get on with it.
    let resp = ts
        .http(&[])
        .get(format!("{}/metadata/endpoints", ts.authority()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// X509_V_ERR_PERMITTED_VIOLATION.
fn openssl_sys_permitted_violation() -> i32 {
    47
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_certificate_is_renewed_before_it_expires_without_a_restart() {
    let clock = Arc::new(ManualClock::starting_now());
    let c = clock.clone();
    let ts = TestServer::start_with(move |cfg| cfg.tls.clock = Some(c), None).await;
    let (ca, _) = data_ca(&ts);
    let first = served_certificate(ts.addr);
    let first_serial = serial_of(&first);
    let issued = unix(first.not_before()) + 3600;

    // Nineteen days on, eleven left: kept.
    clock.advance(19 * DAY);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(serial_of(&served_certificate(ts.addr)), first_serial);

    // Twenty-one days on, nine left (under a third): a new one, without a restart.
    clock.advance(2 * DAY);
    let t0 = Instant::now();
    let renewed = loop {
        let c = served_certificate(ts.addr);
        if serial_of(&c) != first_serial {
            break c;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "not renewed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let at = issued + 21 * DAY;
    assert_eq!(unix(renewed.not_before()), at - 3600);
    assert_eq!(unix(renewed.not_after()), at + 30 * DAY);
    assert_eq!(verify(&ca, &renewed, at), X509VerifyResult::OK);
    let pem = std::fs::read(ts.data_dir().join("tls/server.pem")).unwrap();
    assert_eq!(
        serial_of(&X509::from_pem(&pem).unwrap()),
        serial_of(&renewed)
    );
}

/// Writes an unconstrained CA, as earlier versions made, into `data_dir/tls`.
fn write_old_ca(data_dir: &Path) -> Vec<u8> {
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let key = ec_key();
    // As earlier versions made it: EC P-256, ten years, pathlen 0, no name constraints.
    let ca = make_cert("Keyhaven local CA", &key, None, true, &[], &[]);
    let pem = ca.to_pem().unwrap();
    std::fs::write(dir.join("ca.pem"), &pem).unwrap();
    std::fs::write(
        dir.join("ca-key.pem"),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    // Earlier versions wrote the key readable by its owner only (the server refuses one others may read).
    std::fs::set_permissions(
        dir.join("ca-key.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    pem
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_from_before_name_constraints_keeps_serving_and_a_constrained_one_refuses_other_names()
{
    // An old, unconstrained CA is kept: its clients keep working.
    let mut old_pem = Vec::new();
    let ts = TestServer::start_with(|c| old_pem = write_old_ca(&c.data_dir), None).await;
    assert_eq!(ts.ca_pem(), old_pem, "the CA is kept");
    let resp = ts
        .http(&[])
        .get(format!("{}/metadata/endpoints", ts.authority()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ca = X509::from_pem(&old_pem).unwrap();
    assert_eq!(
        verify(&ca, &served_certificate(ts.addr), now()),
        X509VerifyResult::OK
    );

    // A new CA is constrained: naming a host outside it later stops the start with a clear error, and the CA
    // is not replaced behind the clients' backs.
    let mut ts = TestServer::start().await;
    ts.stop().await;
    let before = ts.ca_pem();
    let mut config = keyhaven_server::Config::with_data_dir(&ts.data_dir());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.tls_names = vec!["vault.example.org".into()];
    let err = match keyhaven_server::start(config, Arc::new(keyhaven_model::SystemClock)).await {
        Ok(_) => panic!("started with a name outside the CA's constraints"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("cannot vouch") && err.contains("vault.example.org"),
        "{err}"
    );
    assert!(err.contains("tls-cert"), "the remedies are named: {err}");
    assert_eq!(ts.ca_pem(), before);
}

/// A certificate chain and key for `localhost` from a CA of the test's own, written to `dir`.
struct Own {
    ca: X509,
    leaf: X509,
}

fn write_own(dir: &Path, ca: Option<(&X509, &PKey<Private>)>) -> Own {
    let (ca_cert, ca_key) = match ca {
        Some((c, k)) => (c.clone(), k.clone()),
        None => {
            let k = ec_key();
            (make_cert("Operator CA", &k, None, true, &[], &[]), k)
        }
    };
    let key = ec_key();
    let leaf = make_cert(
        "localhost",
        &key,
        Some((&ca_cert, &ca_key)),
        false,
        &["localhost"],
        &["127.0.0.1"],
    );
    // Written as an operator's tooling would: each file replaced by a rename.
    for (name, bytes) in [
        ("server.pem", leaf.to_pem().unwrap()),
        ("server-key.pem", key.private_key_to_pem_pkcs8().unwrap()),
    ] {
        std::fs::write(dir.join(format!("{name}.new")), bytes).unwrap();
        std::fs::rename(dir.join(format!("{name}.new")), dir.join(name)).unwrap();
    }
    std::fs::write(
        dir.join("ca-key.pem"),
        ca_key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    Own { ca: ca_cert, leaf }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operators_certificate_is_served_and_reloaded_when_its_files_change() {
    let files = tempfile::tempdir().unwrap();
    let first = write_own(files.path(), None);
    let (cert, key) = (
        files.path().join("server.pem"),
        files.path().join("server-key.pem"),
    );
    let (c2, k2) = (cert.clone(), key.clone());
    let ts = TestServer::start_with(
        move |c| {
            c.tls.cert = Some(c2);
            c.tls.key = Some(k2);
        },
        None,
    )
    .await;
    assert!(
        !ts.ca_file().exists(),
        "no local CA is made when the operator brings a certificate"
    );
    assert_eq!(
        serial_of(&served_certificate(ts.addr)),
        serial_of(&first.leaf)
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&first.ca.to_pem().unwrap()).unwrap())
        .resolve("localhost", ts.addr)
        .build()
        .unwrap();
    let url = format!("{}/metadata/endpoints", ts.authority());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);

    // Replaced (a renewal by the operator's tooling): served within seconds, no restart.
    let ca_key =
        PKey::private_key_from_pem(&std::fs::read(files.path().join("ca-key.pem")).unwrap())
            .unwrap();
    let second = write_own(files.path(), Some((&first.ca, &ca_key)));
    let t0 = Instant::now();
    while serial_of(&served_certificate(ts.addr)) != serial_of(&second.leaf) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);

    // A certificate whose key is not (yet) there is not loaded: the previous pair stays in service.
    let other = ec_key();
    let third = make_cert(
        "localhost",
        &other,
        Some((&first.ca, &ca_key)),
        false,
        &["localhost"],
        &[],
    );
    std::fs::write(&cert, third.to_pem().unwrap()).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        serial_of(&served_certificate(ts.addr)),
        serial_of(&second.leaf)
    );
    // Its key arrives: now it is served.
    std::fs::write(&key, other.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let t0 = Instant::now();
    while serial_of(&served_certificate(ts.addr)) != serial_of(&third) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the completed pair was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operators_certificate_that_does_not_parse_or_match_stops_the_start() {
    let files = tempfile::tempdir().unwrap();
    write_own(files.path(), None);
    let (cert, key) = (
        files.path().join("server.pem"),
        files.path().join("server-key.pem"),
    );
    let wrong_key = files.path().join("wrong-key.pem");
    std::fs::write(&wrong_key, ec_key().private_key_to_pem_pkcs8().unwrap()).unwrap();
    let garbage = files.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = files.path().join("missing.pem");
    for (c, k, expect) in [
        (&cert, &wrong_key, "is not the key of the certificate"),
        (&garbage, &key, "no certificate"),
        (&cert, &garbage, "not an unencrypted PEM private key"),
        (&missing, &key, "reading"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = keyhaven_server::Config::with_data_dir(&dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.tls.cert = Some(c.clone());
        config.tls.key = Some(k.clone());
        match keyhaven_server::start(config, Arc::new(keyhaven_model::SystemClock)).await {
            Ok(_) => panic!("started with {} and {}", c.display(), k.display()),
            Err(e) => assert!(e.to_string().contains(expect), "{e}"),
        }
    }
}
