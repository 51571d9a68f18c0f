//! `/healthz` tells anyone only whether the server is healthy; its details (store, mode, version, schedules, the
//! token endpoint's counters) need a valid management token.

use keyhaven_testkit::TestServer;
use serde_json::{json, Value};

async fn health(ts: &TestServer, token: Option<&str>) -> (u16, Value) {
    let mut req = ts.http(&[]).get(format!("{}/healthz", ts.authority()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn health_details_need_a_management_token() {
    let ts = TestServer::start().await;
    let minimal = (200, json!({ "status": "healthy" }));
    assert_eq!(health(&ts, None).await, minimal, "anonymous");
    assert_eq!(
        health(&ts, Some("not.a.token")).await,
        minimal,
        "a bad token"
    );
    let data_plane = ts.admin_token().await;
    assert_eq!(
        health(&ts, Some(&data_plane)).await,
        minimal,
        "a token for the vaults is not a management token"
    );

    let (status, details) = health(&ts, Some(&ts.management_token().await)).await;
    assert_eq!(status, 200);
    assert_eq!(details["status"], "healthy");
    assert_eq!(details["store"], "embedded", "{details}");
    assert_eq!(details["storeMode"], "readWrite");
    assert!(details["version"].is_string());
    assert!(details["backupSchedules"].is_array());
    assert!(
        details["tokenEndpoint"]["secretVerifications"]
            .as_u64()
            .unwrap()
            >= 1
    );
}
