//! The certificate reader (`keyhaven_crypto::x509::inspect`), and with it the hand-written DER reader behind it
//! (x509/der.rs, x509/extensions.rs: the extension list, subject alternative names, key usage, extended key usage,
//! OIDs of subject attributes), on any input.
//!
//! The first byte picks a mode:
//! - 0: the rest is a whole DER certificate (OpenSSL's d2i first, then the hand-written reader walks the
//!   TBSCertificate to its extensions);
//! - 1, 2, 3: the rest is the value of a subject alternative name, key usage or extended key usage extension,
//!   put into a certificate signed here, so that OpenSSL accepts the certificate and the hand-written reader
//!   sees arbitrary bytes as the extension's value (OpenSSL does not look inside extension values on reading).
//!
//! Checked: no panic, no allocation beyond libFuzzer's limits; reading is deterministic; a certificate that reads
//! well round-trips through PEM (`to_pem` then `parse_pem` give back the same DER, which reads the same).
#![no_main]

use keyhaven_crypto::x509::{inspect, parse_pem, to_pem};
use libfuzzer_sys::fuzz_target;
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509Builder, X509Extension, X509NameBuilder};
use std::sync::OnceLock;

/// id-ce-subjectAltName, id-ce-keyUsage, id-ce-extKeyUsage.
const EXTENSION_OIDS: [&str; 3] = ["2.5.29.17", "2.5.29.15", "2.5.29.37"];

/// One P-256 key for every certificate the target signs (making one per input would dominate the run time).
fn signing_key() -> &'static PKey<Private> {
    static KEY: OnceLock<PKey<Private>> = OnceLock::new();
    KEY.get_or_init(|| {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("pkey")
    })
}

/// A self-signed certificate with one extension, `oid`, holding `value` as is.
fn certificate_with(oid: &str, value: &[u8]) -> Option<Vec<u8>> {
    let key = signing_key();
    let mut name = X509NameBuilder::new().ok()?;
    name.append_entry_by_text("CN", "fuzz").ok()?;
    let name = name.build();
    let mut b = X509Builder::new().ok()?;
    b.set_version(2).ok()?;
    let serial = Asn1Integer::from_bn(BigNum::from_u32(1).ok()?.as_ref()).ok()?;
    b.set_serial_number(&serial).ok()?;
    b.set_subject_name(&name).ok()?;
    b.set_issuer_name(&name).ok()?;
    let not_before = Asn1Time::from_unix(1_700_000_000).ok()?;
    let not_after = Asn1Time::from_unix(1_800_000_000).ok()?;
    b.set_not_before(&not_before).ok()?;
    b.set_not_after(&not_after).ok()?;
    b.set_pubkey(key).ok()?;
    let object = Asn1Object::from_str(oid).ok()?;
    let contents = Asn1OctetString::new_from_bytes(value).ok()?;
    b.append_extension(X509Extension::new_from_der(&object, false, &contents).ok()?)
        .ok()?;
    b.sign(key, MessageDigest::sha256()).ok()?;
    b.build().to_der().ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let der = match mode % 4 {
        0 => rest.to_vec(),
        m => match certificate_with(EXTENSION_OIDS[usize::from(m - 1)], rest) {
            Some(der) => der,
            None => return,
        },
    };
    let first = inspect(&der);
    let again = inspect(&der);
    assert_eq!(
        format!("{first:?}"),
        format!("{again:?}"),
        "reading is deterministic"
    );
    let Ok(info) = first else {
        return;
    };
    // What reads well is one certificate: PEM of it reads back to the same DER, with the same contents.
    let pem =
        to_pem(None, std::slice::from_ref(&der)).expect("a readable certificate writes as PEM");
    let bundle = parse_pem(&pem).expect("PEM written here reads back");
    assert!(bundle.key.is_none());
    assert_eq!(
        bundle.chain,
        vec![der.clone()],
        "PEM round trip keeps the DER"
    );
    assert_eq!(
        inspect(&bundle.chain[0]).expect("reads again"),
        info,
        "the round-tripped certificate reads the same"
    );
});
