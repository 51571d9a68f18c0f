//! Keys through the official `azure_security_keyvault_keys` client: management, every cryptographic operation,
//! rotation, policies, backup and restore, and interop with the OpenSSL command line.

use crate::sdk::{key_client, status};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, CurveName, EncryptionAlgorithm, GetRandomBytesParameters,
    ImportKeyParameters, JsonWebKey, KeyAttributes, KeyClientGetKeyOptions, KeyOperation,
    KeyOperationParameters, KeyRotationPolicy, KeyRotationPolicyAction, KeyType, LifetimeAction,
    LifetimeActionTrigger, LifetimeActionType, RestoreKeyParameters, SignParameters,
    SignatureAlgorithm, UpdateKeyPropertiesParameters, VerifyParameters,
};
use azure_security_keyvault_keys::{KeyClient, ResourceExt};
use futures::TryStreamExt;
use keyhaven_testkit::TestServer;
use std::process::Command;

async fn create(
    c: &KeyClient,
    name: &str,
    kty: KeyType,
    size: Option<i32>,
    crv: Option<CurveName>,
) -> azure_security_keyvault_keys::models::Key {
    let mut p = CreateKeyParameters::default();
    p.kty = Some(kty);
    p.key_size = size;
    p.curve = crv;
    c.create_key(name, p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    keyhaven_crypto::sha256(data).to_vec()
}

async fn sign(
    c: &KeyClient,
    name: &str,
    alg: SignatureAlgorithm,
    digest: Vec<u8>,
) -> Result<Vec<u8>, u16> {
    let mut p = SignParameters::default();
    p.algorithm = Some(alg);
    p.value = Some(digest);
    match c.sign(name, p.try_into().unwrap(), None).await {
        Ok(r) => Ok(r.into_model().unwrap().result.unwrap()),
        Err(e) => Err(status(&e)),
    }
}

async fn verify(
    c: &KeyClient,
    name: &str,
    alg: SignatureAlgorithm,
    digest: Vec<u8>,
    sig: Vec<u8>,
) -> bool {
    let mut p = VerifyParameters::default();
    p.algorithm = Some(alg);
    p.digest = Some(digest);
    p.signature = Some(sig);
    c.verify(name, "", p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap()
}

fn op_params(alg: EncryptionAlgorithm, value: Vec<u8>) -> KeyOperationParameters {
    let mut p = KeyOperationParameters::default();
    p.algorithm = Some(alg);
    p.value = Some(value);
    p
}

#[tokio::test]
async fn key_management_and_every_operation_through_the_sdk() {
    key_operations(&TestServer::start().await).await;
}

/// The flow of [`key_management_and_every_operation_through_the_sdk`] on the server `ts` (run on PostgreSQL too: `postgres_sdk`).
pub async fn key_operations(ts: &TestServer) {
    let c = key_client(ts, "default");

    // RSA: create, public parts only, sign/verify, encrypt/decrypt, wrap/unwrap.
    let rsa = create(&c, "rsa", KeyType::Rsa, Some(2048), None).await;
    let jwk = rsa.key.as_ref().unwrap();
    assert!(jwk.n.as_ref().unwrap().len() == 256 && jwk.e.is_some());
    assert!(
        jwk.d.is_none()
            && jwk.p.is_none()
            && jwk.q.is_none()
            && jwk.dp.is_none()
            && jwk.qi.is_none()
    );
    let digest = sha256(b"hello");
    for alg in [SignatureAlgorithm::Rs256, SignatureAlgorithm::Ps256] {
        let sig = sign(&c, "rsa", alg.clone(), digest.clone()).await.unwrap();
        assert!(verify(&c, "rsa", alg.clone(), digest.clone(), sig.clone()).await);
        assert!(!verify(&c, "rsa", alg, sha256(b"other"), sig).await);
    }
    assert_eq!(
        sign(&c, "rsa", SignatureAlgorithm::Rs256, vec![0; 20]).await,
        Err(400),
        "digest length must match"
    );
    assert_eq!(
        sign(&c, "rsa", SignatureAlgorithm::Es256, digest.clone()).await,
        Err(400),
        "algorithm for another key type"
    );
    for alg in [
        EncryptionAlgorithm::RsaOaep256,
        EncryptionAlgorithm::RsaOaep,
        EncryptionAlgorithm::Rsa1_5,
    ] {
        let ct = c
            .encrypt(
                "rsa",
                op_params(alg.clone(), b"plain".to_vec())
                    .try_into()
                    .unwrap(),
                None,
            )
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert!(ct.kid.as_deref().unwrap().contains("/keys/rsa/"));
        let pt = c
            .decrypt(
                "rsa",
                "",
                op_params(alg.clone(), ct.result.unwrap())
                    .try_into()
                    .unwrap(),
                None,
            )
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(pt.result.as_deref(), Some(&b"plain"[..]));
        let w = c
            .wrap_key(
                "rsa",
                op_params(alg.clone(), vec![7; 32]).try_into().unwrap(),
                None,
            )
            .await
            .unwrap()
            .into_model()
            .unwrap();
        let u = c
            .unwrap_key(
                "rsa",
                "",
                op_params(alg, w.result.unwrap()).try_into().unwrap(),
                None,
            )
            .await
            .unwrap()
            .into_model()
            .unwrap();
        assert_eq!(u.result, Some(vec![7; 32]));
    }

    // EC curves.
    for (name, crv, alg, len) in [
        ("ec256", CurveName::P256, SignatureAlgorithm::Es256, 32),
        ("ec256k", CurveName::P256K, SignatureAlgorithm::Es256K, 32),
        ("ec384", CurveName::P384, SignatureAlgorithm::Es384, 48),
        ("ec521", CurveName::P521, SignatureAlgorithm::Es512, 64),
    ] {
        create(&c, name, KeyType::Ec, None, Some(crv)).await;
        let d = vec![9u8; len];
        let sig = sign(&c, name, alg.clone(), d.clone()).await.unwrap();
        assert!(verify(&c, name, alg, d, sig).await, "{name}");
    }

    // oct: AES-GCM with aad and tag, AES-CBC, AES key wrap.
    create(&c, "aes", KeyType::Oct, Some(256), None).await;
    let mut p = op_params(EncryptionAlgorithm::A256Gcm, b"secret data".to_vec());
    p.additional_authenticated_data = Some(b"context".to_vec());
    let ct = c
        .encrypt("aes", p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let mut d = op_params(EncryptionAlgorithm::A256Gcm, ct.result.clone().unwrap());
    d.iv = ct.iv.clone();
    d.authentication_tag = ct.authentication_tag.clone();
    d.additional_authenticated_data = Some(b"context".to_vec());
    let pt = c
        .decrypt("aes", "", d.clone().try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(pt.result.as_deref(), Some(&b"secret data"[..]));
    d.additional_authenticated_data = Some(b"other".to_vec());
    assert_eq!(
        status(
            &c.decrypt("aes", "", d.try_into().unwrap(), None)
                .await
                .unwrap_err()
        ),
        400,
        "GCM refuses other aad"
    );
    let w = c
        .wrap_key(
            "aes",
            op_params(EncryptionAlgorithm::A256Kw, vec![1; 32])
                .try_into()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let u = c
        .unwrap_key(
            "aes",
            "",
            op_params(EncryptionAlgorithm::A256Kw, w.result.unwrap())
                .try_into()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(u.result, Some(vec![1; 32]));
    let cbc = c
        .encrypt(
            "aes",
            op_params(EncryptionAlgorithm::A256Cbcpad, b"abc".to_vec())
                .try_into()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let mut d = op_params(EncryptionAlgorithm::A256Cbcpad, cbc.result.unwrap());
    d.iv = cbc.iv;
    assert_eq!(
        c.decrypt("aes", "", d.try_into().unwrap(), None)
            .await
            .unwrap()
            .into_model()
            .unwrap()
            .result
            .as_deref(),
        Some(&b"abc"[..])
    );

    // key_ops are enforced: an EC key made for sign/verify cannot encrypt; a restricted RSA key cannot sign.
    let mut u = UpdateKeyPropertiesParameters::default();
    u.key_ops = Some(vec![KeyOperation::Verify]);
    c.update_key_properties("rsa", u.try_into().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        sign(&c, "rsa", SignatureAlgorithm::Rs256, digest.clone()).await,
        Err(403)
    );
    // Disabled keys refuse operations.
    let mut u = UpdateKeyPropertiesParameters::default();
    let mut a = KeyAttributes::default();
    a.enabled = Some(false);
    u.key_attributes = Some(a);
    c.update_key_properties("ec256", u.try_into().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        sign(&c, "ec256", SignatureAlgorithm::Es256, vec![1; 32]).await,
        Err(403)
    );

    // Random bytes.
    let mut r = GetRandomBytesParameters::default();
    r.count = Some(64);
    let rb = c
        .get_random_bytes(r.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(rb.value.unwrap().len(), 64);

    // Rotation makes a new version of the same kind; old versions keep working by version.
    let before = c.get_key("aes", None).await.unwrap().into_model().unwrap();
    let rotated = c
        .rotate_key("aes", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_ne!(
        rotated.resource_id().unwrap().version,
        before.resource_id().unwrap().version
    );
    let mut o = KeyClientGetKeyOptions::default();
    o.key_version = before.resource_id().unwrap().version;
    assert!(c.get_key("aes", Some(o)).await.is_ok());
    let versions: Vec<_> = c
        .list_key_properties_versions("aes", None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    let all: Vec<_> = c
        .list_key_properties(None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 6);

    // Rotation policy: Azure's default when unset; set and read back.
    let default_policy = c
        .get_key_rotation_policy("aes", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(default_policy.lifetime_actions.unwrap().len(), 1);
    let mut pol = KeyRotationPolicy::default();
    let mut trig = LifetimeActionTrigger::default();
    trig.time_after_create = Some("P90D".into());
    let mut act = LifetimeActionType::default();
    act.type_prop = Some(KeyRotationPolicyAction::Rotate);
    let mut la = LifetimeAction::default();
    la.trigger = Some(trig);
    la.action = Some(act);
    pol.lifetime_actions = Some(vec![la]);
    let saved = c
        .update_key_rotation_policy("aes", pol.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        saved.lifetime_actions.unwrap()[0]
            .trigger
            .as_ref()
            .unwrap()
            .time_after_create
            .as_deref(),
        Some("P90D")
    );

    // Backup with all versions, delete, purge, restore; the policy comes back too.
    let blob = c
        .backup_key("aes", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    c.delete_key("aes", None).await.unwrap();
    assert_eq!(
        c.list_deleted_key_properties(None)
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len(),
        1
    );
    c.get_deleted_key("aes", None).await.unwrap();
    let mut rp = RestoreKeyParameters::default();
    rp.key_backup = Some(blob.clone());
    assert_eq!(
        status(
            &c.restore_key(rp.try_into().unwrap(), None)
                .await
                .unwrap_err()
        ),
        409
    );
    c.purge_deleted_key("aes", None).await.unwrap();
    let mut rp = RestoreKeyParameters::default();
    rp.key_backup = Some(blob);
    c.restore_key(rp.try_into().unwrap(), None).await.unwrap();
    assert_eq!(
        c.list_key_properties_versions("aes", None)
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len(),
        2
    );
    let w = c
        .wrap_key(
            "aes",
            op_params(EncryptionAlgorithm::A256Kw, vec![2; 16])
                .try_into()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert!(w.result.is_some(), "the restored key works");
    let pol = c
        .get_key_rotation_policy("aes", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        pol.lifetime_actions.unwrap()[0]
            .trigger
            .as_ref()
            .unwrap()
            .time_after_create
            .as_deref(),
        Some("P90D")
    );

    // Recover.
    c.delete_key("ec384", None).await.unwrap();
    c.recover_deleted_key("ec384", None).await.unwrap();
    assert!(c.get_key("ec384", None).await.is_ok());
}

fn openssl(args: &[&str], dir: &std::path::Path) -> std::process::Output {
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
    out
}

fn import_params(jwk: JsonWebKey) -> azure_core::http::RequestContent<ImportKeyParameters> {
    let mut p = ImportKeyParameters::default();
    p.key = Some(jwk);
    p.try_into().unwrap()
}

#[tokio::test]
async fn interop_with_the_openssl_command_line() {
    let ts = TestServer::start().await;
    let c = key_client(&ts, "default");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // An RSA key made by OpenSSL, imported as a JWK.
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
        d,
    );
    openssl(
        &["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem"],
        d,
    );
    let rsa = openssl::rsa::Rsa::private_key_from_pem(&std::fs::read(d.join("rsa.pem")).unwrap())
        .unwrap();
    let mut jwk = JsonWebKey::default();
    jwk.kty = Some(KeyType::Rsa);
    jwk.n = Some(rsa.n().to_vec());
    jwk.e = Some(rsa.e().to_vec());
    jwk.d = Some(rsa.d().to_vec());
    jwk.p = rsa.p().map(|b| b.to_vec());
    jwk.q = rsa.q().map(|b| b.to_vec());
    jwk.dp = rsa.dmp1().map(|b| b.to_vec());
    jwk.dq = rsa.dmq1().map(|b| b.to_vec());
    jwk.qi = rsa.iqmp().map(|b| b.to_vec());
    let imported = c
        .import_key("imported", import_params(jwk), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        imported.key.as_ref().unwrap().n.as_deref(),
        Some(&rsa.n().to_vec()[..])
    );
    assert!(
        imported.key.as_ref().unwrap().d.is_none(),
        "private parts never come back"
    );

    // Keyhaven signs; OpenSSL verifies. OpenSSL signs; Keyhaven verifies.
    std::fs::write(d.join("msg"), b"interop message").unwrap();
    let sig = sign(
        &c,
        "imported",
        SignatureAlgorithm::Rs256,
        sha256(b"interop message"),
    )
    .await
    .unwrap();
    std::fs::write(d.join("sig"), &sig).unwrap();
    openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            "rsa.pub.pem",
            "-signature",
            "sig",
            "msg",
        ],
        d,
    );
    openssl(
        &["dgst", "-sha256", "-sign", "rsa.pem", "-out", "sig2", "msg"],
        d,
    );
    let sig2 = std::fs::read(d.join("sig2")).unwrap();
    assert!(
        verify(
            &c,
            "imported",
            SignatureAlgorithm::Rs256,
            sha256(b"interop message"),
            sig2
        )
        .await
    );
    // PSS made by OpenSSL verifies too.
    openssl(
        &[
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sign",
            "rsa.pem",
            "-out",
            "sig3",
            "msg",
        ],
        d,
    );
    assert!(
        verify(
            &c,
            "imported",
            SignatureAlgorithm::Ps256,
            sha256(b"interop message"),
            std::fs::read(d.join("sig3")).unwrap()
        )
        .await
    );

    // OpenSSL encrypts with the public key (RSA-OAEP-256); Keyhaven decrypts.
    std::fs::write(d.join("plain"), b"for keyhaven only").unwrap();
    openssl(
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "rsa.pub.pem",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-in",
            "plain",
            "-out",
            "ct",
        ],
        d,
    );
    let ct = std::fs::read(d.join("ct")).unwrap();
    let pt = c
        .decrypt(
            "imported",
            "",
            op_params(EncryptionAlgorithm::RsaOaep256, ct)
                .try_into()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(pt.result.as_deref(), Some(&b"for keyhaven only"[..]));
    // Keyhaven wraps; OpenSSL unwraps (RSA-OAEP with SHA-1).
    let w = c
        .wrap_key(
            "imported",
            op_params(EncryptionAlgorithm::RsaOaep, vec![5; 32])
                .try_into()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    std::fs::write(d.join("wrapped"), w.result.unwrap()).unwrap();
    openssl(
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            "rsa.pem",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-in",
            "wrapped",
            "-out",
            "unwrapped",
        ],
        d,
    );
    assert_eq!(std::fs::read(d.join("unwrapped")).unwrap(), vec![5; 32]);

    // An EC P-256 key made by Keyhaven signs (JOSE r‖s); OpenSSL verifies it as DER with the public JWK.
    let ec = create(&c, "ec", KeyType::Ec, None, Some(CurveName::P256)).await;
    let k = ec.key.unwrap();
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let x = openssl::bn::BigNum::from_slice(k.x.as_deref().unwrap()).unwrap();
    let y = openssl::bn::BigNum::from_slice(k.y.as_deref().unwrap()).unwrap();
    let pubkey = openssl::ec::EcKey::from_public_key_affine_coordinates(&group, &x, &y).unwrap();
    std::fs::write(d.join("ec.pub.pem"), pubkey.public_key_to_pem().unwrap()).unwrap();
    let sig = sign(
        &c,
        "ec",
        SignatureAlgorithm::Es256,
        sha256(b"interop message"),
    )
    .await
    .unwrap();
    assert_eq!(sig.len(), 64);
    let r = openssl::bn::BigNum::from_slice(&sig[..32]).unwrap();
    let s = openssl::bn::BigNum::from_slice(&sig[32..]).unwrap();
    let der = openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .unwrap()
        .to_der()
        .unwrap();
    std::fs::write(d.join("ecsig"), der).unwrap();
    openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            "ec.pub.pem",
            "-signature",
            "ecsig",
            "msg",
        ],
        d,
    );
}

#[tokio::test]
async fn bad_key_input_is_refused_and_writes_nothing() {
    let ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let token = ts.admin_token().await;
    let base = ts.vault_url("default");
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let small = openssl::rsa::Rsa::generate(1024).unwrap();
    let b64 = |b: Vec<u8>| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    };
    let cases = vec![
        (
            "unknown kty",
            "/keys/k/create",
            serde_json::json!({"kty": "DSA"}),
        ),
        (
            "bad RSA size",
            "/keys/k/create",
            serde_json::json!({"kty": "RSA", "key_size": 1024}),
        ),
        (
            "bad curve",
            "/keys/k/create",
            serde_json::json!({"kty": "EC", "crv": "P-999"}),
        ),
        (
            "bad key op",
            "/keys/k/create",
            serde_json::json!({"kty": "EC", "key_ops": ["fly"]}),
        ),
        (
            "import missing n",
            "/keys/k",
            serde_json::json!({"key": {"kty": "RSA", "e": "AQAB", "d": "AQAB"}}),
        ),
        (
            "import bad base64",
            "/keys/k",
            serde_json::json!({"key": {"kty": "RSA", "n": "***", "e": "AQAB", "d": "AQAB"}}),
        ),
        (
            "import small RSA",
            "/keys/k",
            serde_json::json!({"key": {"kty": "RSA", "n": b64(small.n().to_vec()), "e": b64(small.e().to_vec()), "d": b64(small.d().to_vec())}}),
        ),
        (
            "import curve mismatch",
            "/keys/k",
            serde_json::json!({"key": {"kty": "EC", "crv": "P-384", "x": b64(vec![1; 32]), "y": b64(vec![2; 32]), "d": b64(vec![3; 32])}}),
        ),
        (
            "import without private part",
            "/keys/k",
            serde_json::json!({"key": {"kty": "RSA", "n": b64(small.n().to_vec()), "e": "AQAB"}}),
        ),
        ("rng too many", "/rng", serde_json::json!({"count": 129})),
        ("rng zero", "/rng", serde_json::json!({"count": 0})),
    ];
    for (what, path, body) in cases {
        let method = if path == "/keys/k" {
            reqwest::Method::PUT
        } else {
            reqwest::Method::POST
        };
        let resp = call(method, &format!("{path}?api-version=7.5"), body)
            .await
            .unwrap();
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, 400, "{what}: {v}");
        assert_eq!(v["error"]["code"], "BadParameter", "{what}");
    }
    let list: serde_json::Value = call(
        reqwest::Method::GET,
        "/keys?api-version=7.5",
        serde_json::json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        list["value"].as_array().unwrap().len(),
        0,
        "nothing was written"
    );
    // Unknown algorithm and wrong digest length on a real key.
    let ok = call(
        reqwest::Method::POST,
        "/keys/real/create?api-version=7.5",
        serde_json::json!({"kty": "EC"}),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    for body in [
        serde_json::json!({"alg": "XX999", "value": b64(vec![0; 32])}),
        serde_json::json!({"alg": "ES256", "value": b64(vec![0; 31])}),
    ] {
        let resp = call(
            reqwest::Method::POST,
            "/keys/real/sign?api-version=7.5",
            body,
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 400);
    }
}
