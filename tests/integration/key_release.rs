//! Secure key release against a real server configured with an attestation authority made here (its JWKS in a
//! file): exportable keys with release policies (written, read, updated, backed up and restored), and releases
//! whose answer is checked the way an attested environment would — the server's JWS verified with the key its
//! `jku` names, the wrapped key unwrapped with the runtime private key (OpenSSL), and the released key shown to be
//! the vault's own by a signature the server verifies.

use crate::bad_input::Raw;
use crate::sdk::{key_client, status};
use crate::vault_backup::finished;
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, KeyAttributes, KeyClientReleaseOptions, KeyEncryptionAlgorithm,
    KeyReleasePolicy, KeyType, ReleaseParameters,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use keyhaven_server::KeyReleaseAuthority;
use keyhaven_testkit::TestServer;
use openssl::bn::BigNum;
use openssl::cipher::Cipher;
use openssl::cipher_ctx::{CipherCtx, CipherCtxFlags};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{Signer, Verifier};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const ISSUER: &str = "https://attest.keyhaven.test";

/// An attestation authority: a signing key, its kid, and its JWKS in a file the server reads.
pub(crate) struct Authority {
    key: PKey<Private>,
    kid: String,
    _dir: tempfile::TempDir,
    jwks_file: std::path::PathBuf,
}

