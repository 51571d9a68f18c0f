//! Azure refuses to back up an object with more than 500 versions; Keyhaven backs up and restores 10,000.

use crate::sdk::secret_client;
use azure_security_keyvault_secrets::models::RestoreSecretParameters;
use futures::{StreamExt, TryStreamExt};
use keyhaven_testkit::TestServer;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_with_ten_thousand_versions_backs_up_and_restores() {
    const VERSIONS: usize = 10_000;
    let ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let token = ts.admin_token().await;
    let url = format!("{}/secrets/busy?api-version=7.5", ts.vault_url("default"));
    let written: Vec<String> = futures::stream::iter(0..VERSIONS)
        .map(|i| {
            let (http, token, url) = (http.clone(), token.clone(), url.clone());
            async move {
                let r = http
                    .put(&url)
                    .bearer_auth(&token)
                    .json(&json!({"value": format!("value-{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = r.json().await.unwrap();
                v["id"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let c = secret_client(&ts, "default");
    let blob = c
        .backup_secret("busy", None)
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .value
        .unwrap();
    c.delete_secret("busy", None).await.unwrap();
    c.purge_deleted_secret("busy", None).await.unwrap();
    let mut rp = RestoreSecretParameters::default();
    rp.secret_backup = Some(blob);
    c.restore_secret(rp.try_into().unwrap(), None)
        .await
        .unwrap();
    let versions: Vec<_> = c
        .list_secret_properties_versions("busy", None)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let restored: HashSet<String> = versions
        .iter()
        .map(|v| {
            v.id.as_deref()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        restored,
        written.into_iter().collect::<HashSet<_>>(),
        "every version id comes back"
    );
}
