//! RSA1_5 decryption answers a ciphertext whose padding is wrong as it answers a good one (implicit rejection): 200
//! with a value of a length a message could have, the same value every time, nothing on the error path — so the
//! server is no padding oracle. OAEP still refuses what does not decrypt.

use crate::sdk::{key_client, status};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, EncryptionAlgorithm, KeyOperationParameters, KeyType,
};
use azure_security_keyvault_keys::KeyClient;
use base64::Engine;
use keyhaven_testkit::TestServer;
use serde_json::{json, Value};

fn params(alg: EncryptionAlgorithm, value: Vec<u8>) -> KeyOperationParameters {
    let mut p = KeyOperationParameters::default();
    p.algorithm = Some(alg);
    p.value = Some(value);
    p
}

async fn encrypt(c: &KeyClient, alg: EncryptionAlgorithm, plain: &[u8]) -> Vec<u8> {
    c.encrypt("rsa", params(alg, plain.to_vec()).try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .result
        .unwrap()
}

async fn decrypt(c: &KeyClient, alg: EncryptionAlgorithm, ct: &[u8]) -> Result<Vec<u8>, u16> {
    c.decrypt(
        "rsa",
        "",
        params(alg, ct.to_vec()).try_into().unwrap(),
        None,
    )
    .await
    .map_err(|e| status(&e))
    .map(|r| r.into_model().unwrap().result.unwrap())
}

async fn unwrap_key(c: &KeyClient, alg: EncryptionAlgorithm, ct: &[u8]) -> Result<Vec<u8>, u16> {
    c.unwrap_key(
        "rsa",
        "",
        params(alg, ct.to_vec()).try_into().unwrap(),
        None,
    )
    .await
    .map_err(|e| status(&e))
    .map(|r| r.into_model().unwrap().result.unwrap())
}

/// The raw answer to `POST /keys/rsa/decrypt`: status and body.
async fn raw_decrypt(ts: &TestServer, token: &str, ct: &[u8]) -> (u16, Value) {
    let resp = ts
        .http(&["default"])
        .post(format!(
            "{}/keys/rsa/decrypt?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(token)
        .json(&json!({
            "alg": "RSA1_5",
            "value": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ct),
        }))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn rsa1_5_padding_failures_look_like_success() {
    let ts = TestServer::start().await;
    let c = key_client(&ts, "default");
    let mut p = CreateKeyParameters::default();
    p.kty = Some(KeyType::Rsa);
    p.key_size = Some(2048);
    c.create_key("rsa", p.try_into().unwrap(), None)
        .await
        .unwrap();

    let ct = encrypt(
        &c,
        EncryptionAlgorithm::Rsa1_5,
        b"a 32-byte content encryption key",
    )
    .await;
    let mut tampered = ct.clone();
    tampered[128] ^= 0x01;

    let good = decrypt(&c, EncryptionAlgorithm::Rsa1_5, &ct).await.unwrap();
    assert_eq!(good, b"a 32-byte content encryption key");
    let bad = decrypt(&c, EncryptionAlgorithm::Rsa1_5, &tampered)
        .await
        .expect("a tampered RSA1_5 ciphertext is answered with 200, not an error");
    assert_ne!(bad, good);
    assert!(
        bad.len() <= 245,
        "a length a 2048-bit RSA1_5 message can have"
    );
    assert_eq!(
        decrypt(&c, EncryptionAlgorithm::Rsa1_5, &tampered)
            .await
            .unwrap(),
        bad,
        "the same ciphertext always gives the same answer"
    );
    assert_eq!(
        unwrap_key(&c, EncryptionAlgorithm::Rsa1_5, &tampered)
            .await
            .unwrap(),
        bad,
        "unwrapKey answers alike"
    );

    // On the wire, the two answers have the same shape.
    let token = ts.admin_token().await;
    let (s_good, b_good) = raw_decrypt(&ts, &token, &ct).await;
    let (s_bad, b_bad) = raw_decrypt(&ts, &token, &tampered).await;
    assert_eq!((s_good, s_bad), (200, 200));
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&b_good), keys(&b_bad), "{b_good} / {b_bad}");
    assert_eq!(b_good["kid"], b_bad["kid"]);

    // OAEP has no such oracle and still refuses what does not decrypt.
    let ct = encrypt(&c, EncryptionAlgorithm::RsaOaep256, b"plain").await;
    let mut tampered = ct.clone();
    tampered[128] ^= 0x01;
    assert_eq!(
        decrypt(&c, EncryptionAlgorithm::RsaOaep256, &tampered).await,
        Err(400)
    );
}
