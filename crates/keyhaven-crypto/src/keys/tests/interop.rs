//! Interoperability with the OpenSSL command line: what `PrivateKey` signs verifies there, and what it encrypts
//! decrypts here (and the other way round).

use super::*;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "keyhaven-keys-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, data).unwrap();
        path_str(&p)
    }

    fn path(&self, name: &str) -> String {
        path_str(&self.0.join(name))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Runs `openssl` and returns its stdout, failing the test (with stderr) when it fails.
fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command line tool is installed");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The public key of a JWK, as SubjectPublicKeyInfo PEM.
fn public_pem(jwk: &Jwk) -> Vec<u8> {
    match jwk.kty.as_str() {
        "RSA" => {
            let n = BigNum::from_slice(jwk.n.as_ref().unwrap()).unwrap();
            let e = BigNum::from_slice(jwk.e.as_ref().unwrap()).unwrap();
            let rsa = Rsa::from_public_components(n, e).unwrap();
            PKey::from_rsa(rsa).unwrap().public_key_to_pem().unwrap()
        }
        "EC" => {
            let crv = Curve::parse(jwk.crv.as_deref().unwrap()).unwrap();
            let nid = match crv {
                Curve::P256 => Nid::X9_62_PRIME256V1,
                Curve::P384 => Nid::SECP384R1,
                Curve::P521 => Nid::SECP521R1,
                Curve::P256K => Nid::SECP256K1,
            };
            let group = EcGroup::from_curve_name(nid).unwrap();
            let x = BigNum::from_slice(jwk.x.as_ref().unwrap()).unwrap();
            let y = BigNum::from_slice(jwk.y.as_ref().unwrap()).unwrap();
            let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y).unwrap();
            PKey::from_ec_key(ec).unwrap().public_key_to_pem().unwrap()
        }
        other => panic!("no public PEM for {other}"),
    }
}

/// The private key of an RSA JWK, as PKCS#8 PEM.
fn rsa_private_pem(jwk: &Jwk) -> Vec<u8> {
    let bn = |v: &Option<Vec<u8>>| BigNum::from_slice(v.as_ref().unwrap()).unwrap();
    let rsa = Rsa::from_private_components(
        bn(&jwk.n),
        bn(&jwk.e),
        bn(&jwk.d),
        bn(&jwk.p),
        bn(&jwk.q),
        bn(&jwk.dp),
        bn(&jwk.dq),
        bn(&jwk.qi),
    )
    .unwrap();
    PKey::from_rsa(rsa)
        .unwrap()
        .private_key_to_pem_pkcs8()
        .unwrap()
}

#[test]
fn rs256_signature_verifies_with_openssl_dgst() {
    let key = rsa_key();
    let dir = Scratch::new("rs256");
    let msg = b"a message signed for the OpenSSL command line";
    let sig = key.sign("RS256", &sha256(msg)).unwrap();
    let pem = dir.write("pub.pem", &public_pem(&key.public_jwk().unwrap()));
    let (m, s) = (dir.write("msg", msg), dir.write("sig", &sig));
    let out = openssl(&["dgst", "-sha256", "-verify", &pem, "-signature", &s, &m]);
    assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
    // RS512 too, via pkeyutl over the digest.
    let d = dir.write("digest", &sha512(msg));
    let s = dir.write("sig512", &key.sign("RS512", &sha512(msg)).unwrap());
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        &pem,
        "-in",
        &d,
        "-sigfile",
        &s,
        "-pkeyopt",
        "digest:sha512",
    ]);
    assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));
}

#[test]
fn ps256_signature_verifies_with_openssl_dgst() {
    let key = rsa_key();
    let dir = Scratch::new("ps256");
    let msg = b"a PSS message";
    let pem = dir.write("pub.pem", &public_pem(&key.public_jwk().unwrap()));
    let m = dir.write("msg", msg);
    for (alg, md, salt) in [
        ("PS256", "-sha256", "32"),
        ("PS384", "-sha384", "48"),
        ("PS512", "-sha512", "64"),
    ] {
        let s = dir.write("sig", &key.sign(alg, &digest_for(alg, msg)).unwrap());
        let out = openssl(&[
            "dgst",
            md,
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            &format!("rsa_pss_saltlen:{salt}"),
            "-verify",
            &pem,
            "-signature",
            &s,
            &m,
        ]);
        assert!(
            String::from_utf8_lossy(&out).contains("Verified OK"),
            "{alg}"
        );
    }
}

#[test]
fn openssl_pss_signature_verifies_here() {
    let key = rsa_key();
    let jwk = key.to_private_jwk().unwrap();
    let dir = Scratch::new("pss-in");
    let pem = dir.write("key.pem", &rsa_private_pem(&jwk));
    let msg = b"signed by the command line";
    let m = dir.write("msg", msg);
    let sig = openssl(&[
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-sign",
        &pem,
        &m,
    ]);
    assert!(key.verify("PS256", &sha256(msg), &sig).unwrap());
    let sig = openssl(&["dgst", "-sha384", "-sign", &pem, &m]);
    assert!(key.verify("RS384", &sha384(msg), &sig).unwrap());
}

/// The DER form of a JOSE `r ‖ s` signature.
fn der(sig: &[u8]) -> Vec<u8> {
    let (r, s) = sig.split_at(sig.len() / 2);
    EcdsaSig::from_private_components(
        BigNum::from_slice(r).unwrap(),
        BigNum::from_slice(s).unwrap(),
    )
    .unwrap()
    .to_der()
    .unwrap()
}

