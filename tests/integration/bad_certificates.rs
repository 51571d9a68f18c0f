//! Certificates over raw HTTP: every bad request gets a clear 4xx in Azure's envelope and writes nothing; the
//! lifetime action AutoRenew renews on the server's clock.

use crate::bad_input::Raw;
use keyhaven_testkit::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const V: &str = "api-version=7.5";

async fn post(raw: &Raw, path: &str, body: Value) -> (StatusCode, Value) {
    raw.call(
        Method::POST,
        &format!("{path}?{V}"),
        Some(serde_json::to_vec(&body).unwrap()),
    )
    .await
}

fn self_policy() -> Value {
    json!({"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=t", "validity_months": 1}})
}

/// Nothing certificate-shaped exists in the vault.
async fn assert_nothing_written(raw: &Raw, name: &str) {
    for path in [
        format!("/certificates/{name}"),
        format!("/keys/{name}"),
        format!("/secrets/{name}"),
    ] {
        let (s, v) = raw.call(Method::GET, &format!("{path}?{V}"), None).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
}

#[tokio::test]
async fn bad_certificate_requests_are_refused_and_write_nothing() {
    let ts = TestServer::start().await;
    let raw = Raw::new(&ts).await;
    let cases: Vec<(&str, &str, Value)> = vec![
        ("no policy", "/certificates/c/create", json!({})),
        (
            "policy not an object",
            "/certificates/c/create",
            json!({"policy": "Self"}),
        ),
        (
            "no subject",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}}}),
        ),
        (
            "oct key",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "key_props": {"kty": "oct"}, "x509_props": {"subject": "CN=t"}}}),
        ),
        (
            "rsa 1024",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "key_props": {"kty": "RSA", "key_size": 1024}, "x509_props": {"subject": "CN=t"}}}),
        ),
        (
            "bad curve",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "key_props": {"kty": "EC", "crv": "P-999"}, "x509_props": {"subject": "CN=t"}}}),
        ),
        (
            "bad key usage",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=t", "key_usage": ["everything"]}}}),
        ),
        (
            "bad eku",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=t", "ekus": ["serverAuth"]}}}),
        ),
        (
            "bad subject",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "no equals sign"}}}),
        ),
        (
            "zero months",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=t", "validity_months": 0}}}),
        ),
        (
            "bad content type",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "secret_props": {"contentType": "text/plain"}, "x509_props": {"subject": "CN=t"}}}),
        ),
        (
            "bad lifetime",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Self"}, "x509_props": {"subject": "CN=t"}, "lifetime_actions": [{"trigger": {"lifetime_percentage": 150}, "action": {"action_type": "AutoRenew"}}]}}),
        ),
        (
            "issuer not configured",
            "/certificates/c/create",
            json!({"policy": {"issuer": {"name": "Nobody"}, "x509_props": {"subject": "CN=t"}}}),
        ),
        (
            "import garbage",
            "/certificates/c/import",
            json!({"value": "bm90IGEgY2VydA=="}),
        ),
        (
            "import not base64",
            "/certificates/c/import",
            json!({"value": "%%%"}),
        ),
        (
            "import pem without key",
            "/certificates/c/import",
            json!({"value": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}),
        ),
        (
            "import missing value",
            "/certificates/c/import",
            json!({"pwd": "x"}),
        ),
        (
            "merge without operation",
            "/certificates/c/pending/merge",
            json!({"x5c": ["MIIB"]}),
        ),
        (
            "restore garbage",
            "/certificates/restore",
            json!({"value": "AAAA"}),
        ),
    ];
    for (what, path, body) in cases {
        let (s, v) = post(&raw, path, body).await;
        assert!(s.is_client_error(), "{what}: {s} {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !msg.is_empty(),
            "{what}: a message in Azure's envelope: {v}"
        );
        assert_nothing_written(&raw, "c").await;
    }
    let (s, _) = raw
        .call(Method::GET, &format!("/certificates/c/pending?{V}"), None)
        .await;
    assert_eq!(s, 404);

    // Contacts and issuers.
    let (s, _) = raw
        .put_json(
            &format!("/certificates/contacts?{V}"),
            json!({"contacts": []}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = raw
        .put_json(
            &format!("/certificates/contacts?{V}"),
            json!({"contacts": [{"name": "no email"}]}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = raw
        .call(Method::GET, &format!("/certificates/contacts?{V}"), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = raw
        .put_json(
            &format!("/certificates/issuers/Self?{V}"),
            json!({"provider": "x"}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = raw
        .put_json(
            &format!("/certificates/issuers/ca?{V}"),
            json!({"credentials": {"account_id": "a"}}),
        )
        .await;
    assert_eq!(s, 400, "an issuer needs a provider");
    let (s, v) = raw
        .call(Method::GET, &format!("/certificates/issuers?{V}"), None)
        .await;
    assert_eq!(
        (s, v["value"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );

    // An issuer's password is accepted and never returned.
    let (s, v) = raw
        .put_json(
            &format!("/certificates/issuers/ca?{V}"),
            json!({"provider": "DigiCert", "credentials": {"account_id": "acct", "pwd": "issuer-pass-123"},
                   "org_details": {"admin_details": [{"first_name": "A", "email": "a@contoso.test"}]}}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(!v.to_string().contains("issuer-pass-123"));
    assert_eq!(v["credentials"]["account_id"], "acct");
    let (s, v) = raw
        .call(
            Method::PATCH,
            &format!("/certificates/issuers/ca?{V}"),
            Some(serde_json::to_vec(&json!({"provider": "GlobalSign"})).unwrap()),
        )
        .await;
    assert_eq!(
        (s, v["provider"].as_str()),
        (StatusCode::OK, Some("GlobalSign"))
    );
    assert_eq!(v["credentials"]["account_id"], "acct");
    let (s, _) = raw
        .call(
            Method::DELETE,
            &format!("/certificates/issuers/ca?{V}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = raw
        .call(Method::GET, &format!("/certificates/issuers/ca?{V}"), None)
        .await;
    assert_eq!(s, 404);

    // A second create while one waits for a merge conflicts.
    let unknown =
        json!({"policy": {"issuer": {"name": "Unknown"}, "x509_props": {"subject": "CN=p"}}});
    let (s, v) = post(&raw, "/certificates/p/create", unknown.clone()).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["status"], "inProgress");
    assert!(v["csr"].as_str().is_some_and(|c| !c.is_empty()));
    let (s, _) = post(&raw, "/certificates/p/create", unknown).await;
    assert_eq!(s, 409);
    let (s, _) = post(
        &raw,
        "/certificates/p/pending/merge",
        json!({"x5c": ["not base64!"]}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, v) = raw
        .call(Method::GET, &format!("/certificates/p/pending?{V}"), None)
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("inProgress"))
    );
    // Listings leave pending certificates out unless asked (includePending), as Azure.
    let names = |v: &Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["id"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (_, v) = raw
        .call(Method::GET, &format!("/certificates?{V}"), None)
        .await;
    assert!(!names(&v).contains(&"p".to_string()), "{v}");
    let (_, v) = raw
        .call(
            Method::GET,
            &format!("/certificates?{V}&includePending=true"),
            None,
        )
        .await;
    assert!(names(&v).contains(&"p".to_string()), "{v}");
}

#[tokio::test]
async fn auto_renew_runs_on_the_servers_clock() {
    let ts = TestServer::start_with_manual_clock().await;
    let raw = Raw::new(&ts).await;
    let mut policy = self_policy();
    policy["lifetime_actions"] =
        json!([{"trigger": {"days_before_expiry": 10}, "action": {"action_type": "AutoRenew"}}]);
    let (s, v) = post(
        &raw,
        "/certificates/renewing/create",
        json!({ "policy": policy }),
    )
    .await;
    // The first answer shows the operation as it began (as Azure's); the operation is already complete.
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::ACCEPTED, Some("inProgress")),
        "{v}"
    );
    let (_, v) = raw
        .call(
            Method::GET,
            &format!("/certificates/renewing/pending?{V}"),
            None,
        )
        .await;
    assert_eq!(v["status"], "completed", "{v}");
    assert!(v["target"]
        .as_str()
        .unwrap()
        .ends_with("/certificates/renewing"));
    let mut notify = self_policy();
    notify["lifetime_actions"] = json!([{"trigger": {"lifetime_percentage": 50}, "action": {"action_type": "EmailContacts"}}]);
    let (s, _) = post(
        &raw,
        "/certificates/notifying/create",
        json!({ "policy": notify }),
    )
    .await;
    assert_eq!(s, 202);
    async fn versions(ts: &TestServer, name: &str) -> usize {
        // A fresh token each time: the clock moves by days.
        let raw = Raw::new(ts).await;
        let (_, v) = raw
            .call(
                Method::GET,
                &format!("/certificates/{name}/versions?{V}"),
                None,
            )
            .await;
        v["value"].as_array().map(Vec::len).unwrap_or(0)
    }
    let (_, first) = raw
        .call(Method::GET, &format!("/certificates/renewing?{V}"), None)
        .await;
    // Not due yet: nothing happens.
    ts.clock.as_ref().unwrap().advance(10 * 86_400);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(versions(&ts, "renewing").await, 1);
    // Ten days before expiry of a one-month certificate: renewed once, with the same policy.
    ts.clock.as_ref().unwrap().advance(12 * 86_400);
    let mut renewed = false;
    for _ in 0..100 {
        if versions(&ts, "renewing").await == 2 {
            renewed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(renewed, "renewed by its lifetime action");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(versions(&ts, "renewing").await, 2, "renewed once");
    let raw = Raw::new(&ts).await;
    let (_, latest) = raw
        .call(Method::GET, &format!("/certificates/renewing?{V}"), None)
        .await;
    assert_ne!(latest["cer"], first["cer"]);
    assert!(latest["attributes"]["exp"].as_i64() > first["attributes"]["exp"].as_i64());
    // The key and secret followed the new version.
    let version = latest["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, secret) = raw
        .call(Method::GET, &format!("/secrets/renewing?{V}"), None)
        .await;
    assert!(
        secret["id"].as_str().unwrap().ends_with(&version),
        "{secret}"
    );
    let (_, key) = raw
        .call(Method::GET, &format!("/keys/renewing?{V}"), None)
        .await;
    assert!(
        key["key"]["kid"].as_str().unwrap().ends_with(&version),
        "{key}"
    );
    // EmailContacts never makes versions.
    assert_eq!(versions(&ts, "notifying").await, 1);
}

#[tokio::test]
async fn a_non_exportable_key_stays_in_the_vault() {
    let ts = TestServer::start().await;
    let raw = Raw::new(&ts).await;
    let mut policy = self_policy();
    policy["key_props"] = json!({"exportable": false, "kty": "EC", "crv": "P-256"});
    policy["secret_props"] = json!({"contentType": "application/x-pem-file"});
    let (s, v) = post(
        &raw,
        "/certificates/locked/create",
        json!({ "policy": policy }),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let (s, secret) = raw
        .call(Method::GET, &format!("/secrets/locked?{V}"), None)
        .await;
    assert_eq!(s, 200);
    let pem = secret["value"].as_str().unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE"), "{pem}");
    assert!(!pem.contains("PRIVATE KEY"), "the key is not exported");
    // The key still signs, in the vault.
    let digest = keyhaven_azure_api::b64url::encode(&keyhaven_crypto::sha256(b"data"));
    let (s, v) = post(
        &raw,
        "/keys/locked/sign",
        json!({"alg": "ES256", "value": digest}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Nor can the managed key be rotated or re-imported by hand.
    let (s, _) = post(&raw, "/keys/locked/rotate", json!({})).await;
    assert_eq!(s, 403);
    let (s, _) = raw
        .call(
            Method::PATCH,
            &format!("/secrets/locked?{V}"),
            Some(serde_json::to_vec(&json!({"contentType": "text/plain"})).unwrap()),
        )
        .await;
    assert_eq!(s, 403);
}
