//! What api-versions 7.6 and 2025-07-01 add, through the official SDK crates (which speak the newest version):
//! IP-address and URI subject alternative names, key attestation (refused: keys are held in software), and which
//! api-versions are served.

use crate::bad_input::Raw;
use crate::sdk::{certificate_client, key_client, status};
use azure_security_keyvault_certificates::models::{
    CertificatePolicy, CreateCertificateParameters, IssuerParameters, SubjectAlternativeNames,
    X509CertificateProperties,
};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, KeyClientGetKeyAttestationOptions, KeyType,
};
use base64::Engine;
use keyhaven_testkit::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::process::Command;

fn policy_with_sans(ips: &[&str], uris: &[&str]) -> CertificatePolicy {
    let mut sans = SubjectAlternativeNames::default();
    sans.dns_names = Some(vec!["svc.contoso.test".into()]);
    sans.ip_addresses = Some(ips.iter().map(|s| s.to_string()).collect());
    sans.uris = Some(uris.iter().map(|s| s.to_string()).collect());
    let mut x = X509CertificateProperties::default();
    x.subject = Some("CN=svc.contoso.test".into());
    x.subject_alternative_names = Some(sans);
    let mut i = IssuerParameters::default();
    i.name = Some("Self".into());
    let mut p = CertificatePolicy::default();
    p.x509_certificate_properties = Some(x);
    p.issuer_parameters = Some(i);
    p
}

