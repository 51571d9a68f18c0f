//! Two Keyhaven nodes over one PostgreSQL database, as docs/postgres.md starts them (the second with copies of
//! the first's deployment keys): each reads the other's acknowledged writes at once, concurrent writers of one
//! secret on both nodes lose nothing, a vault data key rotated on one is used by the other, and background work
//! runs on one node at a time (and moves to the other when that node stops).

use crate::sdk::secret_client;
use azure_security_keyvault_secrets::models::SetSecretParameters;
use azure_security_keyvault_secrets::SecretClient;
use keyhaven_model::ManualClock;
use keyhaven_testkit::{postgres_store, TestPostgres, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

async fn get(c: &SecretClient, name: &str, version: Option<&str>) -> String {
    let mut o = azure_security_keyvault_secrets::models::SecretClientGetSecretOptions::default();
    if let Some(v) = version {
        o.secret_version = Some(v.to_string());
    }
    c.get_secret(name, Some(o))
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap()
}

/// Two nodes of one deployment on `pg`, with the given clock.
async fn two_nodes(pg: &TestPostgres, clock: Option<Arc<ManualClock>>) -> (TestServer, TestServer) {
    let url = pg.url();
    let a = TestServer::start_with(
        {
            let url = url.clone();
            move |c| c.store = postgres_store(&url)
        },
        clock.clone(),
    )
    .await;
    let b = a
        .start_node(move |c| c.store = postgres_store(&url), clock)
        .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_read_each_others_writes_and_concurrent_writers_lose_nothing() {
    let pg = TestPostgres::start();
    let (mut a, mut b) = two_nodes(&pg, None).await;
    let (ca, cb) = (secret_client(&a, "default"), secret_client(&b, "default"));

    // Read-your-writes across nodes: a write acknowledged by one node is read by the other at once.
    for i in 0..15 {
        let value = format!("from-a-{i}");
        let version = set(&ca, "ping", &value).await;
        assert_eq!(get(&cb, "ping", None).await, value, "B reads A's write {i}");
        assert_eq!(get(&cb, "ping", Some(&version)).await, value);
        let value = format!("from-b-{i}");
        set(&cb, "ping", &value).await;
        assert_eq!(get(&ca, "ping", None).await, value, "A reads B's write {i}");
    }

    // Concurrent writers of one secret on both nodes: every acknowledged write is a version of its own, with its
    // value.
    let mut writers = Vec::new();
    for (node, ts) in [("a", &a), ("b", &b)] {
        for w in 0..4 {
            let c = secret_client(ts, "default");
            writers.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..15 {
                    let value = format!("{node}{w}-{i}");
                    acked.push((set(&c, "contended", &value).await, value));
                }
                acked
            }));
        }
    }
    let mut acked = BTreeMap::new();
    for w in writers {
        for (version, value) in w.await.unwrap() {
            assert!(
                acked.insert(version, value).is_none(),
                "two writes acknowledged with one version"
            );
        }
    }
    assert_eq!(acked.len(), 2 * 4 * 15);
    let listed: Vec<String> = {
        use futures::TryStreamExt;
        cb.list_secret_properties_versions("contended", None)
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id.unwrap().rsplit('/').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed.len(), acked.len(), "no version lost, none extra");
    for (version, value) in &acked {
        assert_eq!(&get(&ca, "contended", Some(version)).await, value);
    }
    let latest = get(&cb, "contended", None).await;
    assert!(acked.values().any(|v| *v == latest));

    // A vault data key rotated on A: B reads what A seals under it, and seals under it too.
    let token = a.management_token().await;
    let rotated: Value = a
        .http(&[])
        .post(format!(
            "{}/_keyhaven/vaults/default/data-key/rotate",
            a.authority()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["generation"], 1);
    set(&ca, "after-rotation", "sealed-by-a").await;
    assert_eq!(get(&cb, "after-rotation", None).await, "sealed-by-a");
    set(&cb, "written-by-b", "sealed-by-b").await;
    assert_eq!(get(&ca, "written-by-b", None).await, "sealed-by-b");
    let key: Value = b
        .http(&[])
        .get(format!(
            "{}/_keyhaven/vaults/default/data-key",
            b.authority()
        ))
        .bearer_auth(b.management_token().await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["generation"], 1, "B sees the rotation");
    a.stop().await;
    b.stop().await;
}

async fn versions(ts: &TestServer, token: &str, name: &str) -> usize {
    let v: Value = ts
        .http(&["default"])
        .get(format!(
            "{}/keys/{name}/versions?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"].as_array().map(Vec::len).unwrap_or(0)
}

/// Waits until every key has `n` versions, then lets both nodes' maintenance tick a few more times and checks
/// that none has more.
async fn rotated_once_each(ts: &TestServer, keys: &[String], n: usize) {
    let token = ts.admin_token().await;
    let deadline = Instant::now() + Duration::from_secs(90);
    for k in keys {
        while versions(ts, &token, k).await < n {
            assert!(Instant::now() < deadline, "{k} was not rotated");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for k in keys {
        assert_eq!(
            versions(ts, &token, k).await,
            n,
            "{k} was rotated once, by one node"
        );
    }
}

/// Keys whose rotation policy falls due are rotated once, by the node holding the maintenance lease, not by
/// both; when that node stops, the other takes the work over. (RSA-3072 keys take long enough to generate that
/// two nodes working through the same due keys would overlap.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn background_work_runs_once_across_nodes_and_moves_when_its_node_stops() {
    let pg = TestPostgres::start();
    let clock = Arc::new(ManualClock::starting_now());
    let url = pg.url();
    let mut a = TestServer::start_with(
        {
            let url = url.clone();
            move |c| c.store = postgres_store(&url)
        },
        Some(clock.clone()),
    )
    .await;
    // A, alone, takes the maintenance lease; B starts after it.
    let held = || pg.psql("SELECT count(*) FROM keyhaven_leases WHERE name = 'maintenance'");
    let deadline = Instant::now() + Duration::from_secs(20);
    while held() != "1" {
        assert!(
            Instant::now() < deadline,
            "a node takes the maintenance lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut b = a
        .start_node(move |c| c.store = postgres_store(&url), Some(clock.clone()))
        .await;
    let token = a.admin_token().await;
    let http = a.http(&["default"]);
    let keys: Vec<String> = (0..6).map(|i| format!("rotating-{i}")).collect();
    for k in &keys {
        let r = http
            .post(format!(
                "{}/keys/{k}/create?api-version=7.5",
                a.vault_url("default")
            ))
            .bearer_auth(&token)
            .json(&json!({"kty": "RSA", "key_size": 3072}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = http
            .put(format!(
                "{}/keys/{k}/rotationpolicy?api-version=7.5",
                a.vault_url("default")
            ))
            .bearer_auth(&token)
            .json(&json!({
                "lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
                "attributes": {"expiryTime": "P90D"}
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    assert_eq!(held(), "1", "one holder");

    clock.advance(31 * 86_400);
    rotated_once_each(&b, &keys, 2).await;

    // The node running the work stops (releasing its lease): the other takes the work over.
    a.stop().await;
    clock.advance(31 * 86_400);
    rotated_once_each(&b, &keys, 3).await;
    b.stop().await;
}
