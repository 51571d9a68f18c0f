//! Read-only failover of a running server, as an Azure vault fails over to its paired region: one Keyhaven node
//! is given a primary and its synchronous streaming standby (`postgres://primary,standby/keyhaven`). The primary
//! dies; within 10 s the same node, without a restart, serves reads, cryptographic operations and backups from the
//! standby and refuses writes with 503 and a message saying so, and `/healthz` and `keyhaven vault show` report
//! the read-only mode. The standby is promoted: writes succeed again, and every acknowledged write is there.

use crate::cli::Cli;
use crate::sdk::{key_client, secret_client, status};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, EncryptionAlgorithm, KeyOperationParameters, KeyType, SignParameters,
    SignatureAlgorithm, VerifyParameters,
};
use azure_security_keyvault_keys::KeyClient;
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::SecretClient;
use futures::TryStreamExt;
use keyhaven_testkit::{postgres_store, TestPostgres, TestServer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Secrets written (and acknowledged) before the primary dies.
const N: usize = 40;

fn secret_params(value: &str) -> azure_core::http::RequestContent<SetSecretParameters> {
    let mut p = SetSecretParameters::default();
    p.value = Some(value.into());
    p.try_into().unwrap()
}

fn key_op(alg: EncryptionAlgorithm, value: Vec<u8>) -> KeyOperationParameters {
    let mut p = KeyOperationParameters::default();
    p.algorithm = Some(alg);
    p.value = Some(value);
    p
}

async fn set_secret(c: &SecretClient, name: &str, value: &str) -> Result<(), azure_core::Error> {
    c.set_secret(name, secret_params(value), None)
        .await
        .map(|_| ())
}

async fn secret_value(c: &SecretClient, name: &str) -> String {
    c.get_secret(name, None)
        .await
        .unwrap_or_else(|e| panic!("reading {name}: {e}"))
        .into_model()
        .unwrap()
        .value
        .unwrap()
}

async fn secret_names(c: &SecretClient) -> BTreeSet<String> {
    c.list_secret_properties(None)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id.unwrap().rsplit('/').next().unwrap().to_string())
        .collect()
}