#[test]
fn ecdsa_signatures_verify_with_openssl() {
    let dir = Scratch::new("ecdsa");
    let msg = b"an ECDSA message";
    let m = dir.write("msg", msg);
    for (curve, alg, md) in [
        (Curve::P256, "ES256", "-sha256"),
        (Curve::P256K, "ES256K", "-sha256"),
        (Curve::P384, "ES384", "-sha384"),
        (Curve::P521, "ES512", "-sha512"),
    ] {
        let key = PrivateKey::generate_ec(curve).unwrap();
        let pem = dir.write("pub.pem", &public_pem(&key.public_jwk().unwrap()));
        let sig = key.sign(alg, &digest_for(alg, msg)).unwrap();
        let s = dir.write("sig.der", &der(&sig));
        let out = openssl(&["dgst", md, "-verify", &pem, "-signature", &s, &m]);
        assert!(
            String::from_utf8_lossy(&out).contains("Verified OK"),
            "{alg}"
        );
        let d = dir.write("digest", &digest_for(alg, msg));
        let out = openssl(&[
            "pkeyutl", "-verify", "-pubin", "-inkey", &pem, "-in", &d, "-sigfile", &s,
        ]);
        assert!(
            String::from_utf8_lossy(&out).contains("Signature Verified Successfully"),
            "{alg}"
        );
    }
}

#[test]
fn openssl_generated_ec_key_imports_and_its_signatures_verify() {
    let dir = Scratch::new("ec-in");
    let pem = openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
    let ec = EcKey::private_key_from_pem(&pem).unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    let mut jwk = Jwk::of_type("EC");
    jwk.crv = Some("P-256".into());
    jwk.x = Some(x.to_vec_padded(32).unwrap());
    jwk.y = Some(y.to_vec_padded(32).unwrap());
    jwk.d = Some(ec.private_key().to_vec_padded(32).unwrap());
    let key = PrivateKey::from_jwk(&jwk).unwrap();
    let k = dir.write("key.pem", &pem);
    let msg = b"signed by openssl";
    let m = dir.write("msg", msg);
    let der_sig = openssl(&["dgst", "-sha256", "-sign", &k, &m]);
    let sig = EcdsaSig::from_der(&der_sig).unwrap();
    let mut jose = sig.r().to_vec_padded(32).unwrap();
    jose.extend(sig.s().to_vec_padded(32).unwrap());
    assert!(key.verify("ES256", &sha256(msg), &jose).unwrap());
}

#[test]
fn openssl_oaep256_ciphertext_decrypts_here() {
    let key = rsa_key();
    let dir = Scratch::new("oaep256");
    let pem = dir.write("pub.pem", &public_pem(&key.public_jwk().unwrap()));
    let secret = b"thirty-two bytes of key material";
    let pt = dir.write("pt", secret);
    let ct = dir.path("ct");
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        &pem,
        "-in",
        &pt,
        "-out",
        &ct,
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]);
    let ciphertext = std::fs::read(&ct).unwrap();
    assert_eq!(
        &key.decrypt("RSA-OAEP-256", &ciphertext, None, None, None)
            .unwrap()[..],
        secret
    );
    assert_eq!(
        &key.unwrap_key("RSA-OAEP-256", &ciphertext).unwrap()[..],
        secret
    );
    // It is not SHA-1 OAEP.
    assert_unauthentic(key.decrypt("RSA-OAEP", &ciphertext, None, None, None));

    // RSA-OAEP (SHA-1) and RSA1_5 the same way.
    for (alg, opts) in [
        ("RSA-OAEP", vec!["-pkeyopt", "rsa_padding_mode:oaep"]),
        ("RSA1_5", vec!["-pkeyopt", "rsa_padding_mode:pkcs1"]),
    ] {
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", &pem, "-in", &pt, "-out", &ct,
        ];
        args.extend(opts);
        openssl(&args);
        let ciphertext = std::fs::read(&ct).unwrap();
        assert_eq!(
            &key.decrypt(alg, &ciphertext, None, None, None).unwrap()[..],
            secret,
            "{alg}"
        );
    }
}

#[test]
fn oaep256_ciphertext_decrypts_with_openssl() {
    let key = rsa_key();
    let dir = Scratch::new("oaep256-out");
    let pem = dir.write("key.pem", &rsa_private_pem(&key.to_private_jwk().unwrap()));
    let secret = b"made here, opened there";
    let ct = dir.write(
        "ct",
        &key.encrypt("RSA-OAEP-256", secret, None, None)
            .unwrap()
            .ciphertext,
    );
    let out = openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        &pem,
        "-in",
        &ct,
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]);
    assert_eq!(out, secret);
    let ct = dir.write("ct1", &key.wrap_key("RSA-OAEP", secret).unwrap());
    let out = openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        &pem,
        "-in",
        &ct,
        "-pkeyopt",
        "rsa_padding_mode:oaep",
    ]);
    assert_eq!(out, secret);
}

#[test]
fn aes_cbcpad_matches_openssl_enc() {
    let dir = Scratch::new("cbc");
    let key = PrivateKey::generate_oct(256).unwrap();
    let k = key.to_private_jwk().unwrap().k.clone().unwrap();
    let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let iv = [9u8; 16];
    let msg = b"seventeen bytes!!";
    let out = key.encrypt("A256CBCPAD", msg, Some(&iv), None).unwrap();
    let pt = dir.write("pt", msg);
    let theirs = openssl(&[
        "enc",
        "-aes-256-cbc",
        "-K",
        &hexs(&k),
        "-iv",
        &hexs(&iv),
        "-in",
        &pt,
    ]);
    assert_eq!(out.ciphertext, theirs);
}