fn rsa_public_jwk(rsa: &Rsa<Private>, kid: &str) -> Value {
    json!({ "kty": "RSA", "kid": kid, "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(rsa.e().to_vec()) })
}

impl Authority {
    pub(crate) fn new() -> Authority {
        Authority::with_kid("attest-signing-1")
    }

    fn with_kid(kid: &str) -> Authority {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let jwks_file = dir.path().join("jwks.json");
        let a = Authority {
            key,
            kid: kid.to_string(),
            _dir: dir,
            jwks_file,
        };
        std::fs::write(&a.jwks_file, a.jwks().to_string()).unwrap();
        a
    }

    fn jwks(&self) -> Value {
        json!({ "keys": [rsa_public_jwk(&self.key.rsa().unwrap(), &self.kid)] })
    }

    pub(crate) fn config(&self) -> KeyReleaseAuthority {
        KeyReleaseAuthority {
            issuer: ISSUER.into(),
            jwks_file: Some(self.jwks_file.clone()),
            jwks_url: None,
            ca_file: None,
        }
    }

    /// An RS256 token over `claims`, signed by `key` under this authority's kid.
    fn sign_with(&self, key: &PKey<Private>, claims: &Value) -> String {
        let h = B64.encode(json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" }).to_string());
        let input = format!("{h}.{}", B64.encode(claims.to_string()));
        let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
        s.update(input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(s.sign_to_vec().unwrap()))
    }

    pub(crate) fn mint(&self, claims: &Value) -> String {
        self.sign_with(&self.key, claims)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of an SEV-SNP confidential VM's token carrying `runtime` as its ephemeral encryption key.
pub(crate) fn claims(runtime: &Rsa<Private>, attestation_type: &str) -> Value {
    let mut key = rsa_public_jwk(runtime, "TpmEphemeralEncryptionKey");
    key["key_ops"] = json!(["encrypt"]);
    json!({
        "iss": ISSUER, "iat": now(), "nbf": now(), "exp": now() + 600,
        "x-ms-attestation-type": attestation_type,
        "x-ms-compliance-status": "azure-compliant-cvm",
        "x-ms-runtime": { "keys": [key] },
    })
}

pub(crate) fn policy(claim: &str, equals: &str) -> Value {
    json!({ "version": "1.0.0", "anyOf": [{ "authority": ISSUER, "allOf": [{ "claim": claim, "equals": equals }] }] })
}

pub(crate) fn release_policy(p: &Value, immutable: bool) -> Value {
    json!({
        "contentType": "application/json; charset=utf-8",
        "data": B64.encode(p.to_string()),
        "immutable": immutable,
    })
}

async fn start(authority: &Authority) -> TestServer {
    let cfg = authority.config();
    TestServer::start_with(move |c| c.key_release_authorities = vec![cfg], None).await
}

async fn call(raw: &Raw, m: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let sep = if path.contains('?') { '&' } else { '?' };
    raw.call(
        m,
        &format!("{path}{sep}api-version=7.6"),
        body.map(|b| serde_json::to_vec(&b).unwrap()),
    )
    .await
}

/// Checks a release answer as its receiver would and returns the released private key and the JWS payload.
async fn open_release(
    ts: &TestServer,
    jws: &str,
    runtime: &Rsa<Private>,
) -> (PKey<Private>, Value) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    // The key that signed it is the one the header's jku publishes.
    let jku = header["jku"].as_str().expect("jku");
    let jwks: Value = ts
        .http(&[])
        .get(jku)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signer = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the JWS's kid is published");
    let bn =
        |f: &str| BigNum::from_slice(&B64.decode(signer[f].as_str().unwrap()).unwrap()).unwrap();
    let pubkey: PKey<Public> =
        PKey::from_rsa(Rsa::from_public_components(bn("n"), bn("e")).unwrap()).unwrap();
    let mut v = Verifier::new(MessageDigest::sha256(), &pubkey).unwrap();
    v.update(format!("{}.{}", parts[0], parts[1]).as_bytes())
        .unwrap();
    assert!(
        v.verify(&B64.decode(parts[2]).unwrap()).unwrap(),
        "the JWS signature verifies"
    );
    let payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();

    let key = &payload["response"]["key"]["key"];
    let key_hsm: Value =
        serde_json::from_slice(&B64.decode(key["key_hsm"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(key_hsm["header"]["alg"], "dir");
    assert_eq!(key_hsm["header"]["kid"], "TpmEphemeralEncryptionKey");
    let enc = key_hsm["header"]["enc"].as_str().unwrap();
    assert_eq!(payload["request"]["enc"], enc);
    let md = match enc {
        "CKM_RSA_AES_KEY_WRAP" => openssl::md::Md::sha1(),
        "RSA_AES_KEY_WRAP_256" => openssl::md::Md::sha256(),
        "RSA_AES_KEY_WRAP_384" => openssl::md::Md::sha384(),
        other => panic!("unexpected enc {other}"),
    };
    let blob = B64.decode(key_hsm["ciphertext"].as_str().unwrap()).unwrap();
    let k = runtime.size() as usize;
    let rpkey = PKey::from_rsa(runtime.clone()).unwrap();
    let mut ctx = PkeyCtx::new(&rpkey).unwrap();
    ctx.decrypt_init().unwrap();
    ctx.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
    ctx.set_rsa_oaep_md(md).unwrap();
    ctx.set_rsa_mgf1_md(md).unwrap();
    let mut aes = Vec::new();
    ctx.decrypt_to_vec(&blob[..k], &mut aes).unwrap();
    assert_eq!(aes.len(), 32, "an AES-256 transport key");
    let mut kw = CipherCtx::new().unwrap();
    kw.set_flags(CipherCtxFlags::FLAG_WRAP_ALLOW);
    kw.decrypt_init(Some(Cipher::aes_256_wrap_pad()), Some(&aes), None)
        .unwrap();
    let mut pkcs8 = Vec::new();
    kw.cipher_update_vec(&blob[k..], &mut pkcs8).unwrap();
    kw.cipher_final_vec(&mut pkcs8).unwrap();
    let released = PKey::private_key_from_pkcs8(&pkcs8).unwrap();
    // The public half matches the key the JWS names.
    if let Ok(rsa) = released.rsa() {
        assert_eq!(B64.encode(rsa.n().to_vec()), key["n"].as_str().unwrap());
    } else {
        let ec = released.ec_key().unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
            .unwrap();
        assert_eq!(
            B64.encode(x.to_vec_padded(32).unwrap()),
            key["x"].as_str().unwrap()
        );
        assert_eq!(
            B64.encode(y.to_vec_padded(32).unwrap()),
            key["y"].as_str().unwrap()
        );
    }
    (released, payload)
}

/// The released key signs; the vault's key verifies: they are the same key.
async fn same_key_as_vault(raw: &Raw, name: &str, released: &PKey<Private>) {
    let digest = openssl::sha::sha256(b"released to an attested environment");
    let (alg, sig) = match released.ec_key() {
        Ok(ec) => {
            let s = openssl::ecdsa::EcdsaSig::sign(&digest, &ec).unwrap();
            let mut raw_sig = s.r().to_vec_padded(32).unwrap();
            raw_sig.extend(s.s().to_vec_padded(32).unwrap());
            ("ES256", raw_sig)
        }
        Err(_) => {
            let mut ctx = PkeyCtx::new(released).unwrap();
            ctx.sign_init().unwrap();
            ctx.set_rsa_padding(Padding::PKCS1).unwrap();
            ctx.set_signature_md(openssl::md::Md::sha256()).unwrap();
            let mut sig = Vec::new();
            ctx.sign_to_vec(&digest, &mut sig).unwrap();
            ("RS256", sig)
        }
    };
    let (s, v) = call(
        raw,
        Method::POST,
        &format!("/keys/{name}//verify"),
        Some(json!({ "alg": alg, "digest": B64.encode(digest), "value": B64.encode(sig) })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["value"], true,
        "the vault's key verifies the released key's signature"
    );
}

async fn create_exportable(raw: &Raw, name: &str, p: &Value, immutable: bool) -> Value {
    let (s, v) = call(
        raw,
        Method::POST,
        &format!("/keys/{name}/create"),
        Some(json!({
            "kty": "RSA", "key_size": 2048,
            "attributes": { "exportable": true },
            "release_policy": release_policy(p, immutable),
        })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn version_of(bundle: &Value) -> String {
    bundle["key"]["kid"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_attested_environment_gets_the_key_and_others_are_refused() {
    let authority = Authority::new();
    let ts = start(&authority).await;
    let raw = Raw::new(&ts).await;
    let runtime = Rsa::generate(2048).unwrap();
    let p = policy("x-ms-attestation-type", "sevsnpvm");
    let bundle = create_exportable(&raw, "skr", &p, false).await;
    let version = version_of(&bundle);

    // The key shows what it was made with.
    let (s, got) = call(&raw, Method::GET, &format!("/keys/skr/{version}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["attributes"]["exportable"], true, "{got}");
    assert_eq!(
        got["release_policy"]["contentType"],
        "application/json; charset=utf-8"
    );
    assert_eq!(got["release_policy"]["immutable"], false);
    let data = B64
        .decode(got["release_policy"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&data).unwrap(), p);

    // Released, with each wrapping, to the holder of the runtime key; by version and as the latest.
    let token = authority.mint(&claims(&runtime, "sevsnpvm"));
    for (path, enc) in [
        (
            format!("/keys/skr/{version}/release"),
            Some("RSA_AES_KEY_WRAP_256"),
        ),
        ("/keys/skr/release".to_string(), None),
        (
            format!("/keys/skr/{version}/release"),
            Some("RSA_AES_KEY_WRAP_384"),
        ),
    ] {
        let mut body = json!({ "target": token, "nonce": "n-123" });
        if let Some(e) = enc {
            body["enc"] = json!(e);
        }
        let (s, v) = call(&raw, Method::POST, &path, Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        let (released, payload) = open_release(&ts, v["value"].as_str().unwrap(), &runtime).await;
        assert_eq!(
            payload["request"]["enc"],
            enc.unwrap_or("CKM_RSA_AES_KEY_WRAP")
        );
        assert_eq!(payload["request"]["nonce"], "n-123");
        assert_eq!(
            payload["response"]["key"]["key"]["kid"],
            bundle["key"]["kid"]
        );
        assert_eq!(payload["response"]["key"]["attributes"]["exportable"], true);
        assert!(
            payload["response"]["key"]["key"].get("d").is_none(),
            "no private part in the clear"
        );
        same_key_as_vault(&raw, "skr", &released).await;
    }

    // An EC key is released the same way (PKCS#8 inside the wrapping).
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/skr-ec/create",
        Some(
            json!({ "kty": "EC", "crv": "P-256", "attributes": { "exportable": true },
                     "release_policy": release_policy(&p, false) }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/skr-ec/release",
        Some(json!({ "target": token })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (released, _) = open_release(&ts, v["value"].as_str().unwrap(), &runtime).await;
    assert!(released.ec_key().is_ok());
    same_key_as_vault(&raw, "skr-ec", &released).await;

    // Refusals: 403 with the failing part named, and never key material.
    let mut expired = claims(&runtime, "sevsnpvm");
    expired["exp"] = json!(now() - 3600);
    expired["nbf"] = json!(now() - 7200);
    let mut foreign = claims(&runtime, "sevsnpvm");
    foreign["iss"] = json!("https://attest.elsewhere.test");
    let mut no_runtime = claims(&runtime, "sevsnpvm");
    no_runtime.as_object_mut().unwrap().remove("x-ms-runtime");
    let mut future = claims(&runtime, "sevsnpvm");
    future["nbf"] = json!(now() + 3600);
    let impostor = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let cases = [
        (
            "wrong claim",
            authority.mint(&claims(&runtime, "sgx")),
            "release policy",
        ),
        (
            "bad signature",
            authority.sign_with(&impostor, &claims(&runtime, "sevsnpvm")),
            "signature",
        ),
        (
            "untrusted issuer",
            authority.mint(&foreign),
            "not a trusted attestation authority",
        ),
        ("expired", authority.mint(&expired), "expired"),
        ("not yet valid", authority.mint(&future), "not valid yet"),
        ("no runtime key", authority.mint(&no_runtime), "runtime"),
        ("not a JWS", "not-a-token".to_string(), "malformed"),
    ];
    for (what, target, says) in cases {
        let (s, v) = call(
            &raw,
            Method::POST,
            &format!("/keys/skr/{version}/release"),
            Some(json!({ "target": target })),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {v}");
        assert_eq!(v["error"]["code"], "Forbidden", "{what}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(says), "{what}: {msg}");
        assert!(!v.to_string().contains("key_hsm"), "{what}");
    }

    // A bad enc is a bad request; a key that is not exportable is not released.
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/skr/release",
        Some(json!({ "target": token, "enc": "A256KW" })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = call(
        &raw,
        Method::POST,
        "/keys/plain/create",
        Some(json!({ "kty": "RSA" })),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/plain/release",
        Some(json!({ "target": token })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not exportable"),
        "{v}"
    );
    let (_, v) = call(&raw, Method::GET, "/keys/plain", None).await;
    assert_eq!(v["attributes"]["exportable"], false, "{v}");
    assert!(v.get("release_policy").is_none(), "{v}");
}

#[tokio::test]
async fn release_settings_are_checked_when_written_and_kept_by_backup() {
    let authority = Authority::new();
    let ts = start(&authority).await;
    let raw = Raw::new(&ts).await;
    let p = policy("x-ms-attestation-type", "sevsnpvm");

    // Refused when written, and nothing is written.
    let rsa = Rsa::generate(2048).unwrap();
    let b = |n: &openssl::bn::BigNumRef| B64.encode(n.to_vec());
    let jwk = json!({ "kty": "RSA", "n": b(rsa.n()), "e": b(rsa.e()), "d": b(rsa.d()),
        "p": b(rsa.p().unwrap()), "q": b(rsa.q().unwrap()), "dp": b(rsa.dmp1().unwrap()),
        "dq": b(rsa.dmq1().unwrap()), "qi": b(rsa.iqmp().unwrap()) });
    let bad_grammar = json!({ "anyOf": [{ "authority": ISSUER, "allOf": [{ "claim": "x", "resembles": "y" }] }] });
    let refused = [
        (
            "exportable without a policy",
            Method::POST,
            "/keys/k/create",
            json!({ "kty": "RSA", "attributes": { "exportable": true } }),
            "needs a release policy",
        ),
        (
            "a policy without exportable",
            Method::POST,
            "/keys/k/create",
            json!({ "kty": "RSA", "release_policy": release_policy(&p, false) }),
            "Non-exportable",
        ),
        (
            "a policy that does not parse",
            Method::POST,
            "/keys/k/create",
            json!({ "kty": "RSA", "attributes": { "exportable": true },
                 "release_policy": release_policy(&bad_grammar, false) }),
            "unknown operator",
        ),
        (
            "data that is not base64url",
            Method::POST,
            "/keys/k/create",
            json!({ "kty": "RSA", "attributes": { "exportable": true },
                 "release_policy": { "data": "***" } }),
            "base64url",
        ),
        (
            "import exportable without a policy",
            Method::PUT,
            "/keys/k",
            json!({ "key": jwk, "attributes": { "exportable": true } }),
            "needs a release policy",
        ),
    ];
    for (what, m, path, body, says) in refused {
        let (s, v) = call(&raw, m, path, Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{what}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{what}: {v}"
        );
        let (s, _) = call(&raw, Method::GET, "/keys/k", None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{what} wrote a key");
    }

    // Import takes both.
    let (s, v) = call(
        &raw,
        Method::PUT,
        "/keys/imported",
        Some(json!({ "key": jwk, "attributes": { "exportable": true },
                     "release_policy": release_policy(&p, false) })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["attributes"]["exportable"], true);

    // An immutable policy is never replaced; exportable never changes.
    create_exportable(&raw, "fixed", &p, true).await;
    let other = policy("x-ms-compliance-status", "azure-compliant-cvm");
    let (s, v) = call(
        &raw,
        Method::PATCH,
        "/keys/fixed",
        Some(json!({ "release_policy": release_policy(&other, false), "tags": { "t": "1" } })),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("immutable"),
        "{v}"
    );
    let (s, v) = call(
        &raw,
        Method::PATCH,
        "/keys/fixed",
        Some(json!({ "attributes": { "exportable": false } })),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, got) = call(&raw, Method::GET, "/keys/fixed", None).await;
    assert_eq!(got["release_policy"]["immutable"], true);
    assert_eq!(got["attributes"]["exportable"], true);
    assert!(
        got.get("tags").is_none(),
        "a refused update changes nothing: {got}"
    );
    let data = B64
        .decode(got["release_policy"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&data).unwrap(), p);

    // A mutable policy is replaced, and the release follows the new one.
    let runtime = Rsa::generate(2048).unwrap();
    create_exportable(&raw, "mutable", &p, false).await;
    let (s, v) = call(&raw, Method::PATCH, "/keys/mutable",
        Some(json!({ "release_policy": release_policy(&policy("x-ms-attestation-type", "tdxvm"), true) }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["release_policy"]["immutable"], true);
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/mutable/release",
        Some(json!({ "target": authority.mint(&claims(&runtime, "sevsnpvm")) })),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "the old policy no longer releases: {v}"
    );
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/mutable/release",
        Some(json!({ "target": authority.mint(&claims(&runtime, "tdxvm")) })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Backup, purge and restore: the key comes back exportable with its policy, and still releases.
    let (s, blob) = call(&raw, Method::POST, "/keys/mutable/backup", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&raw, Method::DELETE, "/keys/mutable", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&raw, Method::DELETE, "/deletedkeys/mutable", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, restored) = call(
        &raw,
        Method::POST,
        "/keys/restore",
        Some(json!({ "value": blob["value"] })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{restored}");
    assert_eq!(restored["attributes"]["exportable"], true);
    assert_eq!(restored["release_policy"]["immutable"], true);
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/mutable/release",
        Some(json!({ "target": authority.mint(&claims(&runtime, "tdxvm")) })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (released, _) = open_release(&ts, v["value"].as_str().unwrap(), &runtime).await;
    same_key_as_vault(&raw, "mutable", &released).await;

    // A rotated exportable key stays exportable under the same policy.
    let (s, v) = call(&raw, Method::POST, "/keys/mutable/rotate", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["attributes"]["exportable"], true);
    assert_eq!(v["release_policy"], restored["release_policy"]);
}

#[tokio::test]
async fn the_rust_sdk_creates_an_exportable_key_and_releases_it() {
    let authority = Authority::new();
    let ts = start(&authority).await;
    let c = key_client(&ts, "default");
    let runtime = Rsa::generate(2048).unwrap();

    let mut attrs = KeyAttributes::default();
    attrs.exportable = Some(true);
    let mut rp = KeyReleasePolicy::default();
    rp.content_type = Some("application/json; charset=utf-8".into());
    rp.encoded_policy = Some(
        policy("x-ms-attestation-type", "sevsnpvm")
            .to_string()
            .into_bytes(),
    );
    let mut p = CreateKeyParameters::default();
    p.kty = Some(KeyType::Rsa);
    p.key_attributes = Some(attrs);
    p.release_policy = Some(rp);
    let key = c
        .create_key("sdk-skr", p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(key.attributes.as_ref().unwrap().exportable, Some(true));
    assert!(key
        .release_policy
        .as_ref()
        .unwrap()
        .encoded_policy
        .is_some());
    let version = key
        .key
        .as_ref()
        .unwrap()
        .kid
        .as_ref()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    let release = |token: String| {
        let mut r = ReleaseParameters::default();
        r.target_attestation_token = Some(token);
        r.algorithm = Some(KeyEncryptionAlgorithm::RsaAesKeyWrap256);
        r.nonce = Some("sdk-nonce".into());
        r
    };
    let opts = || {
        Some(KeyClientReleaseOptions {
            key_version: Some(version.clone()),
            ..Default::default()
        })
    };
    let out = c
        .release(
            "sdk-skr",
            release(authority.mint(&claims(&runtime, "sevsnpvm")))
                .try_into()
                .unwrap(),
            opts(),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let (released, payload) = open_release(&ts, &out.value.unwrap(), &runtime).await;
    assert_eq!(payload["request"]["nonce"], "sdk-nonce");
    let raw = Raw::new(&ts).await;
    same_key_as_vault(&raw, "sdk-skr", &released).await;

    let err = c
        .release(
            "sdk-skr",
            release(authority.mint(&claims(&runtime, "sgx")))
                .try_into()
                .unwrap(),
            opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&err), 403);
}

/// Serves a JWKS over plain HTTP on loopback (as an authority's key endpoint would over HTTPS), counting requests.
struct JwksEndpoint {
    url: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksEndpoint {
    fn serve(jwks: &Value) -> JwksEndpoint {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/certs", listener.local_addr().unwrap());
        let body = std::sync::Arc::new(std::sync::Mutex::new(jwks.to_string()));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (b, h) = (body.clone(), hits.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = b.lock().unwrap().clone();
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksEndpoint { url, body, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_jwks_url_are_fetched_and_refreshed_when_the_authority_rotates() {
    let first = Authority::with_kid("signing-2025");
    let endpoint = JwksEndpoint::serve(&first.jwks());
    let url = endpoint.url.clone();
    let ts = TestServer::start_with(
        move |c| {
            c.key_release_authorities = vec![KeyReleaseAuthority {
                issuer: ISSUER.into(),
                jwks_file: None,
                jwks_url: Some(url),
                ca_file: None,
            }]
        },
        None,
    )
    .await;
    let raw = Raw::new(&ts).await;
    let runtime = Rsa::generate(2048).unwrap();
    create_exportable(
        &raw,
        "fetched",
        &policy("x-ms-attestation-type", "sevsnpvm"),
        false,
    )
    .await;
    let release = |target: String| Some(json!({ "target": target }));

    // Fetched at first use.
    assert_eq!(
        endpoint.hits(),
        0,
        "nothing is fetched before a release needs it"
    );
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/fetched/release",
        release(first.mint(&claims(&runtime, "sevsnpvm"))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (released, _) = open_release(&ts, v["value"].as_str().unwrap(), &runtime).await;
    same_key_as_vault(&raw, "fetched", &released).await;
    assert_eq!(endpoint.hits(), 1);

    // The authority rotates its key. Right after a fetch, an unknown kid does not make the server fetch again …
    let second = Authority::with_kid("signing-2026");
    *endpoint.body.lock().unwrap() = second.jwks().to_string();
    let token = second.mint(&claims(&runtime, "sevsnpvm"));
    for _ in 0..3 {
        let (s, v) = call(
            &raw,
            Method::POST,
            "/keys/fetched/release",
            release(token.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("does not publish"),
            "{v}"
        );
    }
    assert_eq!(
        endpoint.hits(),
        1,
        "unknown kids do not make the server fetch in a loop"
    );
    // … but once the refresh interval has passed, it does — once for requests arriving together — and the new key
    // is trusted; the old one no longer.
    tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
    let together = (0..4).map(|_| {
        call(
            &raw,
            Method::POST,
            "/keys/fetched/release",
            release(token.clone()),
        )
    });
    for (s, v) in futures::future::join_all(together).await {
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert_eq!(
        endpoint.hits(),
        2,
        "one fetch for the requests that needed it together"
    );
    let (s, v) = call(
        &raw,
        Method::POST,
        "/keys/fetched/release",
        release(first.mint(&claims(&runtime, "sevsnpvm"))),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_vault_backup_keeps_release_policies() {
    let authority = Authority::new();
    let ts = start(&authority).await;
    ts.create_vault("dst").await;
    let raw = Raw::new(&ts).await;
    let p = policy("x-ms-attestation-type", "sevsnpvm");
    create_exportable(&raw, "kept", &p, true).await;

    let http = ts.http(&["default", "dst"]);
    let token = ts.admin_token().await;
    let (src, dst) = (ts.vault_url("default"), ts.vault_url("dst"));
    let resp = http
        .post(format!("{src}/backup?api-version=7.5"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let pending = resp.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let status: Value = resp.json().await.unwrap();
    let id = status["jobId"].as_str().unwrap().to_string();
    let status = finished(&http, &token, status, &pending).await;
    assert_eq!(status["status"], "Succeeded", "{status}");

    let resp = http
        .put(format!(
            "{dst}/keys/kept/restore?api-version=7.5&backupId={id}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let status: Value = resp.json().await.unwrap();
    let rid = status["jobId"].as_str().unwrap().to_string();
    let status = finished(
        &http,
        &token,
        status,
        &format!("{dst}/restore/{rid}/pending?api-version=7.5"),
    )
    .await;
    assert_eq!(status["status"], "Succeeded", "{status}");

    let got: Value = http
        .get(format!("{dst}/keys/kept?api-version=7.6"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["attributes"]["exportable"], true, "{got}");
    assert_eq!(got["release_policy"]["immutable"], true, "{got}");
    let data = B64
        .decode(got["release_policy"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&data).unwrap(), p);
    // The restored key releases from its new vault.
    let runtime = Rsa::generate(2048).unwrap();
    let resp = http
        .post(format!("{dst}/keys/kept/release?api-version=7.6"))
        .bearer_auth(&token)
        .json(&json!({ "target": authority.mint(&claims(&runtime, "sevsnpvm")) }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let (released, payload) = open_release(&ts, v["value"].as_str().unwrap(), &runtime).await;
    assert_eq!(payload["response"]["key"]["key"]["n"], got["key"]["n"]);
    same_key_as_vault(&raw, "kept", &released).await;
}

/// A principal with `role` on the vault (made through the management API), and a data-plane token for it.
async fn principal_with(ts: &TestServer, role: &str, assignment: &str) -> String {
    let http = ts.http(&["default"]);
    let mgmt = ts.management_token().await;
    let p: Value = http
        .post(format!("{}/_keyhaven/principals", ts.authority()))
        .bearer_auth(&mgmt)
        .json(&json!({ "displayName": "attested-app" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .put(format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{assignment}?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(ts.admin_token().await)
        .json(&json!({ "properties": {
            "roleDefinitionId": format!("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": p["objectId"],
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let t: Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            ts.authority(),
            ts.admin.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", p["clientId"].as_str().unwrap()),
            ("client_secret", p["clientSecret"].as_str().unwrap()),
            (
                "scope",
                &format!("https://vault.localhost:{}/.default", ts.port()),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn release_needs_the_release_action() {
    const RELEASE_USER: &str = "08bbd89e-9f13-488c-ac41-acfcb10c90ab";
    const CRYPTO_USER: &str = "12338af0-0e69-4776-bea7-57ae8d297424";
    let authority = Authority::new();
    let ts = start(&authority).await;
    let raw = Raw::new(&ts).await;
    create_exportable(
        &raw,
        "guarded",
        &policy("x-ms-attestation-type", "sevsnpvm"),
        false,
    )
    .await;
    let runtime = Rsa::generate(2048).unwrap();
    let target = authority.mint(&claims(&runtime, "sevsnpvm"));
    let http = ts.http(&["default"]);
    let url = |op: &str| {
        format!(
            "{}/keys/guarded{op}?api-version=7.6",
            ts.vault_url("default")
        )
    };

    // Crypto Service Release User releases, and may do nothing else.
    let releaser = principal_with(&ts, RELEASE_USER, "3f0c6a1e-8d2b-4e7a-9c10-5b6d7e8f9a01").await;
    let r = http
        .post(url("/release"))
        .bearer_auth(&releaser)
        .json(&json!({ "target": target }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    open_release(&ts, v["value"].as_str().unwrap(), &runtime).await;
    let r = http
        .get(url(""))
        .bearer_auth(&releaser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Crypto User may use the key but not release it: refused before the token is looked at.
    let user = principal_with(&ts, CRYPTO_USER, "4a1d7b2f-9e3c-4f8b-8d21-6c7e8f9a0b12").await;
    let r = http
        .post(url("/release"))
        .bearer_auth(&user)
        .json(&json!({ "target": target }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["innererror"]["code"], "ForbiddenByRbac", "{v}");
    let r = http.get(url("")).bearer_auth(&user).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
