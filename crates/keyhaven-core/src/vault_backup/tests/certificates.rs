//! Certificates travel with their managed key and secret, issuers, contacts and pending operations.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_travel_with_their_key_and_secret_whole_or_selected() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "certsrc").await;
    let policy: CertificatePolicy = serde_json::from_value(serde_json::json!({
        "issuer": {"name": "Self"}, "x509_props": {"subject": "CN=vault-backup"}
    }))
    .unwrap();
    let web = ObjectName::parse("web").unwrap();
    let req = CreateCertificate {
        policy,
        ..Default::default()
    };
    kh.create_certificate(&admin(), &src, &web, req.clone())
        .await
        .unwrap();
    kh.create_certificate(&admin(), &src, &web, req)
        .await
        .unwrap();
    kh.set_secret(
        &admin(),
        &src,
        &ObjectName::parse("plain").unwrap(),
        secret("p"),
    )
    .await
    .unwrap();
    let original = kh.get_certificate(&admin(), &src, &web, None).unwrap();
    let pfx = kh.get_secret(&admin(), &src, &web, None).unwrap();
    let (data, manifest) = backup(&kh, &src, false);
    assert_eq!(
        manifest.objects(),
        4,
        "certificate, its key and secret, and the plain secret"
    );

    let check = |v: &VaultName| {
        let got = kh.get_certificate(&admin(), v, &web, None).unwrap();
        assert_eq!(got.object.version, original.object.version);
        assert_eq!(
            format!("{:?}", got.object.detail),
            format!("{:?}", original.object.detail),
            "same certificate"
        );
        assert_eq!(got.policy, original.policy);
        let secret = kh.get_secret(&admin(), v, &web, None).unwrap();
        assert!(secret.managed);
        assert_eq!(
            secret.value.unwrap().expose(),
            pfx.value.as_ref().unwrap().expose()
        );
        let key = kh
            .get_properties(&admin(), v, ObjectKind::Key, &web, None)
            .unwrap();
        assert!(key.managed);
        let versions = kh
            .list_versions(
                &admin(),
                v,
                ObjectKind::Certificate,
                &web,
                &PageRequest::default(),
            )
            .unwrap();
        assert_eq!(versions.items.len(), 2);
    };
    let whole = vault(&kh, "certwhole").await;
    restore(&kh, &whole, data.clone(), RestoreOptions::default())
        .await
        .unwrap();
    check(&whole);

    // Selecting the certificate brings its key and secret, and nothing else.
    let selected = vault(&kh, "certselected").await;
    let r = restore(
        &kh,
        &selected,
        data,
        RestoreOptions {
            only: Some((ObjectKind::Certificate, web.clone())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.objects.len(), 3, "{:?}", r.objects);
    check(&selected);
    assert!(values(&kh, &selected).keys().all(|k| k == "web"));
}

/// The issuer password stored in `v`, opened with `v`'s key (what issuing through the issuer would use).
fn issuer_password(kh: &Keyhaven, v: &VaultName, issuer: &str) -> Option<String> {
    let snap = kh.snapshot().unwrap();
    let rec = kh.vault_record(&*snap, v.as_str()).unwrap();
    let name = ObjectName::parse(issuer).unwrap();
    let r: crate::certificates::IssuerRecord =
        crate::records::read(&*snap, &crate::records::issuer_key(v.as_str(), &name.key()))
            .unwrap()?;
    let plain = kh
        .barrier
        .vault_key(&rec)
        .unwrap()
        .open_issuer_password(&name, r.password_key, &r.sealed_password?)
        .unwrap();
    Some(String::from_utf8(plain.to_vec()).unwrap())
}

/// Certificate issuers (with their passwords) and contacts are part of a whole-vault backup: restored into an
/// empty vault with the password sealed for it; into a vault that has them, by the conflict policy; left alone
/// by a selective restore.
#[tokio::test]
async fn certificate_issuers_and_contacts_travel_with_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "settings-src").await;
    let issuer = ObjectName::parse("corp-ca").unwrap();
    let change = |password: &str| IssuerChange {
        provider: Some("DigiCert".into()),
        account_id: Some("acct-1".into()),
        password: Some(SecretValue::new(password.into()).unwrap()),
        ..IssuerChange::default()
    };
    kh.set_issuer(&admin(), &src, &issuer, change("issuer-pw-1"), true)
        .await
        .unwrap();
    let contacts = vec![Contact {
        email: Some("ops@example.com".into()),
        name: Some("Ops".into()),
        phone: None,
    }];
    kh.set_certificate_contacts(&admin(), &src, contacts.clone())
        .await
        .unwrap();
    kh.set_secret(
        &admin(),
        &src,
        &ObjectName::parse("s1").unwrap(),
        secret("v1"),
    )
    .await
    .unwrap();
    let (data, manifest) = backup(&kh, &src, false);
    assert_eq!(manifest.settings, 2);
    let geography = {
        let snap = kh.snapshot().unwrap();
        kh.vault_record(&*snap, src.as_str()).unwrap().geography
    };
    assert_eq!(
        kh.verify_vault_backup(
            &admin(),
            std::io::Cursor::new(data.clone()),
            &VerifyTarget::Geography(geography.clone()),
        )
        .unwrap(),
        manifest
    );

    // Into an empty vault: both settings, the password sealed for the new vault.
    let dst = vault(&kh, "settings-dst").await;
    let report = restore(&kh, &dst, data.clone(), RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.settings.len(), 2, "{:?}", report.settings);
    assert!(report
        .settings
        .iter()
        .all(|s| s.action == SettingAction::Restored));
    let got = kh.get_issuer(&admin(), &dst, &issuer).unwrap();
    assert_eq!(
        (got.provider.as_str(), got.has_password),
        ("DigiCert", true)
    );
    assert_eq!(
        issuer_password(&kh, &dst, "corp-ca").as_deref(),
        Some("issuer-pw-1")
    );
    assert_eq!(
        kh.get_certificate_contacts(&admin(), &dst).unwrap(),
        contacts
    );

    // Into a vault that has its own: refused under `fail` (nothing written), kept under `skip`, replaced under
    // `new-version`.
    let other = vault(&kh, "settings-other").await;
    kh.set_issuer(&admin(), &other, &issuer, change("other-pw"), true)
        .await
        .unwrap();
    let before = everything(&kh);
    let err = restore(&kh, &other, data.clone(), RestoreOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("issuer corp-ca")),
        "{err:?}"
    );
    assert_eq!(everything(&kh), before, "a refused restore writes nothing");
    let skip = RestoreOptions {
        conflict: ConflictPolicy::Skip,
        ..RestoreOptions::default()
    };
    let report = restore(&kh, &other, data.clone(), skip).await.unwrap();
    let action =
        |r: &RestoreReport, s: &str| r.settings.iter().find(|o| o.setting == s).map(|o| o.action);
    assert_eq!(
        action(&report, "issuer corp-ca"),
        Some(SettingAction::Skipped)
    );
    assert_eq!(action(&report, "contacts"), Some(SettingAction::Restored));
    assert_eq!(
        issuer_password(&kh, &other, "corp-ca").as_deref(),
        Some("other-pw")
    );
    assert_eq!(
        kh.get_certificate_contacts(&admin(), &other).unwrap(),
        contacts
    );
    let third = vault(&kh, "settings-third").await;
    kh.set_issuer(&admin(), &third, &issuer, change("third-pw"), true)
        .await
        .unwrap();
    let replace = RestoreOptions {
        conflict: ConflictPolicy::NewVersion,
        ..RestoreOptions::default()
    };
    let report = restore(&kh, &third, data.clone(), replace).await.unwrap();
    assert_eq!(
        action(&report, "issuer corp-ca"),
        Some(SettingAction::Replaced)
    );
    assert_eq!(
        issuer_password(&kh, &third, "corp-ca").as_deref(),
        Some("issuer-pw-1")
    );

    // A selective restore brings the object only.
    let sel = vault(&kh, "settings-sel").await;
    let only = RestoreOptions {
        only: Some((ObjectKind::Secret, ObjectName::parse("s1").unwrap())),
        ..RestoreOptions::default()
    };
    let report = restore(&kh, &sel, data, only).await.unwrap();
    assert!(report.settings.is_empty());
    assert!(kh.get_issuer(&admin(), &sel, &issuer).is_err());
    assert!(kh.get_certificate_contacts(&admin(), &sel).is_err());
}

