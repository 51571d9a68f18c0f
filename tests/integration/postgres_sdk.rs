//! Representative flows of the official SDK suites (secrets, keys, certificates) against servers whose store is
//! PostgreSQL: one database server, a database of its own for each flow (the whole suites run on the embedded
//! store; these show the PostgreSQL engine serves the same behaviour).

use crate::{sdk_certificates, sdk_keys, sdk_secrets};
use keyhaven_testkit::{postgres_store, TestPostgres, TestServer};

/// A server on a fresh database `name` of `pg`.
async fn server_on(pg: &TestPostgres, name: &str) -> TestServer {
    let url = pg.create_database(name);
    TestServer::start_with(move |c| c.store = postgres_store(&url), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_secret_key_and_certificate_flows_on_postgres() {
    let pg = TestPostgres::start();
    let mut servers = Vec::new();

    let ts = server_on(&pg, "secrets").await;
    sdk_secrets::secret_operations(&ts).await;
    servers.push(ts);

    let ts = server_on(&pg, "secret_restores").await;
    sdk_secrets::secret_restore_across_vaults(&ts).await;
    servers.push(ts);

    let ts = server_on(&pg, "keys").await;
    sdk_keys::key_operations(&ts).await;
    servers.push(ts);

    let ts = server_on(&pg, "certificates").await;
    sdk_certificates::self_signed_certificates(&ts).await;
    servers.push(ts);

    let ts = server_on(&pg, "certificate_backups").await;
    sdk_certificates::certificate_backup_and_restore(&ts).await;
    servers.push(ts);

    for mut ts in servers {
        assert!(!ts.data_dir().join("keyhaven.redb").exists());
        ts.stop().await;
    }
}
