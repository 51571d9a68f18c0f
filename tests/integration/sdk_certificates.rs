//! Certificates through the official `azure_security_keyvault_certificates` client — create (self-signed and via a
//! signing request merged later), import (PKCS#12 with a password and a chain, PEM), policy, contacts, issuers,
//! backup/restore — with the OpenSSL command line checking what Keyhaven issues, and the managed key and secret
//! behaving as in Azure.

use crate::sdk::{certificate_client, key_client, secret_client, status};
use azure_security_keyvault_certificates::models::{
    CertificatePolicy, Contact, Contacts, CreateCertificateParameters, ImportCertificateParameters,
    IssuerParameters, KeyProperties, KeyType, KeyUsageType, MergeCertificateParameters,
    RestoreCertificateParameters, SecretProperties, SetIssuerParameters, SubjectAlternativeNames,
    UpdateCertificateOperationParameter, X509CertificateProperties,
};
use azure_security_keyvault_certificates::CertificateClient;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use keyhaven_testkit::TestServer;
use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn policy(issuer: &str, subject: &str) -> CertificatePolicy {
    let mut sans = SubjectAlternativeNames::default();
    sans.dns_names = Some(vec!["app.contoso.test".into(), "www.contoso.test".into()]);
    sans.emails = Some(vec!["ops@contoso.test".into()]);
    let mut x = X509CertificateProperties::default();
    x.subject = Some(subject.into());
    x.subject_alternative_names = Some(sans);
    x.key_usage = Some(vec![
        KeyUsageType::DigitalSignature,
        KeyUsageType::KeyEncipherment,
    ]);
    x.enhanced_key_usage = Some(vec!["1.3.6.1.5.5.7.3.1".into()]);
    x.validity_in_months = Some(6);
    let mut i = IssuerParameters::default();
    i.name = Some(issuer.into());
    let mut p = CertificatePolicy::default();
    p.x509_certificate_properties = Some(x);
    p.issuer_parameters = Some(i);
    p
}

fn create_params(p: CertificatePolicy) -> CreateCertificateParameters {
    let mut c = CreateCertificateParameters::default();
    c.certificate_policy = Some(p);
    c
}

async fn self_signed(c: &CertificateClient, name: &str, p: CertificatePolicy) -> Vec<u8> {
    let cert = c
        .begin_create_certificate(name, create_params(p).try_into().unwrap(), None)
        .unwrap()
        .await
        .unwrap()
        .into_model()
        .unwrap();
    cert.cer.expect("cer")
}

#[tokio::test]
async fn self_signed_certificates_are_what_the_policy_says() {
    self_signed_certificates(&TestServer::start().await).await;
}

