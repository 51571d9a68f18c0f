//! Secret values are encrypted at rest: none of their bytes appear in any file of the data directory.

use keyhaven_testkit::{files_under, TestServer};
use serde_json::json;

#[tokio::test]
async fn no_secret_value_appears_in_any_file() {
    let mut ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let token = ts.admin_token().await;
    let mut values = Vec::new();
    for i in 0..200 {
        let bytes: [u8; 12] = keyhaven_crypto::random_bytes().unwrap();
        let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let resp = http
            .put(format!(
                "{}/secrets/s{}?api-version=7.5",
                ts.vault_url("default"),
                i % 20
            ))
            .bearer_auth(&token)
            .json(&json!({ "value": value }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        values.push(value);
    }
    // Backups and deletes must not leave clear text behind either.
    let resp = http
        .post(format!(
            "{}/secrets/s1/backup?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    ts.stop().await;
    let files = files_under(&ts.data_dir());
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "redb")),
        "the store file exists"
    );
    for f in files {
        let data = std::fs::read(&f).unwrap();
        for v in &values {
            assert!(
                !data.windows(v.len()).any(|w| w == v.as_bytes()),
                "a secret value is readable in {}",
                f.display()
            );
        }
    }
}