/// A certificate waiting for an outside authority travels with its pending operation (its signing request), so
/// that the signed certificate can still be merged after a restore; the operation goes only where its
/// certificate is restored.
#[tokio::test]
async fn a_pending_certificate_travels_with_its_operation() {
    let dir = tempfile::tempdir().unwrap();
    let kh = service(dir.path(), Arc::new(SystemClock));
    let src = vault(&kh, "pendingsrc").await;
    let policy: CertificatePolicy = serde_json::from_value(serde_json::json!({
        "issuer": {"name": "Unknown"}, "x509_props": {"subject": "CN=pending"}
    }))
    .unwrap();
    let name = ObjectName::parse("awaiting").unwrap();
    let req = CreateCertificate {
        policy,
        ..Default::default()
    };
    let op = kh
        .create_certificate(&admin(), &src, &name, req)
        .await
        .unwrap();
    assert_eq!(op.status, OperationStatus::InProgress);
    assert!(op.csr.is_some());
    let (data, manifest) = backup(&kh, &src, false);
    assert_eq!(manifest.settings, 1, "the operation");

    for (target, options) in [
        ("pendingall", RestoreOptions::default()),
        (
            "pendingone",
            RestoreOptions {
                only: Some((ObjectKind::Certificate, name.clone())),
                ..RestoreOptions::default()
            },
        ),
    ] {
        let dst = vault(&kh, target).await;
        restore(&kh, &dst, data.clone(), options).await.unwrap();
        let got = kh.get_certificate_operation(&admin(), &dst, &name).unwrap();
        assert_eq!(got, op, "{target}");
    }

    // Where the certificate is skipped (it exists), its operation is not written either.
    let other = vault(&kh, "pendingother").await;
    kh.create_certificate(
        &admin(),
        &other,
        &name,
        CreateCertificate {
            policy: serde_json::from_value(serde_json::json!({
                "issuer": {"name": "Self"}, "x509_props": {"subject": "CN=mine"}
            }))
            .unwrap(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mine = kh
        .get_certificate_operation(&admin(), &other, &name)
        .unwrap();
    let skip = RestoreOptions {
        conflict: ConflictPolicy::Skip,
        ..RestoreOptions::default()
    };
    restore(&kh, &other, data, skip).await.unwrap();
    assert_eq!(
        kh.get_certificate_operation(&admin(), &other, &name)
            .unwrap(),
        mine
    );
}