#[tokio::test]
async fn certificates_carry_ip_address_and_uri_alternative_names() {
    let ts = TestServer::start().await;
    let c = certificate_client(&ts, "default");
    let mut params = CreateCertificateParameters::default();
    params.certificate_policy = Some(policy_with_sans(
        &["192.0.2.7", "2001:db8::7"],
        &["spiffe://contoso.test/svc", "urn:example:svc"],
    ));
    let cert = c
        .begin_create_certificate("ipcert", params.try_into().unwrap(), None)
        .unwrap()
        .await
        .unwrap()
        .into_model()
        .unwrap();

    // The issued certificate says so, as OpenSSL reads it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.der"), cert.cer.unwrap()).unwrap();
    let out = Command::new("openssl")
        .args([
            "x509",
            "-inform",
            "DER",
            "-in",
            "c.der",
            "-noout",
            "-ext",
            "subjectAltName",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "DNS:svc.contoso.test",
        "IP Address:192.0.2.7",
        "IP Address:2001:DB8:0:0:0:0:0:7",
        "URI:spiffe://contoso.test/svc",
        "URI:urn:example:svc",
    ] {
        assert!(text.contains(needle), "missing {needle} in {text}");
    }

    // The answered policy keeps them.
    let p = c
        .get_certificate_policy("ipcert", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let sans = p
        .x509_certificate_properties
        .unwrap()
        .subject_alternative_names
        .unwrap();
    assert_eq!(
        sans.ip_addresses.unwrap(),
        vec!["192.0.2.7".to_string(), "2001:db8::7".to_string()]
    );
    assert_eq!(
        sans.uris.unwrap(),
        vec![
            "spiffe://contoso.test/svc".to_string(),
            "urn:example:svc".to_string()
        ]
    );

    // A certificate imported with such names gets a policy that lists them.
    let raw = Raw::new(&ts).await;
    let key = dir.path().join("k.pem");
    let crt = dir.path().join("c.pem");
    let status_ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=imported",
        ])
        .args([
            "-addext",
            "subjectAltName=IP:198.51.100.9,URI:https://imported.test/x",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .unwrap();
    assert!(
        status_ok.status.success(),
        "{}",
        String::from_utf8_lossy(&status_ok.stderr)
    );
    let pem = format!(
        "{}{}",
        std::fs::read_to_string(&key).unwrap(),
        std::fs::read_to_string(&crt).unwrap()
    );
    let (s, v) = raw
        .call(
            Method::POST,
            "/certificates/imported/import?api-version=2025-07-01",
            Some(serde_json::to_vec(&json!({ "value": pem })).unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["policy"]["x509_props"]["sans"]["ipAddresses"],
        json!(["198.51.100.9"]),
        "{v}"
    );
    assert_eq!(
        v["policy"]["x509_props"]["sans"]["uris"],
        json!(["https://imported.test/x"]),
        "{v}"
    );

    // Names that are not addresses or URIs are refused, and nothing is made.
    for (ips, uris) in [(vec!["192.0.2.999"], vec![]), (vec![], vec!["not a uri"])] {
        let mut params = CreateCertificateParameters::default();
        params.certificate_policy = Some(policy_with_sans(&ips, &uris));
        let e = c
            .begin_create_certificate("badsans", params.try_into().unwrap(), None)
            .unwrap()
            .await
            .expect_err("refused");
        assert_eq!(status(&e), 400, "{e}");
        let (s, _) = raw
            .call(Method::GET, "/certificates/badsans?api-version=7.6", None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn key_attestation_is_refused_for_keys_held_in_software() {
    let ts = TestServer::start().await;
    let c = key_client(&ts, "default");
    for (name, kty) in [("soft", KeyType::Rsa), ("hsm", KeyType::RsaHsm)] {
        let mut p = CreateKeyParameters::default();
        p.kty = Some(kty);
        let k = c
            .create_key(name, p.try_into().unwrap(), None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        let version = k
            .key
            .unwrap()
            .kid
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        for v in [None, Some(version)] {
            let mut o = KeyClientGetKeyAttestationOptions::default();
            o.key_version = v.clone();
            let e = c
                .get_key_attestation(name, Some(o))
                .await
                .expect_err("no attestation is given");
            assert_eq!(status(&e), 400, "{name} {v:?}: {e}");
            assert!(e.to_string().contains("attestation"), "{e}");
        }
    }
    // A missing key is a 404, as for a get.
    let e = c.get_key_attestation("absent", None).await.err().unwrap();
    assert_eq!(status(&e), 404, "{e}");
}

#[tokio::test]
async fn api_versions_from_seven_on_are_served_older_and_malformed_ones_refused() {
    let ts = TestServer::start().await;
    let raw = Raw::new(&ts).await;
    for v in [
        "7.0",
        "7.5",
        "7.6",
        "7.6-preview.2",
        "2025-07-01",
        "2026-03-01-preview",
        "2016-10-01",
        "2015-06-01",
    ] {
        let (s, body) = raw
            .call(Method::GET, &format!("/secrets?api-version={v}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}: {body}");
    }
    for v in ["2016-09-01", "2024-12-31", "6.0", "abc", "7.5-beta"] {
        let (s, body) = raw
            .put_json(
                &format!("/secrets/old?api-version={v}"),
                json!({ "value": "x" }),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}: {body}");
        assert_eq!(body["error"]["code"], "BadParameter", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("api-version"),
            "{body}"
        );
    }
    let (s, _) = raw
        .call(Method::GET, "/secrets/old?api-version=7.5", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a refused request wrote nothing");
}

/// A certificate signed by `issuer` (self-signed when None), as a CA when `ca`.
fn issue(
    cn: &str,
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    issuer: Option<(
        &openssl::x509::X509,
        &openssl::pkey::PKey<openssl::pkey::Private>,
    )>,
    ca: bool,
) -> openssl::x509::X509 {
    let mut name = openssl::x509::X509Name::builder().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = openssl::bn::BigNum::from_u32(cn.len() as u32 * 7919)
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    if ca {
        b.append_extension(
            openssl::x509::extension::BasicConstraints::new()
                .critical()
                .ca()
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    let (issuer_name, signer) = match issuer {
        Some((cert, key)) => (cert.subject_name().to_owned().unwrap(), key),
        None => (name.to_owned().unwrap(), key),
    };
    b.set_issuer_name(&issuer_name).unwrap();
    b.sign(signer, openssl::hash::MessageDigest::sha256())
        .unwrap();
    b.build()
}

fn new_key() -> openssl::pkey::PKey<openssl::pkey::Private> {
    openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap()
}

/// The common names of the certificates in PEM text, in order.
fn pem_order(text: &str) -> Vec<String> {
    openssl::x509::X509::stack_from_pem(text.as_bytes())
        .unwrap()
        .iter()
        .map(|c| {
            c.subject_name()
                .entries()
                .next()
                .unwrap()
                .data()
                .to_string()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn preserve_cert_order_keeps_an_imported_or_merged_chain_as_given() {
    use azure_security_keyvault_certificates::models::{
        ImportCertificateParameters, SecretProperties,
    };
    let ts = TestServer::start().await;
    let c = certificate_client(&ts, "default");
    let secrets = crate::sdk::secret_client(&ts, "default");
    let (root_key, mid_key, leaf_key) = (new_key(), new_key(), new_key());
    let root = issue("root", &root_key, None, true);
    let mid = issue("intermediate", &mid_key, Some((&root, &root_key)), true);
    let leaf = issue("leaf", &leaf_key, Some((&mid, &mid_key)), false);
    let pem = |certs: &[&openssl::x509::X509]| {
        let mut text = String::from_utf8(leaf_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        for cert in certs {
            text.push_str(std::str::from_utf8(&cert.to_pem().unwrap()).unwrap());
        }
        text
    };
    // The file lists the root first, then the leaf, then the intermediate.
    let given = pem(&[&root, &leaf, &mid]);
    for (name, keep, want) in [
        ("kept", Some(true), vec!["root", "leaf", "intermediate"]),
        ("sorted", None, vec!["leaf", "intermediate", "root"]),
        (
            "sorted-too",
            Some(false),
            vec!["leaf", "intermediate", "root"],
        ),
    ] {
        let mut sp = SecretProperties::default();
        sp.content_type = Some("application/x-pem-file".into());
        let mut policy = CertificatePolicy::default();
        policy.secret_properties = Some(sp);
        let mut p = ImportCertificateParameters::default();
        p.base64_encoded_certificate = Some(given.clone());
        p.certificate_policy = Some(policy);
        p.preserve_cert_order = keep;
        let cert = c
            .import_certificate(name, p.try_into().unwrap(), None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(cert.preserve_cert_order, keep, "{name}");
        let got = c
            .get_certificate(name, None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(got.preserve_cert_order, keep, "{name}");
        let secret = secrets
            .get_secret(name, None)
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(pem_order(&secret.value.unwrap()), want, "{name}");
    }

    // A merge keeps the order of x5c when the create asked for it.
    let raw = Raw::new(&ts).await;
    let (s, v) = raw
        .call(
            Method::POST,
            "/certificates/merged/create?api-version=7.6",
            Some(
                serde_json::to_vec(&json!({
                    "policy": {
                        "x509_props": { "subject": "CN=merged" },
                        "issuer": { "name": "Unknown" },
                        "secret_props": { "contentType": "application/x-pem-file" }
                    },
                    "preserveCertOrder": true
                }))
                .unwrap(),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["preserveCertOrder"], true, "{v}");
    let (_, op) = raw
        .call(
            Method::GET,
            "/certificates/merged/pending?api-version=7.6",
            None,
        )
        .await;
    assert_eq!(op["preserveCertOrder"], true, "{op}");
    let csr = openssl::x509::X509Req::from_der(
        &base64::engine::general_purpose::STANDARD
            .decode(op["csr"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut b = openssl::x509::X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(
        &openssl::bn::BigNum::from_u32(77)
            .unwrap()
            .to_asn1_integer()
            .unwrap(),
    )
    .unwrap();
    b.set_subject_name(csr.subject_name()).unwrap();
    b.set_issuer_name(mid.subject_name()).unwrap();
    b.set_pubkey(&csr.public_key().unwrap()).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&mid_key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let signed = b.build();
    let b64 = |c: &openssl::x509::X509| {
        base64::engine::general_purpose::STANDARD.encode(c.to_der().unwrap())
    };
    let (s, v) = raw
        .call(
            Method::POST,
            "/certificates/merged/pending/merge?api-version=7.6",
            Some(serde_json::to_vec(&json!({ "x5c": [b64(&mid), b64(&signed)] })).unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["preserveCertOrder"], true, "{v}");
    let secret = secrets
        .get_secret("merged", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        pem_order(&secret.value.unwrap()),
        ["intermediate", "merged"]
    );

    // It is chosen on create or import; an update that names it is refused.
    let (s, v) = raw
        .call(
            Method::PATCH,
            "/certificates/merged?api-version=7.6",
            Some(serde_json::to_vec(&json!({ "preserveCertOrder": false })).unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn a_certificates_pkcs12_secret_can_be_read_as_pem() {
    use azure_security_keyvault_secrets::models::{
        ContentType, SecretClientGetSecretOptions, SetSecretParameters,
    };
    let ts = TestServer::start().await;
    let c = certificate_client(&ts, "default");
    let secrets = crate::sdk::secret_client(&ts, "default");
    let mut params = CreateCertificateParameters::default();
    params.certificate_policy = Some(policy_with_sans(&[], &[]));
    let cert = c
        .begin_create_certificate("pfx", params.try_into().unwrap(), None)
        .unwrap()
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let version = cert.id.unwrap().rsplit('/').next().unwrap().to_string();
    let get = |format: Option<ContentType>, version: Option<String>| {
        let secrets = &secrets;
        async move {
            let mut o = SecretClientGetSecretOptions::default();
            o.out_content_type = format;
            o.secret_version = version;
            secrets.get_secret("pfx", Some(o)).await
        }
    };

    // As stored: PKCS#12, base64.
    let stored = get(None, None).await.unwrap().into_model().unwrap();
    assert_eq!(stored.content_type.as_deref(), Some("application/x-pkcs12"));
    // Asked as PEM: the key and the certificate, the same key as the PKCS#12 holds.
    for v in [None, Some(version)] {
        let pem = get(Some(ContentType::Pem), v.clone())
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(
            pem.content_type.as_deref(),
            Some("application/x-pem-file"),
            "{v:?}"
        );
        let text = pem.value.unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{v:?}");
        let key = openssl::pkey::PKey::private_key_from_pem(text.as_bytes()).unwrap();
        let leaf = openssl::x509::X509::from_pem(
            &text.as_bytes()[text.find("-----BEGIN CERTIFICATE-----").unwrap()..],
        )
        .unwrap();
        assert!(leaf.public_key().unwrap().public_eq(&key));
        let pfx = openssl::pkcs12::Pkcs12::from_der(
            &base64::engine::general_purpose::STANDARD
                .decode(stored.value.as_deref().unwrap())
                .unwrap(),
        )
        .unwrap()
        .parse2("")
        .unwrap();
        assert!(pfx.pkey.unwrap().public_eq(&key));
    }
    // Asked as what it is: unchanged.
    let same = get(Some(ContentType::Pfx), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(same.value, stored.value);

    // A plain secret has nothing to convert; an unknown form is refused.
    let mut p = SetSecretParameters::default();
    p.value = Some("plain".into());
    secrets
        .set_secret("plain", p.try_into().unwrap(), None)
        .await
        .unwrap();
    let mut o = SecretClientGetSecretOptions::default();
    o.out_content_type = Some(ContentType::Pem);
    let e = secrets.get_secret("plain", Some(o)).await.err().unwrap();
    assert_eq!(status(&e), 400, "{e}");
    let raw = Raw::new(&ts).await;
    let (s, v) = raw
        .call(
            Method::GET,
            "/secrets/pfx?api-version=2025-07-01&outContentType=text/plain",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn oct_keys_wrap_with_the_ckm_algorithms() {
    let ts = TestServer::start().await;
    let raw = Raw::new(&ts).await;
    let (s, v) = raw
        .call(
            Method::POST,
            "/keys/aes/create?api-version=7.6",
            Some(serde_json::to_vec(&json!({ "kty": "oct", "key_size": 256 })).unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    for (alg, len, wrapped_len) in [
        ("CKM_AES_KEY_WRAP", 32, 40),
        ("CKM_AES_KEY_WRAP_PAD", 20, 32),
    ] {
        let cek: Vec<u8> = (0..len).map(|i| i as u8 * 3).collect();
        let (s, w) = raw
            .call(
                Method::POST,
                "/keys/aes/wrapkey?api-version=7.6",
                Some(serde_json::to_vec(&json!({ "alg": alg, "value": b64(&cek) })).unwrap()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{alg}: {w}");
        let wrapped = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(w["value"].as_str().unwrap())
            .unwrap();
        assert_eq!(wrapped.len(), wrapped_len, "{alg}");
        let (s, u) = raw
            .call(
                Method::POST,
                "/keys/aes/unwrapkey?api-version=7.6",
                Some(serde_json::to_vec(&json!({ "alg": alg, "value": w["value"] })).unwrap()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{alg}: {u}");
        assert_eq!(u["value"], b64(&cek), "{alg}");
    }
}

#[tokio::test]
async fn a_certificates_secret_names_the_previous_version() {
    use azure_security_keyvault_secrets::models::{
        SecretClientGetSecretOptions, SetSecretParameters,
    };
    let ts = TestServer::start().await;
    let c = certificate_client(&ts, "default");
    let secrets = crate::sdk::secret_client(&ts, "default");
    let mut versions = Vec::new();
    for _ in 0..3 {
        let mut params = CreateCertificateParameters::default();
        params.certificate_policy = Some(policy_with_sans(&[], &[]));
        let cert = c
            .begin_create_certificate("rolling", params.try_into().unwrap(), None)
            .unwrap()
            .await
            .unwrap()
            .into_model()
            .unwrap();
        versions.push(cert.id.unwrap().rsplit('/').next().unwrap().to_string());
        // Creation times count in seconds (within one second, versions are ordered by id): a second apart.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let previous = |v: Option<String>| {
        let secrets = &secrets;
        async move {
            let mut o = SecretClientGetSecretOptions::default();
            o.secret_version = v;
            secrets
                .get_secret("rolling", Some(o))
                .await
                .unwrap()
                .into_model()
                .unwrap()
                .previous_version
        }
    };
    assert_eq!(previous(None).await.as_deref(), Some(versions[1].as_str()));
    assert_eq!(
        previous(Some(versions[1].clone())).await.as_deref(),
        Some(versions[0].as_str())
    );
    assert_eq!(previous(Some(versions[0].clone())).await, None);

    // Secrets of one's own have none.
    for _ in 0..2 {
        let mut p = SetSecretParameters::default();
        p.value = Some("v".into());
        secrets
            .set_secret("own", p.try_into().unwrap(), None)
            .await
            .unwrap();
    }
    let own = secrets
        .get_secret("own", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(own.previous_version, None);
}
