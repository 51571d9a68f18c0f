//! A server whose store is a real PostgreSQL database, driven by the official secrets client.

use crate::sdk::secret_client;
use azure_security_keyvault_secrets::models::SetSecretParameters;
use keyhaven_server::StoreLocation;
use keyhaven_testkit::{TestPostgres, TestServer};

#[tokio::test]
async fn secrets_set_and_get_on_a_postgres_store() {
    let pg = TestPostgres::start();
    let url = pg.url();
    let mut ts = TestServer::start_with(
        move |c| c.store = StoreLocation::parse(&url).expect("a PostgreSQL URL"),
        None,
    )
    .await;
    let c = secret_client(&ts, "default");
    let mut p = SetSecretParameters::default();
    p.value = Some("correct-horse-battery-staple".into());
    let set = c
        .set_secret("db-password", p.try_into().unwrap(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert!(set.id.is_some());
    let got = c
        .get_secret("db-password", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(got.value.as_deref(), Some("correct-horse-battery-staple"));

    // The server wrote to PostgreSQL, not to a file, and only ciphertext: the value is nowhere in the table.
    assert!(!ts.data_dir().join("keyhaven.redb").exists());
    let rows: u64 = pg.psql("SELECT count(*) FROM keyhaven_kv").parse().unwrap();
    assert!(rows > 0, "the store's entries are in keyhaven_kv");
    assert_eq!(
        pg.psql(
            "SELECT count(*) FROM keyhaven_kv \
             WHERE position(convert_to('correct-horse-battery-staple', 'UTF8') in v) > 0"
        ),
        "0",
        "no value in the clear"
    );
    ts.stop().await;
}

/// kill -9 of a real `keyhaven serve` process on PostgreSQL under write load: every write it acknowledged was
/// committed in the database before the answer, so a node started again on the same database reads it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_kill_9_of_a_node() {
    use crate::crash::{
        assert_acknowledged, free_port, kill_under_write_load, spawn_on, start_process_on, token,
        wait_ready,
    };
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let (child, http, cred) = start_process_on(&data, port, &[], &pg.url()).await;
    let tok = token(&http, port, &cred).await;
    let acked = kill_under_write_load(child, &http, port, &tok).await;
    assert!(
        !data.join("keyhaven.redb").exists(),
        "the store is PostgreSQL"
    );

    let mut child = spawn_on(&data, port, &pg.url());
    wait_ready(&http, port).await;
    let tok = token(&http, port, &cred).await;
    assert_acknowledged(&http, port, &tok, &acked).await;
    child.kill().unwrap();
    child.wait().unwrap();
}
