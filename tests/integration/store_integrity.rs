//! What whoever can write the store (or read the data directory) cannot do: edit a record, roll a secret back,
//! start the server without the root key's passphrase or with a key file others may read. And the vault data
//! keys' rotation, by request and after a number of seals.

use crate::sdk::{secret_client, status};
use azure_security_keyvault_secrets::models::{
    SecretAttributes, SetSecretParameters, UpdateSecretPropertiesParameters,
};
use azure_security_keyvault_secrets::SecretClient;
use keyhaven_model::{Clock, SystemClock};
use keyhaven_server::Config;
use keyhaven_store::Engine;
use keyhaven_store_embedded::EmbeddedEngine;
use keyhaven_testkit::TestServer;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// The header every authenticated record starts with, and its length.
const MAGIC: &[u8] = b"\0KH\x01";
const HEADER: usize = 4 + 1 + 4 + 32;

async fn set(c: &SecretClient, name: &str, value: &str) -> String {
    let mut p = SetSecretParameters::default();
    p.value = Some(value.into());
    let s = c
        .set_secret(name, p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    s.id.unwrap().rsplit('/').next().unwrap().to_string()
}

async fn value_of(c: &SecretClient, name: &str) -> Result<Option<String>, u16> {
    match c.get_secret(name, None).await {
        Ok(r) => Ok(r.into_model().unwrap().value),
        Err(e) => Err(status(&e)),
    }
}

/// Applies `edit` to the raw value at `key` in the stopped server's store file.
fn edit_raw(data_dir: &Path, key: &[u8], edit: impl FnOnce(&mut Vec<u8>)) {
    let engine = EmbeddedEngine::open(&data_dir.join("keyhaven.redb")).unwrap();
    let mut value = engine
        .snapshot()
        .unwrap()
        .get(key)
        .unwrap()
        .expect("the record exists");
    edit(&mut value);
    let mut txn = engine.begin().unwrap();
    txn.put(key, &value).unwrap();
    txn.commit().unwrap();
}

fn replace(value: &mut Vec<u8>, from: &str, to: &str) {
    let at = value
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from} is in the record"));
    value.splice(at..at + from.len(), to.bytes());
}

