//! Reading certificates: ours round-trip, and those the OpenSSL command line makes read as OpenSSL reads them.

use super::*;

#[test]
fn inspect_round_trips_a_request() {
    let mut req = full_request();
    req.upns.push("jürgen.müller@contoso.com".into());
    req.subject = r#"CN="Jürgen ""JM"" Müller", O="Contoso, Inc.", OU=IT, ST=WA, C=US"#.into();
    let der = self_signed(rsa_key(), &req).unwrap();
    let info = inspect(&der).unwrap();
    assert_eq!(info.subject, req.subject);
    assert_eq!(info.dns_names, req.dns_names);
    assert_eq!(info.emails, req.emails);
    assert_eq!(info.upns, req.upns);
    assert_eq!(info.ip_addresses, ["192.0.2.10", "2001:db8::5"]);
    assert_eq!(info.uris, req.uris);
    assert_eq!(info.key_usage, req.key_usage);
    assert_eq!(info.ekus, req.ekus);
    assert_eq!(info.not_before, JAN_31_2024);
    assert_eq!(info.not_after, JAN_31_2024 + 366 * 86_400);
    assert_eq!(info.key_type, KeyType::Rsa);
    assert_eq!(info.key_size, Some(2048));
    assert_eq!(info.curve, None);
    assert_eq!(info.x5t, openssl::sha::sha1(&der));
}

#[test]
fn thumbprint_and_serial_agree_with_openssl() {
    let der = self_signed(rsa_key(), &full_request()).unwrap();
    let info = inspect(&der).unwrap();
    let dir = Scratch::new("thumb");
    let path = dir.write("c.der", &der);
    let out = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        &path,
        "-noout",
        "-fingerprint",
        "-sha1",
        "-serial",
    ]);
    let hex = |b: &[u8], sep: &str| {
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(sep)
    };
    assert!(
        out.contains(&format!("Fingerprint={}", hex(&info.x5t, ":"))),
        "{out}"
    );
    assert!(
        out.contains(&format!("serial={}", hex(&info.serial, ""))),
        "{out}"
    );
}

#[test]
fn subjects_of_openssl_certificates_read_most_specific_first() {
    let dir = Scratch::new("subjects");
    let (key, cert) = (dir.path("k.pem"), dir.path("c.pem"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &cert,
        "-days",
        "10",
        "-subj",
        "/DC=com/DC=contoso/C=US/ST=WA/O=Contoso, Inc./OU=IT+OU=Ops/CN=x \"y\"/emailAddress=a@contoso.com/businessCategory=Private",
        "-addext",
        "subjectAltName=DNS:a.example,IP:10.0.0.1,URI:https://a.example/,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:u2@contoso.com,otherName:1.2.3.4;UTF8:ignored,email:e@example.com,DNS:b.example",
        "-addext",
        "keyUsage=critical,digitalSignature,decipherOnly",
        "-addext",
        "extendedKeyUsage=codeSigning,1.2.3.4.5,msSGC",
    ]);
    let info = inspect(&pem_file_to_der(&cert)).unwrap();
    assert_eq!(
        info.subject,
        r#"OID.2.5.4.15=Private, E=a@contoso.com, CN="x ""y""", OU=Ops, OU=IT, O="Contoso, Inc.", ST=WA, C=US, DC=contoso, DC=com"#
    );
    assert_eq!(info.dns_names, ["a.example", "b.example"]);
    assert_eq!(info.emails, ["e@example.com"]);
    assert_eq!(info.upns, ["u2@contoso.com"]);
    assert_eq!(info.key_usage, ["digitalSignature", "decipherOnly"]);
    assert_eq!(
        info.ekus,
        ["1.3.6.1.5.5.7.3.3", "1.2.3.4.5", "1.3.6.1.4.1.311.10.3.3"]
    );
    assert_eq!(info.key_type, KeyType::Ec);
    assert_eq!(info.curve, Some(Curve::P384));
    assert_eq!(info.not_after - info.not_before, 10 * 86_400);
}

#[test]
fn inspect_refuses_what_is_not_one_certificate() {
    let der = self_signed(rsa_key(), &full_request()).unwrap();
    assert_malformed(inspect(b""), "is not a valid X.509 certificate");
    assert_malformed(
        inspect(b"not a certificate"),
        "is not a valid X.509 certificate",
    );
    assert_malformed(
        inspect(&der[..der.len() - 10]),
        "is not a valid X.509 certificate",
    );
    let mut trailing = der.clone();
    trailing.push(0);
    assert_malformed(inspect(&trailing), "is not a valid X.509 certificate");
    assert_malformed(inspect(&der_to_pem(&der)), "PEM");
    let mut flipped = der.clone();
    flipped[1] ^= 0x40;
    assert!(matches!(inspect(&flipped), Err(CryptoError::Malformed(_))));
}

#[test]
fn inspect_refuses_keys_azure_does_not_hold() {
    let dir = Scratch::new("ed25519");
    let (key, cert) = (dir.path("k.pem"), dir.path("c.pem"));
    openssl(&[
        "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", &key, "-out", &cert, "-subj",
        "/CN=ed", "-days", "1",
    ]);
    assert_malformed(inspect(&pem_file_to_der(&cert)), "neither RSA nor EC");
}