/// The store's mode as `/healthz` reports it to a management caller.
async fn health_mode(ts: &TestServer, token: &str) -> String {
    let details: Value = ts
        .http(&[])
        .get(format!("{}/healthz", ts.authority()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    details["storeMode"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The vault's mode as `keyhaven vault show` prints it.
async fn cli_mode(cli: &Cli<'_>) -> String {
    let (code, out, err) = cli.run(&["vault", "show", "default"]).await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["mode"].as_str().unwrap_or_default().to_string()
}

async fn wait_for_mode(ts: &TestServer, token: &str, mode: &str, within: Duration) -> Duration {
    let start = Instant::now();
    while health_mode(ts, token).await != mode {
        assert!(
            start.elapsed() < within,
            "the node did not report {mode} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// Signs and verifies, encrypts and decrypts, wraps and unwraps with the RSA key `name`.
async fn crypto_round_trips(c: &KeyClient, name: &str) {
    let digest = keyhaven_crypto::sha256(b"failover").to_vec();
    let mut p = SignParameters::default();
    p.algorithm = Some(SignatureAlgorithm::Ps256);
    p.value = Some(digest.clone());
    let sig = c
        .sign(name, p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .result
        .unwrap();
    let mut p = VerifyParameters::default();
    p.algorithm = Some(SignatureAlgorithm::Ps256);
    p.digest = Some(digest);
    p.signature = Some(sig);
    let verified = c
        .verify(name, "", p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(verified.value, Some(true));

    let alg = EncryptionAlgorithm::RsaOaep256;
    let ct = c
        .encrypt(
            name,
            key_op(alg.clone(), b"plain".to_vec()).try_into().unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .result
        .unwrap();
    let pt = c
        .decrypt(name, "", key_op(alg.clone(), ct).try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(pt.result.as_deref(), Some(&b"plain"[..]));
    let wrapped = c
        .wrap_key(
            name,
            key_op(alg.clone(), vec![7; 32]).try_into().unwrap(),
            None,
        )
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .result
        .unwrap();
    let unwrapped = c
        .unwrap_key(name, "", key_op(alg, wrapped).try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(unwrapped.result, Some(vec![7; 32]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_given_primary_and_standby_fails_over_read_only_and_back_on_promotion() {
    let mut primary = TestPostgres::start();
    let standby = primary.start_synchronous_standby();
    let url = TestPostgres::multi_host_url(&[&primary, &standby]);
    let mut ts = TestServer::start_with(move |c| c.store = postgres_store(&url), None).await;
    let secrets = secret_client(&ts, "default");
    let keys = key_client(&ts, "default");
    let cli = Cli { ts: &ts };
    let token = ts.management_token().await;
    assert_eq!(health_mode(&ts, &token).await, "readWrite");
    assert_eq!(cli_mode(&cli).await, "readWrite");

    // Acknowledged writes: every one is on the standby before it is answered (synchronous replication).
    let mut acked = BTreeSet::new();
    for i in 0..N {
        let name = format!("s{i:02}");
        set_secret(&secrets, &name, &format!("value-{i}"))
            .await
            .unwrap();
        acked.insert(name);
    }
    let mut p = CreateKeyParameters::default();
    p.kty = Some(KeyType::Rsa);
    p.key_size = Some(2048);
    keys.create_key("signer", p.try_into().unwrap(), None)
        .await
        .unwrap();

    primary.stop_immediate();
    let took = wait_for_mode(&ts, &token, "readOnly", Duration::from_secs(10)).await;
    println!("read-only {took:?} after the primary stopped");
    assert_eq!(cli_mode(&cli).await, "readOnly");

    // Reads: get and list, with every acknowledged write, through the same clients (and a fresh one: signing in
    // works on a standby too).
    assert_eq!(secret_names(&secrets).await, acked);
    for i in [0, N / 2, N - 1] {
        assert_eq!(
            secret_value(&secrets, &format!("s{i:02}")).await,
            format!("value-{i}")
        );
    }
    let fresh = secret_client(&ts, "default");
    assert_eq!(secret_value(&fresh, "s07").await, "value-7");
    assert!(keys
        .get_key("signer", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .key
        .is_some());
    // Cryptographic operations.
    crypto_round_trips(&keys, "signer").await;
    // Per-object backups.
    let secret_blob = secrets
        .backup_secret("s03", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    assert!(!secret_blob.is_empty());
    let key_blob = keys
        .backup_key("signer", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    assert!(!key_blob.is_empty());
    // A whole-vault backup, checked end to end.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("failover.khvs");
    let f = file.to_str().unwrap();
    let (code, out, err) = cli
        .run(&["vault", "backup", "--vault-name", "default", "--file", f])
        .await;
    assert_eq!(code, 0, "a whole-vault backup during failover: {err}");
    let backed_up: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(backed_up["manifest"]["secrets"], N, "{backed_up}");
    assert_eq!(backed_up["manifest"]["keys"], 1, "{backed_up}");
    let (code, out, err) = cli.run(&["vault", "verify", "--file", f]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["secrets"], N);

    // Writes are refused with 503, Retry-After and the read-only failover message, and change nothing.
    let e = set_secret(&secrets, "refused", "x").await.unwrap_err();
    assert_eq!(status(&e), 503, "{e}");
    let mut p = CreateKeyParameters::default();
    p.kty = Some(KeyType::Ec);
    let e = keys
        .create_key("refused", p.try_into().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(status(&e), 503, "{e}");
    let e = secrets.delete_secret("s01", None).await.unwrap_err();
    assert_eq!(status(&e), 503, "{e}");
    let resp = ts
        .http(&["default"])
        .put(format!(
            "{}/secrets/refused?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(ts.admin_token().await)
        .json(&serde_json::json!({"value": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("read-only failover"), "{message}");
    assert_eq!(
        secret_names(&secrets).await,
        acked,
        "a refused write changed nothing"
    );
    assert_eq!(secret_value(&secrets, "s01").await, "value-1");

    // Promotion: the same node takes writes again, with every acknowledged write there.
    standby.promote();
    let took = wait_for_mode(&ts, &token, "readWrite", Duration::from_secs(10)).await;
    println!("read-write {took:?} after the promotion");
    assert_eq!(cli_mode(&cli).await, "readWrite");
    set_secret(&secrets, "after-promotion", "written")
        .await
        .unwrap();
    secrets.delete_secret("s01", None).await.unwrap();
    acked.remove("s01");
    acked.insert("after-promotion".into());
    assert_eq!(secret_names(&secrets).await, acked);
    for i in 0..N {
        if i != 1 {
            assert_eq!(
                secret_value(&secrets, &format!("s{i:02}")).await,
                format!("value-{i}")
            );
        }
    }
    assert_eq!(secret_value(&secrets, "after-promotion").await, "written");
    crypto_round_trips(&keys, "signer").await;
    ts.stop().await;
}