/// The flow of [`self_signed_certificates_are_what_the_policy_says`] on the server `ts` (run on PostgreSQL too: `postgres_sdk`).
pub async fn self_signed_certificates(ts: &TestServer) {
    let c = certificate_client(ts, "default");
    let dir = tempfile::tempdir().unwrap();
    let cer = self_signed(
        &c,
        "web",
        policy("Self", "CN=app.contoso.test, O=Contoso, C=US"),
    )
    .await;
    std::fs::write(dir.path().join("web.der"), &cer).unwrap();
    let text = openssl(
        &[
            "x509", "-inform", "DER", "-in", "web.der", "-noout", "-text",
        ],
        dir.path(),
    );
    assert!(text.contains("CN = app.contoso.test"), "{text}");
    assert!(text.contains("O = Contoso"), "{text}");
    assert!(text.contains("DNS:app.contoso.test"), "{text}");
    assert!(text.contains("DNS:www.contoso.test"), "{text}");
    assert!(text.contains("email:ops@contoso.test"), "{text}");
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(!text.contains("TLS Web Client Authentication"), "{text}");
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    // Valid now, for about six months, and no longer.
    openssl(
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "web.der",
            "-noout",
            "-checkend",
            "0",
        ],
        dir.path(),
    );
    let expiry = Command::new("openssl")
        .args([
            "x509",
            "-inform",
            "DER",
            "-in",
            "web.der",
            "-noout",
            "-checkend",
        ])
        .arg((200 * 86_400).to_string())
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(!expiry.success(), "valid for more than 200 days");
    // The signature is the certificate's own key's.
    openssl(
        &[
            "x509", "-inform", "DER", "-in", "web.der", "-out", "web.pem",
        ],
        dir.path(),
    );
    let verified = openssl(
        &["verify", "-CAfile", "web.pem", "-partial_chain", "web.pem"],
        dir.path(),
    );
    assert!(verified.contains("OK"), "{verified}");

    // The certificate as the SDK reads it back, with its policy.
    let got = c
        .get_certificate("web", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.cer.as_deref(), Some(&cer[..]));
    let kid = got.kid.clone().unwrap();
    let sid = got.sid.clone().unwrap();
    assert!(kid.contains("/keys/web/"), "{kid}");
    assert!(sid.contains("/secrets/web/"), "{sid}");
    let p = got.policy.unwrap();
    assert_eq!(
        p.x509_certificate_properties.unwrap().subject.as_deref(),
        Some("CN=app.contoso.test, O=Contoso, C=US")
    );
    assert_eq!(
        p.secret_properties.unwrap().content_type.as_deref(),
        Some("application/x-pkcs12")
    );

    // The managed secret holds a PKCS#12 with the key and this certificate; the managed key is the same key.
    let sc = secret_client(ts, "default");
    let secret = sc
        .get_secret("web", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(secret.content_type.as_deref(), Some("application/x-pkcs12"));
    assert_eq!(secret.managed, Some(true));
    assert_eq!(secret.kid.as_deref(), Some(kid.as_str()));
    let pfx = STANDARD.decode(secret.value.unwrap()).unwrap();
    std::fs::write(dir.path().join("web.pfx"), &pfx).unwrap();
    let pem = openssl(
        &["pkcs12", "-in", "web.pfx", "-passin", "pass:", "-nodes"],
        dir.path(),
    );
    assert!(
        pem.contains("PRIVATE KEY"),
        "the secret holds the private key"
    );
    std::fs::write(dir.path().join("from-secret.pem"), &pem).unwrap();
    let cert_modulus = openssl(
        &["x509", "-in", "web.pem", "-noout", "-modulus"],
        dir.path(),
    );
    let key_modulus = openssl(
        &["rsa", "-in", "from-secret.pem", "-noout", "-modulus"],
        dir.path(),
    );
    assert_eq!(cert_modulus, key_modulus);
    let kc = key_client(ts, "default");
    let key = kc.get_key("web", None).await.unwrap().into_model().unwrap();
    assert_eq!(key.managed, Some(true));
    let n = key.key.unwrap().n.unwrap();
    let hex: String = n.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(cert_modulus.trim(), format!("Modulus={hex}"));

    // Managed objects refuse direct changes, as in Azure.
    let mut set = azure_security_keyvault_secrets::models::SetSecretParameters::default();
    set.value = Some("overwrite".into());
    let e = sc
        .set_secret("web", set.try_into().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);
    assert_eq!(
        status(&sc.delete_secret("web", None).await.unwrap_err()),
        403
    );
    assert_eq!(status(&kc.delete_key("web", None).await.unwrap_err()), 403);

    // Deleting the certificate covers its key and secret; recovering brings all three back.
    c.delete_certificate("web", None).await.unwrap();
    assert_eq!(status(&sc.get_secret("web", None).await.unwrap_err()), 404);
    assert_eq!(status(&kc.get_key("web", None).await.unwrap_err()), 404);
    let deleted = c
        .get_deleted_certificate("web", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert!(deleted
        .recovery_id
        .unwrap()
        .contains("/deletedcertificates/web"));
    c.recover_deleted_certificate("web", None).await.unwrap();
    assert!(sc.get_secret("web", None).await.is_ok());
    assert!(kc.get_key("web", None).await.is_ok());

    // An EC certificate, PEM secret, new version; versions list both.
    let mut p = policy("Self", "CN=ec.contoso.test");
    let mut kp = KeyProperties::default();
    kp.key_type = Some(KeyType::Ec);
    kp.curve = Some(azure_security_keyvault_certificates::models::CurveName::P384);
    p.key_properties = Some(kp);
    let mut sp = SecretProperties::default();
    sp.content_type = Some("application/x-pem-file".into());
    p.secret_properties = Some(sp);
    if let Some(x) = p.x509_certificate_properties.as_mut() {
        x.key_usage = Some(vec![KeyUsageType::DigitalSignature]);
    }
    let ec1 = self_signed(&c, "ec", p.clone()).await;
    let ec2 = self_signed(&c, "ec", p).await;
    assert_ne!(ec1, ec2);
    std::fs::write(dir.path().join("ec.der"), &ec2).unwrap();
    let text = openssl(
        &["x509", "-inform", "DER", "-in", "ec.der", "-noout", "-text"],
        dir.path(),
    );
    assert!(text.contains("NIST CURVE: P-384"), "{text}");
    assert!(text.contains("ecdsa-with-SHA384"), "{text}");
    let versions: Vec<_> = c
        .list_certificate_properties_versions("ec", None)
        .unwrap()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    let secret = sc
        .get_secret("ec", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        secret.content_type.as_deref(),
        Some("application/x-pem-file")
    );
    let pem = secret.value.unwrap();
    assert!(
        pem.contains("-----BEGIN PRIVATE KEY-----"),
        "PEM with the key"
    );
    assert!(pem.contains("-----BEGIN CERTIFICATE-----"));

    // Policy: get and update.
    let mut patch = CertificatePolicy::default();
    let mut x = X509CertificateProperties::default();
    x.validity_in_months = Some(24);
    patch.x509_certificate_properties = Some(x);
    let updated = c
        .update_certificate_policy("ec", patch.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let x = updated.x509_certificate_properties.unwrap();
    assert_eq!(x.validity_in_months, Some(24));
    assert_eq!(x.subject.as_deref(), Some("CN=ec.contoso.test"));
    let again = c
        .get_certificate_policy("ec", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        again
            .x509_certificate_properties
            .unwrap()
            .validity_in_months,
        Some(24)
    );
}

#[tokio::test]
async fn a_signing_request_signed_elsewhere_is_merged() {
    let ts = TestServer::start().await;
    let c = certificate_client(&ts, "default");
    let dir = tempfile::tempdir().unwrap();
    let mut poller = c
        .begin_create_certificate(
            "ext",
            create_params(policy("Unknown", "CN=ext.contoso.test"))
                .try_into()
                .unwrap(),
            None,
        )
        .unwrap();
    let first = poller.next().await.unwrap().unwrap().into_model().unwrap();
    assert_eq!(first.status.as_deref(), Some("inProgress"));
    drop(poller);
    let op = c
        .get_certificate_operation("ext", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(op.status.as_deref(), Some("inProgress"));
    std::fs::write(dir.path().join("ext.csr.der"), op.csr.unwrap()).unwrap();
    openssl(
        &[
            "req",
            "-inform",
            "DER",
            "-in",
            "ext.csr.der",
            "-out",
            "ext.csr",
            "-verify",
        ],
        dir.path(),
    );
    let req_text = openssl(&["req", "-in", "ext.csr", "-noout", "-text"], dir.path());
    assert!(req_text.contains("CN = ext.contoso.test"), "{req_text}");
    assert!(req_text.contains("DNS:app.contoso.test"), "{req_text}");
    // Meanwhile the certificate shows its pending version, disabled and without a certificate (as Azure's).
    let pending = c
        .get_certificate("ext", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert!(pending.cer.is_none());
    assert_eq!(pending.attributes.unwrap().enabled, Some(false));
    assert!(pending.policy.is_some());

    // A test CA signs the request; another key's certificate is refused first, leaving the operation as it was.
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
            "/CN=Test CA",
            "-days",
            "30",
        ],
        dir.path(),
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
            "30",
            "-copy_extensions",
            "copy",
            "-out",
            "ext.pem",
        ],
        dir.path(),
    );
    let der = |f: &str| {
        openssl(
            &[
                "x509",
                "-in",
                f,
                "-outform",
                "DER",
                "-out",
                &format!("{f}.der"),
            ],
            dir.path(),
        );
        std::fs::read(dir.path().join(format!("{f}.der"))).unwrap()
    };
    let (leaf, ca) = (der("ext.pem"), der("ca.pem"));
    let merge = |x5c: Vec<Vec<u8>>| {
        let mut m = MergeCertificateParameters::default();
        m.x509_certificates = Some(x5c);
        m
    };
    let e = c
        .merge_certificate("ext", merge(vec![ca.clone()]).try_into().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    let op = c
        .get_certificate_operation("ext", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(op.status.as_deref(), Some("inProgress"));

    let merged = c
        .merge_certificate(
            "ext",
            merge(vec![leaf.clone(), ca.clone()]).try_into().unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(merged.cer.as_deref(), Some(&leaf[..]));
    assert_eq!(merged.attributes.unwrap().enabled, Some(true));
    assert_eq!(
        merged.id, pending.id,
        "the merge completes the pending version"
    );
    let op = c
        .get_certificate_operation("ext", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(op.status.as_deref(), Some("completed"));
    assert!(op.target.unwrap().ends_with("/certificates/ext"));
    // The secret carries the chain: leaf and CA.
    let secret = secret_client(&ts, "default")
        .get_secret("ext", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    std::fs::write(
        dir.path().join("ext.pfx"),
        STANDARD.decode(secret.value.unwrap()).unwrap(),
    )
    .unwrap();
    let pem = openssl(
        &["pkcs12", "-in", "ext.pfx", "-passin", "pass:", "-nodes"],
        dir.path(),
    );
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");
    assert!(
        pem.contains("subject=CN = Test CA") || pem.contains("subject=CN=Test CA"),
        "{pem}"
    );

    // Cancel and delete an operation.
    c.begin_create_certificate(
        "later",
        create_params(policy("Unknown", "CN=later"))
            .try_into()
            .unwrap(),
        None,
    )
    .unwrap()
    .next()
    .await
    .unwrap()
    .unwrap();
    let mut cancel = UpdateCertificateOperationParameter::default();
    cancel.cancellation_requested = Some(true);
    let op = c
        .update_certificate_operation("later", cancel.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(op.cancellation_requested, Some(true));
    assert_eq!(op.status.as_deref(), Some("cancelled"));
    let e = c
        .merge_certificate("later", merge(vec![leaf]).try_into().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    c.delete_certificate_operation("later", None).await.unwrap();
    assert_eq!(
        status(
            &c.get_certificate_operation("later", None)
                .await
                .unwrap_err()
        ),
        404
    );

    // An issuer that is configured but cannot be reached: the operation fails, saying why.
    let mut issuer = SetIssuerParameters::default();
    issuer.provider = Some("DigiCert".into());
    c.set_issuer("digi", issuer.try_into().unwrap(), None)
        .await
        .unwrap();
    // (Awaited, the SDK's poller reports the failure.)
    let poller = c
        .begin_create_certificate(
            "public",
            create_params(policy("digi", "CN=public"))
                .try_into()
                .unwrap(),
            None,
        )
        .unwrap();
    assert!(poller.await.is_err());
    let op = c
        .get_certificate_operation("public", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(op.status.as_deref(), Some("failed"));
    assert!(op.error.unwrap().message.unwrap().contains("DigiCert"));
    let e = c
        .begin_create_certificate(
            "nowhere",
            create_params(policy("not-configured", "CN=x"))
                .try_into()
                .unwrap(),
            None,
        )
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status(&e), 400);
}

fn import_params(value: String, password: Option<&str>, pem: bool) -> ImportCertificateParameters {
    let mut p = ImportCertificateParameters::default();
    p.base64_encoded_certificate = Some(value);
    p.password = password.map(str::to_string);
    if pem {
        let mut sp = SecretProperties::default();
        sp.content_type = Some("application/x-pem-file".into());
        let mut policy = CertificatePolicy::default();
        policy.secret_properties = Some(sp);
        p.certificate_policy = Some(policy);
    }
    p
}

#[tokio::test]
async fn imported_pkcs12_and_pem_come_back_with_their_key_and_chain() {
    let ts = TestServer::start().await;
    let c = certificate_client(&ts, "default");
    let sc = secret_client(&ts, "default");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
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
            "/CN=Import CA",
            "-days",
            "30",
        ],
        d,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=imported.contoso.test",
        ],
        d,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-out",
            "leaf.pem",
        ],
        d,
    );
    openssl(
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "leaf.key",
            "-in",
            "leaf.pem",
            "-certfile",
            "ca.pem",
            "-passout",
            "pass:s3cret",
            "-out",
            "leaf.pfx",
        ],
        d,
    );
    let pfx = STANDARD.encode(std::fs::read(d.join("leaf.pfx")).unwrap());

    // Wrong password, corrupt data: 400, nothing written.
    for (value, pwd) in [
        (pfx.clone(), Some("wrong")),
        (pfx.clone(), None),
        (STANDARD.encode(b"not a pkcs12 file at all"), Some("s3cret")),
        ("%%% not base64 %%%".to_string(), None),
    ] {
        let e = c
            .import_certificate(
                "imported",
                import_params(value, pwd, false).try_into().unwrap(),
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(status(&e), 400, "{e}");
    }
    assert_eq!(
        status(&c.get_certificate("imported", None).await.unwrap_err()),
        404
    );
    assert_eq!(
        status(&sc.get_secret("imported", None).await.unwrap_err()),
        404
    );

    let cert = c
        .import_certificate(
            "imported",
            import_params(pfx, Some("s3cret"), false)
                .try_into()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let p = cert.policy.unwrap();
    assert_eq!(
        p.x509_certificate_properties.unwrap().subject.as_deref(),
        Some("CN=imported.contoso.test")
    );
    assert_eq!(
        p.issuer_parameters.unwrap().name.as_deref(),
        Some("Unknown")
    );
    // The managed secret returns the same key and the chain (without a password, as Azure).
    let secret = sc
        .get_secret("imported", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    std::fs::write(
        d.join("out.pfx"),
        STANDARD.decode(secret.value.unwrap()).unwrap(),
    )
    .unwrap();
    let pem = openssl(
        &["pkcs12", "-in", "out.pfx", "-passin", "pass:", "-nodes"],
        d,
    );
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");
    std::fs::write(d.join("out.pem"), &pem).unwrap();
    assert_eq!(
        openssl(&["pkey", "-in", "out.pem", "-pubout"], d),
        openssl(&["pkey", "-in", "leaf.key", "-pubout"], d)
    );

    // PEM: key and chain in one text, returned as PEM.
    let text = format!(
        "{}{}{}",
        std::fs::read_to_string(d.join("leaf.key")).unwrap(),
        std::fs::read_to_string(d.join("leaf.pem")).unwrap(),
        std::fs::read_to_string(d.join("ca.pem")).unwrap()
    );
    c.import_certificate(
        "as-pem",
        import_params(text, None, true).try_into().unwrap(),
        None,
    )
    .await
    .unwrap();
    let secret = sc
        .get_secret("as-pem", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        secret.content_type.as_deref(),
        Some("application/x-pem-file")
    );
    let value = secret.value.unwrap();
    std::fs::write(d.join("as-pem.pem"), &value).unwrap();
    assert_eq!(value.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(
        openssl(&["pkey", "-in", "as-pem.pem", "-pubout"], d),
        openssl(&["pkey", "-in", "leaf.key", "-pubout"], d)
    );
    // A key that does not match the certificate: 400.
    openssl(&["genpkey", "-algorithm", "RSA", "-out", "other.key"], d);
    let text = format!(
        "{}{}",
        std::fs::read_to_string(d.join("other.key")).unwrap(),
        std::fs::read_to_string(d.join("leaf.pem")).unwrap()
    );
    let e = c
        .import_certificate(
            "mismatch",
            import_params(text, None, true).try_into().unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), 400);
    // A plain secret's name cannot be taken by a certificate.
    let mut set = azure_security_keyvault_secrets::models::SetSecretParameters::default();
    set.value = Some("plain".into());
    sc.set_secret("taken", set.try_into().unwrap(), None)
        .await
        .unwrap();
    let e = c
        .begin_create_certificate(
            "taken",
            create_params(policy("Self", "CN=taken"))
                .try_into()
                .unwrap(),
            None,
        )
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(status(&e), 409);
}

#[tokio::test]
async fn backup_and_restore_carry_the_key_and_secret() {
    certificate_backup_and_restore(&TestServer::start().await).await;
}

/// The flow of [`backup_and_restore_carry_the_key_and_secret`] on the server `ts` (run on PostgreSQL too: `postgres_sdk`).
pub async fn certificate_backup_and_restore(ts: &TestServer) {
    ts.create_vault("second").await;
    let a = certificate_client(ts, "default");
    let b = certificate_client(ts, "second");
    let first = self_signed(&a, "svc", policy("Self", "CN=svc")).await;
    let second = self_signed(&a, "svc", policy("Self", "CN=svc")).await;
    let blob = a
        .backup_certificate("svc", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    let mut r = RestoreCertificateParameters::default();
    r.certificate_backup = Some(blob.clone());
    let restored = b
        .restore_certificate(r.clone().try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(restored.cer.as_deref(), Some(&second[..]));
    let versions: Vec<_> = b
        .list_certificate_properties_versions("svc", None)
        .unwrap()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert_ne!(first, second);
    // Key and secret came along, and the key still signs for the certificate.
    let secret = secret_client(ts, "second")
        .get_secret("svc", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(secret.managed, Some(true));
    assert!(key_client(ts, "second").get_key("svc", None).await.is_ok());
    // Restoring again conflicts.
    let e = b
        .restore_certificate(r.try_into().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 409);

    // Contacts.
    let mut contact = Contact::default();
    contact.email = Some("pki@contoso.test".into());
    contact.name = Some("PKI team".into());
    let mut cs = Contacts::default();
    cs.contact_list = Some(vec![contact]);
    a.set_contacts(cs.try_into().unwrap(), None).await.unwrap();
    let got = a.get_contacts(None).await.unwrap().into_model().unwrap();
    assert_eq!(
        got.contact_list.unwrap()[0].email.as_deref(),
        Some("pki@contoso.test")
    );
    a.delete_contacts(None).await.unwrap();
    assert_eq!(status(&a.get_contacts(None).await.unwrap_err()), 404);
}
