//! Self-signed certificates and signing requests, checked with the OpenSSL command line.

use super::*;
use openssl::x509::{X509Req, X509};

#[test]
fn self_signed_rsa_reads_back_in_openssl() {
    let der = self_signed(rsa_key(), &full_request()).unwrap();
    let text = cert_text(&der);
    for needle in [
        "Version: 3 (0x2)",
        "Signature Algorithm: sha256WithRSAEncryption",
        "Issuer: C = US, ST = WA, L = Redmond, OU = IT, O = Contoso, CN = www.contoso.com",
        "Subject: C = US, ST = WA, L = Redmond, OU = IT, O = Contoso, CN = www.contoso.com",
        "Not Before: Jan 31 10:00:00 2024 GMT",
        "Not After : Jan 31 10:00:00 2025 GMT",
        "Public-Key: (2048 bit)",
        "X509v3 Basic Constraints: \n                CA:FALSE",
        "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment",
        "X509v3 Extended Key Usage: \n                TLS Web Server Authentication, TLS Web Client Authentication",
        "X509v3 Subject Alternative Name: \n                DNS:www.contoso.com, DNS:*.contoso.com, email:admin@contoso.com, othername: UPN::user@contoso.com",
        "X509v3 Subject Key Identifier:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // The serial number is 16 bytes and positive.
    let info = inspect(&der).unwrap();
    assert_eq!(info.serial.len(), 16);
    assert!(info.serial[0] > 0 && info.serial[0] < 0x80);
    // The signature verifies with the certificate's own key, and no longer when altered.
    let cert = X509::from_der(&der).unwrap();
    assert!(cert.verify(&cert.public_key().unwrap()).unwrap());
    let mut altered = der.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let altered = X509::from_der(&altered).unwrap();
    assert!(!altered.verify(&cert.public_key().unwrap()).unwrap_or(false));
    let _ = openssl::error::ErrorStack::get();
}

#[test]
fn serial_numbers_differ() {
    let req = CertificateRequest {
        subject: "CN=a".into(),
        validity_months: 1,
        not_before: JAN_31_2024,
        ..Default::default()
    };
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let a = inspect(&self_signed(&key, &req).unwrap()).unwrap();
    let b = inspect(&self_signed(&key, &req).unwrap()).unwrap();
    assert_ne!(a.serial, b.serial);
    assert_ne!(a.x5t, b.x5t);
}

#[test]
fn self_signed_ec_on_every_curve() {
    for (curve, sig, bits) in [
        (Curve::P256, "ecdsa-with-SHA256", "256 bit"),
        (Curve::P256K, "ecdsa-with-SHA256", "256 bit"),
        (Curve::P384, "ecdsa-with-SHA384", "384 bit"),
        (Curve::P521, "ecdsa-with-SHA512", "521 bit"),
    ] {
        let key = PrivateKey::generate_ec(curve).unwrap();
        let der = self_signed(&key, &full_request()).unwrap();
        let text = cert_text(&der);
        for needle in [
            format!("Signature Algorithm: {sig}"),
            format!("Public-Key: ({bits})"),
            "othername: UPN::user@contoso.com".to_string(),
            "Subject: C = US, ST = WA, L = Redmond, OU = IT, O = Contoso, CN = www.contoso.com"
                .into(),
            "TLS Web Server Authentication, TLS Web Client Authentication".into(),
            "Not After : Jan 31 10:00:00 2025 GMT".into(),
        ] {
            assert!(
                text.contains(&needle),
                "{curve:?}: missing {needle:?} in\n{text}"
            );
        }
        let cert = X509::from_der(&der).unwrap();
        assert!(
            cert.verify(&cert.public_key().unwrap()).unwrap(),
            "{curve:?}"
        );
        let info = inspect(&der).unwrap();
        assert_eq!(info.key_type, KeyType::Ec);
        assert_eq!(info.curve, Some(curve));
        assert_eq!(info.key_size, None);
        assert!(matches_key(&der, &key).unwrap());
    }
}

#[test]
fn openssl_verifies_a_self_signed_certificate_that_may_sign_certificates() {
    let mut req = full_request();
    req.key_usage = vec!["digitalSignature".into(), "keyCertSign".into()];
    let key = PrivateKey::generate_ec(Curve::P384).unwrap();
    let der = self_signed(&key, &req).unwrap();
    let dir = Scratch::new("verify");
    let pem = dir.write("cert.pem", der_to_pem(&der));
    let out = openssl(&[
        "verify",
        "-check_ss_sig",
        "-attime",
        &(JAN_31_2024 + 86_400).to_string(),
        "-CAfile",
        &pem,
        &pem,
    ]);
    assert!(out.contains(": OK"), "{out}");
    // Outside the validity period it is refused.
    let late = run_openssl(&[
        "verify",
        "-attime",
        &(JAN_31_2024 + 400 * 86_400).to_string(),
        "-CAfile",
        &pem,
        &pem,
    ]);
    assert!(!late.status.success());
}

#[test]
fn validity_is_counted_in_calendar_months() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    for (months, not_after) in [
        (1, "Not After : Feb 29 10:00:00 2024 GMT"),
        (13, "Not After : Feb 28 10:00:00 2025 GMT"),
        (3, "Not After : Apr 30 10:00:00 2024 GMT"),
        (312, "Not After : Jan 31 10:00:00 2050 GMT"),
    ] {
        let req = CertificateRequest {
            subject: "CN=months".into(),
            validity_months: months,
            not_before: JAN_31_2024,
            ..Default::default()
        };
        let der = self_signed(&key, &req).unwrap();
        let text = cert_text(&der);
        assert!(
            text.contains("Not Before: Jan 31 10:00:00 2024 GMT"),
            "{text}"
        );
        assert!(text.contains(not_after), "{months}: {text}");
        let info = inspect(&der).unwrap();
        assert_eq!(info.not_before, JAN_31_2024);
        assert_eq!(
            info.not_after,
            validity::add_months(JAN_31_2024, months).unwrap()
        );
    }
}