/// A server over `data_dir` with the test defaults (`adjust` applied), or why it did not start.
async fn start_over(
    data_dir: &Path,
    adjust: impl FnOnce(&mut Config),
) -> Result<keyhaven_server::RunningServer, String> {
    let mut config = Config::with_data_dir(data_dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.log = "warn".into();
    config.throttle_limit = 0;
    adjust(&mut config);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    keyhaven_server::start(config, clock)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn records_edited_in_the_store_are_refused_never_served() {
    let mut ts = TestServer::start().await;
    let c = secret_client(&ts, "default");
    set(&c, "disabled", "do-not-serve").await;
    let old = set(&c, "rolled", "first").await;
    let new = set(&c, "rolled", "second").await;
    set(&c, "untouched", "fine").await;
    let mut u = UpdateSecretPropertiesParameters::default();
    let mut a = SecretAttributes::default();
    a.enabled = Some(false);
    u.secret_attributes = Some(a);
    c.update_secret_properties("disabled", u.try_into().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(value_of(&c, "disabled").await, Err(403));
    ts.stop().await;

    // Re-enable the disabled secret, and roll the other back to its first version, by editing the store.
    let data = ts.data_dir();
    let engine = EmbeddedEngine::open(&data.join("keyhaven.redb")).unwrap();
    let versions = engine
        .snapshot()
        .unwrap()
        .scan(
            b"ver\0default\0secret\0disabled\0",
            b"ver\0default\0secret\0disabled\x01",
            10,
        )
        .unwrap();
    drop(engine);
    assert_eq!(versions.len(), 1);
    assert!(
        versions[0].1.starts_with(MAGIC),
        "stored with its authentication"
    );
    edit_raw(&data, &versions[0].0, |v| {
        replace(v, "\"enabled\":false", "\"enabled\":true ")
    });
    edit_raw(&data, b"obj\0default\0secret\0rolled", |v| {
        replace(v, &new, &old)
    });

    ts.restart().await;
    let c = secret_client(&ts, "default");
    assert_eq!(
        value_of(&c, "disabled").await,
        Err(500),
        "an edited attribute is refused"
    );
    assert_eq!(
        value_of(&c, "rolled").await,
        Err(500),
        "an edited latest-version pointer is refused"
    );
    assert_eq!(value_of(&c, "untouched").await, Ok(Some("fine".into())));
    // The refusal says what happened, and nothing of the value.
    let resp = ts
        .http(&["default"])
        .get(format!(
            "{}/secrets/disabled?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(ts.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body = resp.text().await.unwrap();
    assert!(body.contains("integrity check"), "{body}");
    assert!(!body.contains("do-not-serve"));
}

#[tokio::test]
async fn a_store_of_the_earlier_format_is_authenticated_at_start() {
    let mut ts = TestServer::start().await;
    let c = secret_client(&ts, "default");
    for i in 0..5 {
        set(&c, &format!("s{i}"), &format!("value-{i}")).await;
    }
    ts.stop().await;

    // Make the data directory what an earlier version left: records without authentication, a raw root key.
    let data = ts.data_dir();
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("root.key")).unwrap()).unwrap();
    use base64::Engine as _;
    let raw_key = base64::engine::general_purpose::STANDARD
        .decode(file["key"].as_str().unwrap())
        .unwrap();
    std::fs::write(data.join("root.key"), &raw_key).unwrap();
    let engine = EmbeddedEngine::open(&data.join("keyhaven.redb")).unwrap();
    let all = engine
        .snapshot()
        .unwrap()
        .scan(b"", &[0xff; 4], usize::MAX)
        .unwrap();
    let mut txn = engine.begin().unwrap();
    for (k, v) in &all {
        assert!(v.starts_with(MAGIC));
        txn.put(k, &v[HEADER..]).unwrap();
    }
    txn.commit().unwrap();
    drop(engine);

    ts.restart().await;
    let c = secret_client(&ts, "default");
    for i in 0..5 {
        assert_eq!(
            value_of(&c, &format!("s{i}")).await,
            Ok(Some(format!("value-{i}")))
        );
    }
    set(&c, "after", "converted").await;
    ts.stop().await;
    let text = std::fs::read_to_string(data.join("root.key")).unwrap();
    assert!(text.contains("\"records\": \"authenticated\""), "{text}");
    let engine = EmbeddedEngine::open(&data.join("keyhaven.redb")).unwrap();
    let all = engine
        .snapshot()
        .unwrap()
        .scan(b"", &[0xff; 4], usize::MAX)
        .unwrap();
    assert!(all.len() > 10);
    assert!(
        all.iter().all(|(_, v)| v.starts_with(MAGIC)),
        "every record authenticated"
    );
}

#[tokio::test]
async fn a_protected_root_key_needs_its_passphrase_and_key_files_must_be_private() {
    let mut ts = TestServer::start().await;
    let c = secret_client(&ts, "default");
    set(&c, "kept", "through-protection").await;
    ts.stop().await;
    let data = ts.data_dir();
    let pass = ts.dir.path().join("passphrase");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(["root-key", "protect", "--data-dir"])
        .arg(&data)
        .arg("--passphrase-file")
        .arg(&pass)
        .env_remove("KEYHAVEN_ROOT_KEY_PASSPHRASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(data.join("root.key")).unwrap();
    assert!(text.contains("\"protected\""), "{text}");
    assert!(!text.contains("\"key\""), "{text}");

    let e = start_over(&data, |_| {})
        .await
        .err()
        .expect("refused without the passphrase");
    assert!(e.contains("protected by a passphrase"), "{e}");
    let wrong = ts.dir.path().join("wrong");
    std::fs::write(&wrong, "not the right passphrase").unwrap();
    let e = start_over(&data, |c| c.root_key_passphrase_file = Some(wrong.clone()))
        .await
        .err()
        .expect("refused with a wrong passphrase");
    assert!(e.contains("does not open"), "{e}");

    let server = start_over(&data, |c| c.root_key_passphrase_file = Some(pass.clone()))
        .await
        .expect("starts with the passphrase");
    server.stop().await;

    // A key file its group may read is refused, as ssh refuses one.
    for file in ["root.key", "token-signing-key.pem", "tls/ca-key.pem"] {
        let path = data.join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = start_over(&data, |c| c.root_key_passphrase_file = Some(pass.clone()))
            .await
            .err()
            .expect("refused");
        assert!(e.contains("chmod 600") && e.contains(file), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let out = Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(["root-key", "unprotect", "--data-dir"])
        .arg(&data)
        .arg("--passphrase-file")
        .arg(&pass)
        .env_remove("KEYHAVEN_ROOT_KEY_PASSPHRASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ts.restart().await;
    let c = secret_client(&ts, "default");
    assert_eq!(
        value_of(&c, "kept").await,
        Ok(Some("through-protection".into()))
    );
}

/// The vault's data key as the management API shows it.
async fn data_key(ts: &TestServer, vault: &str) -> serde_json::Value {
    let resp = ts
        .http(&[])
        .get(format!(
            "{}/_keyhaven/vaults/{vault}/data-key",
            ts.authority()
        ))
        .bearer_auth(ts.management_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn vault_data_keys_rotate_on_request_and_after_their_seals() {
    let ts = TestServer::start_with(|c| c.domain.vault_key_rotate_after = 6, None).await;
    let c = secret_client(&ts, "default");
    assert_eq!(data_key(&ts, "default").await["generation"], 0);
    set(&c, "before", "sealed-by-0").await;

    // On request (as the CLI does it).
    let resp = ts
        .http(&[])
        .post(format!(
            "{}/_keyhaven/vaults/default/data-key/rotate",
            ts.authority()
        ))
        .bearer_auth(ts.management_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rotated: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(rotated["generation"], 1);
    assert_eq!(rotated["seals"], 0);
    set(&c, "after", "sealed-by-1").await;

    // After six seals under generation 1 (the one above and five more), the maintenance pass rotates again.
    for i in 0..5 {
        set(&c, &format!("more{i}"), "x").await;
    }
    let mut generation = 1;
    for _ in 0..100 {
        generation = data_key(&ts, "default").await["generation"]
            .as_u64()
            .unwrap();
        if generation == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(generation, 2, "rotated after its seals");
    set(&c, "latest", "sealed-by-2").await;
    assert_eq!(value_of(&c, "before").await, Ok(Some("sealed-by-0".into())));
    assert_eq!(value_of(&c, "after").await, Ok(Some("sealed-by-1".into())));
    assert_eq!(value_of(&c, "latest").await, Ok(Some("sealed-by-2".into())));

    // An unknown vault is not found.
    let resp = ts
        .http(&[])
        .post(format!(
            "{}/_keyhaven/vaults/nope/data-key/rotate",
            ts.authority()
        ))
        .bearer_auth(ts.management_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