#[test]
fn every_key_usage_is_written() {
    let mut req = full_request();
    req.key_usage = extensions::KEY_USAGES
        .iter()
        .rev()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    let der = self_signed(rsa_key(), &req).unwrap();
    let text = cert_text(&der);
    assert!(
        text.contains(
            "Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment, Key Agreement, \
             Certificate Sign, CRL Sign, Encipher Only, Decipher Only"
        ),
        "{text}"
    );
    assert_eq!(inspect(&der).unwrap().key_usage, extensions::KEY_USAGES);
}

#[test]
fn optional_extensions_are_left_out() {
    let req = CertificateRequest {
        subject: "CN=bare".into(),
        validity_months: 6,
        not_before: JAN_31_2024,
        ..Default::default()
    };
    let der = self_signed(rsa_key(), &req).unwrap();
    let text = cert_text(&der);
    assert!(!text.contains("Key Usage"), "{text}");
    assert!(!text.contains("Subject Alternative Name"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    let info = inspect(&der).unwrap();
    assert!(info.key_usage.is_empty() && info.ekus.is_empty() && info.dns_names.is_empty());
}

#[test]
fn an_empty_subject_needs_critical_alternative_names() {
    let req = CertificateRequest {
        subject: " ".into(),
        dns_names: vec!["only.example".into()],
        validity_months: 1,
        not_before: JAN_31_2024,
        ..Default::default()
    };
    let der = self_signed(rsa_key(), &req).unwrap();
    let text = cert_text(&der);
    assert!(
        text.contains(
            "X509v3 Subject Alternative Name: critical\n                DNS:only.example"
        ),
        "{text}"
    );
    assert_eq!(inspect(&der).unwrap().subject, "");
    let bare = CertificateRequest {
        dns_names: vec![],
        ..req
    };
    assert_malformed(self_signed(rsa_key(), &bare), "needs a subject");
    assert_malformed(signing_request(rsa_key(), &bare), "needs a subject");
}

#[test]
fn signing_request_reads_back_in_openssl() {
    let key = PrivateKey::generate_ec(Curve::P384).unwrap();
    let csr = signing_request(&key, &full_request()).unwrap();
    let dir = Scratch::new("csr");
    let path = dir.write("req.der", &csr);
    let text = openssl(&[
        "req", "-inform", "DER", "-in", &path, "-verify", "-noout", "-text",
    ]);
    for needle in [
        "verify OK",
        "Subject: C = US, ST = WA, L = Redmond, OU = IT, O = Contoso, CN = www.contoso.com",
        "Signature Algorithm: ecdsa-with-SHA384",
        "Requested Extensions:",
        "X509v3 Key Usage: critical\n                    Digital Signature, Key Encipherment",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "DNS:www.contoso.com, DNS:*.contoso.com, email:admin@contoso.com, othername: UPN::user@contoso.com",
        "IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:5, URI:spiffe://contoso.com/web",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let req = X509Req::from_der(&csr).unwrap();
    assert!(req.verify(&req.public_key().unwrap()).unwrap());
    assert!(req.public_key().unwrap().public_eq(&key.to_pkey().unwrap()));
}

#[test]
fn signing_request_without_extensions_has_none() {
    let req = CertificateRequest {
        subject: "CN=plain".into(),
        validity_months: 12,
        not_before: JAN_31_2024,
        ..Default::default()
    };
    let csr = signing_request(rsa_key(), &req).unwrap();
    let dir = Scratch::new("csr-plain");
    let path = dir.write("req.der", &csr);
    let text = openssl(&[
        "req", "-inform", "DER", "-in", &path, "-verify", "-noout", "-text",
    ]);
    assert!(text.contains("Subject: CN = plain"), "{text}");
    // No extensionRequest attribute (OpenSSL prints an empty "Requested Extensions:" heading regardless).
    assert!(text.contains("Attributes:\n            (none)"), "{text}");
    assert!(!text.contains("X509v3"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
}

#[test]
fn a_certificate_issued_from_the_request_matches_the_key() {
    let chain = chain();
    assert!(matches_key(&chain.leaf, rsa_key()).unwrap());
    assert!(!matches_key(&chain.leaf, other_rsa_key()).unwrap());
    assert!(!matches_key(&chain.leaf, &PrivateKey::generate_ec(Curve::P256).unwrap()).unwrap());
    assert!(!matches_key(&chain.leaf, &PrivateKey::generate_oct(256).unwrap()).unwrap());
    // The CA copied the requested extensions.
    let info = inspect(&chain.leaf).unwrap();
    assert_eq!(info.subject, full_request().subject);
    assert_eq!(info.dns_names, full_request().dns_names);
    assert_eq!(info.upns, full_request().upns);
    assert_eq!(info.ip_addresses, full_request().ip_addresses);
    assert_eq!(info.uris, full_request().uris);
    assert_eq!(info.ekus, full_request().ekus);
    assert_malformed(
        matches_key(b"junk", rsa_key()),
        "not a valid X.509 certificate",
    );
}

#[test]
fn bad_requests_are_refused() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    type Change = Box<dyn Fn(&mut CertificateRequest)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|r| r.key_usage.push("signing".into())),
            "unknown key usage 'signing'",
        ),
        (
            Box::new(|r| r.ekus.push("serverAuth".into())),
            "'serverAuth' is not a dotted object identifier",
        ),
        (
            Box::new(|r| r.ekus.push("1.3.6.1.5.5.7.3.1.".into())),
            "not a dotted object identifier",
        ),
        (Box::new(|r| r.validity_months = 0), "1 to 1200 months"),
        (Box::new(|r| r.validity_months = 1201), "1 to 1200 months"),
        (
            Box::new(|r| r.not_before = -1_000_000_000_000),
            "outside the years 1950 to 9999",
        ),
        (
            Box::new(|r| r.subject = "www.contoso.com".into()),
            "NAME=value",
        ),
        (
            Box::new(|r| r.subject = "CN=a, X=b".into()),
            "unknown subject attribute 'X'",
        ),
        (
            Box::new(|r| r.subject = "CN=a, C=USA".into()),
            "C is a two-letter country code",
        ),
        (
            Box::new(|r| r.dns_names.push("bad name".into())),
            "is not a valid DNS name",
        ),
        (
            Box::new(|r| r.dns_names.push("".into())),
            "is not a valid DNS name",
        ),
        (
            Box::new(|r| r.emails.push("no-at-sign".into())),
            "is not a valid e-mail address",
        ),
        (
            Box::new(|r| r.upns.push("".into())),
            "not a valid user principal name",
        ),
        (
            Box::new(|r| r.ip_addresses.push("192.0.2.300".into())),
            "is not an IP address",
        ),
        (
            Box::new(|r| r.ip_addresses.push("db8::1/64".into())),
            "is not an IP address",
        ),
        (
            Box::new(|r| r.uris.push("no scheme".into())),
            "is not a URI",
        ),
        (
            Box::new(|r| r.uris.push("1http://x".into())),
            "is not a URI",
        ),
    ];
    for (change, needle) in cases {
        let mut req = full_request();
        change(&mut req);
        assert_malformed(self_signed(&key, &req), needle);
        if needle.contains("months") || needle.contains("1950") {
            // A signing request carries no validity.
            assert!(signing_request(&key, &req).is_ok());
        } else {
            assert_malformed(signing_request(&key, &req), needle);
        }
    }
    let oct = PrivateKey::generate_oct(256).unwrap();
    assert_malformed(self_signed(&oct, &full_request()), "oct");
    assert_malformed(signing_request(&oct, &full_request()), "oct");
}

#[test]
fn requests_accept_loose_spelling() {
    let mut req = full_request();
    req.subject =
        " cn = www.contoso.com ;O=Contoso;  S=WA ;E=admin@contoso.com;DC=contoso;DC=com".into();
    req.key_usage = vec![
        "DigitalSignature".into(),
        "digitalsignature".into(),
        "cRLSign".into(),
    ];
    let der = self_signed(rsa_key(), &req).unwrap();
    let text = cert_text(&der);
    assert!(
        text.contains(
            "Subject: DC = com, DC = contoso, emailAddress = admin@contoso.com, ST = WA, O = Contoso, CN = www.contoso.com"
        ),
        "{text}"
    );
    let info = inspect(&der).unwrap();
    assert_eq!(
        info.subject,
        "CN=www.contoso.com, O=Contoso, ST=WA, E=admin@contoso.com, DC=contoso, DC=com"
    );
    assert_eq!(info.key_usage, ["digitalSignature", "cRLSign"]);
}
