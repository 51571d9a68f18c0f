//! Raw HTTP: authentication comes first, and every bad input gets a clear 4xx in Azure's envelope and changes
//! nothing.

use keyhaven_testkit::TestServer;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

pub(crate) struct Raw {
    pub(crate) http: Client,
    pub(crate) base: String,
    pub(crate) token: String,
}

impl Raw {
    pub(crate) async fn new(ts: &TestServer) -> Raw {
        Raw {
            http: ts.http(&["default"]),
            base: ts.vault_url("default"),
            token: ts.admin_token().await,
        }
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path_and_query}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub(crate) async fn put_json(&self, path: &str, v: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(serde_json::to_vec(&v).unwrap()))
            .await
    }

    async fn secret_count(&self) -> usize {
        let (s, v) = self
            .call(Method::GET, "/secrets?api-version=7.5", None)
            .await;
        assert_eq!(s, 200);
        v["value"].as_array().unwrap().len()
    }
}

fn assert_envelope(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_401_first_with_the_challenge() {
    let ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let expected = format!(
        "Bearer authorization=\"https://localhost:{}/{}\", resource=\"https://vault.localhost:{}\"",
        ts.port(),
        ts.admin.tenant_id,
        ts.port()
    );
    // No token, no api-version, an unknown path, a malformed body: 401 before anything else.
    for (m, path, body) in [
        (Method::GET, "/secrets/x?api-version=7.5", ""),
        (Method::PUT, "/secrets/x", ""),
        (
            Method::PUT,
            "/secrets/bad_name?api-version=7.5",
            "{not json",
        ),
        (Method::GET, "/no/such/path", ""),
    ] {
        let resp = http
            .request(m, format!("{}{path}", ts.vault_url("default")))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(
            resp.headers()["www-authenticate"].to_str().unwrap(),
            expected
        );
        let v: Value = resp.json().await.unwrap();
        assert_envelope(&v, "Unauthorized");
    }
    // A forged token and one for another audience: 401 with the same challenge.
    let good = ts.admin_token().await;
    let mut forged = good.clone();
    forged.pop();
    forged.push(if good.ends_with('A') { 'B' } else { 'A' });
    // Tokens are issued only for this deployment's resources: its vaults and its management.
    let foreign = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            ts.authority(),
            ts.admin.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ts.admin.client_id.as_str()),
            ("client_secret", ts.admin.client_secret.as_str()),
            ("scope", "https://management.example.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 400, "no token for another resource");
    let v: Value = foreign.json().await.unwrap();
    assert_eq!(v["error"], "invalid_scope");
    assert!(v.get("access_token").is_none());
    // A management token does not open the data plane, and a data-plane token does not open management.
    let management = ts.management_token().await;
    let resp = http
        .get(format!("{}/_keyhaven/vaults", ts.authority()))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "a vault token on management");
    let resp = http
        .get(format!("{}/_keyhaven/vaults", ts.authority()))
        .bearer_auth(&management)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "a management token on management");
    for tok in [forged.as_str(), management.as_str(), "garbage"] {
        let resp = http
            .get(format!(
                "{}/secrets?api-version=7.5",
                ts.vault_url("default")
            ))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"].to_str().unwrap(),
            expected
        );
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let ts = TestServer::start_with_manual_clock().await;
    let raw = Raw::new(&ts).await;
    assert_eq!(
        raw.call(Method::GET, "/secrets?api-version=7.5", None)
            .await
            .0,
        200
    );
    ts.clock.as_ref().unwrap().advance(3600);
    let (s, v) = raw
        .call(Method::GET, "/secrets?api-version=7.5", None)
        .await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn token_endpoint_speaks_oauth2() {
    let ts = TestServer::start().await;
    let http = ts.http(&[]);
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        ts.authority(),
        ts.admin.tenant_id
    );
    let scope = format!("https://vault.localhost:{}/.default", ts.port());
    let resp = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ts.admin.client_id.as_str()),
            ("client_secret", ts.admin.client_secret.as_str()),
            ("scope", scope.as_str()),
            ("client_info", "1"),
            ("claims", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].is_i64(), "numbers as numbers: {v}");
    let wrong = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ts.admin.client_id.as_str()),
            ("client_secret", "nope"),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let other_tenant = http
        .post(format!(
            "{}/not-our-tenant/oauth2/v2.0/token",
            ts.authority()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other_tenant.status(), 400);
    let oidc: Value = http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            ts.authority(),
            ts.admin.tenant_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc["token_endpoint"], url);
    assert_eq!(
        oidc["issuer"],
        format!("{}/{}/v2.0", ts.authority(), ts.admin.tenant_id)
    );
    let jwks: Value = http
        .get(oidc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let ts = TestServer::start_with_manual_clock().await;
    let raw = Raw::new(&ts).await;
    let (s, _) = raw
        .put_json("/secrets/keep?api-version=7.5", json!({"value": "v"}))
        .await;
    assert_eq!(s, 200);
    type Case = (
        &'static str,
        Method,
        String,
        Option<Vec<u8>>,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        ("missing api-version", Method::PUT, "/secrets/a".into(), Some(br#"{"value":"v"}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("malformed JSON", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(b"{\"value\":".to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("not JSON", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(b"value=v".to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("empty body", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(Vec::new()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("wrong type", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(br#"{"value": 987654321}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("missing value", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(br#"{"contentType":"x"}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("bad name", Method::PUT, "/secrets/bad_name?api-version=7.5".into(), Some(br#"{"value":"v"}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("long name", Method::PUT, format!("/secrets/{}?api-version=7.5", "a".repeat(128)), Some(br#"{"value":"v"}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("value too large", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(serde_json::to_vec(&json!({"value": "x".repeat(25_601)})).unwrap()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("too many tags", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(serde_json::to_vec(&json!({"value": "v", "tags": (0..16).map(|i| (format!("t{i}"), "v".to_string())).collect::<std::collections::BTreeMap<_, _>>()})).unwrap()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("exp before nbf", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(br#"{"value":"v","attributes":{"nbf":2000000000,"exp":1000000000}}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("body over 1 MiB", Method::PUT, "/secrets/a?api-version=7.5".into(), Some(vec![b' '; (1 << 20) + 1]), StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
        ("bad version", Method::GET, "/secrets/keep/xyz?api-version=7.5".into(), None, StatusCode::BAD_REQUEST, "BadParameter"),
        ("unknown version", Method::GET, format!("/secrets/keep/{}?api-version=7.5", "0".repeat(32)), None, StatusCode::NOT_FOUND, "SecretNotFound"),
        ("unknown secret", Method::GET, "/secrets/nope?api-version=7.5".into(), None, StatusCode::NOT_FOUND, "SecretNotFound"),
        ("maxresults too big", Method::GET, "/secrets?api-version=7.5&maxresults=26".into(), None, StatusCode::BAD_REQUEST, "BadParameter"),
        ("maxresults zero", Method::GET, "/secrets?api-version=7.5&maxresults=0".into(), None, StatusCode::BAD_REQUEST, "BadParameter"),
        ("bad skiptoken", Method::GET, "/secrets?api-version=7.5&$skiptoken=%%%".into(), None, StatusCode::BAD_REQUEST, "BadParameter"),
        ("restore not base64", Method::POST, "/secrets/restore?api-version=7.5".into(), Some(br#"{"value":"***"}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("restore wrong kind of data", Method::POST, "/secrets/restore?api-version=7.5".into(), Some(br#"{"value":"aGVsbG8gd29ybGQ"}"#.to_vec()), StatusCode::BAD_REQUEST, "BadParameter"),
        ("purge of a live secret", Method::DELETE, "/deletedsecrets/keep?api-version=7.5".into(), None, StatusCode::NOT_FOUND, "SecretNotFound"),
        ("unknown operation", Method::POST, "/secrets/keep/frobnicate?api-version=7.5".into(), None, StatusCode::NOT_FOUND, "NotFound"),
    ];
    for (what, m, path, body, status, code) in cases {
        let (s, v) = raw.call(m, &path, body).await;
        assert_eq!(s, status, "{what}: {v}");
        assert_envelope(&v, code);
        assert!(
            !v.to_string().contains("987654321"),
            "{what}: the error echoes a value"
        );
        assert_eq!(raw.secret_count().await, 1, "{what}: nothing was written");
    }
    // The deleted-then-refused secret value never appears; the kept one is unchanged.
    let (s, v) = raw
        .call(Method::GET, "/secrets/keep?api-version=7.5", None)
        .await;
    assert_eq!((s, v["value"].as_str()), (StatusCode::OK, Some("v")));
}

#[tokio::test]
async fn api_version_any_value_percent_encoded_names_and_path_normalization() {
    let ts = TestServer::start().await;
    let raw = Raw::new(&ts).await;
    for v in ["7.4", "2025-07-01", "2026-03-01-preview", "2026-04-01"] {
        let (s, _) = raw
            .put_json(&format!("/secrets/a?api-version={v}"), json!({"value": v}))
            .await;
        assert_eq!(s, 200, "api-version {v}");
    }
    let (s, v) = raw
        .call(Method::GET, "/secrets/a/?api%2Dversion=7.5", None)
        .await;
    assert_eq!(
        (s, v["value"].as_str()),
        (StatusCode::OK, Some("2026-04-01")),
        "trailing slash means latest"
    );
    let (s, _) = raw
        .call(Method::GET, "//secrets//a?api-version=7.5", None)
        .await;
    assert_eq!(s, 200, "doubled slashes are normalized");
    let (s, v) = raw
        .call(
            Method::GET,
            "/secrets/a/versions?api-version=7.5&maxresults=2",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    let next = v["nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}/secrets/a/versions?", ts.vault_url("default"))),
        "{next}"
    );
    let (s, v2) = raw
        .call(Method::GET, next.trim_start_matches(&raw.base), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v2["value"].as_array().unwrap().len(), 2);
    assert!(v2["nextLink"].is_null());
}

#[tokio::test]
async fn unusable_versions_refuse_their_value_with_403() {
    let ts = TestServer::start_with_manual_clock().await;
    let raw = Raw::new(&ts).await;
    let now = keyhaven_model::Clock::now(&**ts.clock.as_ref().unwrap());
    let (s, _) = raw
        .put_json(
            "/secrets/later?api-version=7.5",
            json!({"value": "v", "attributes": {"nbf": now + 100}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = raw
        .put_json(
            "/secrets/soon?api-version=7.5",
            json!({"value": "v", "attributes": {"exp": now + 100}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = raw
        .put_json(
            "/secrets/off?api-version=7.5",
            json!({"value": "v", "attributes": {"enabled": false}}),
        )
        .await;
    assert_eq!(s, 200);
    for n in ["later", "off"] {
        let (s, v) = raw
            .call(Method::GET, &format!("/secrets/{n}?api-version=7.5"), None)
            .await;
        assert_eq!(s, 403, "{n}");
        assert_envelope(&v, "Forbidden");
    }
    assert_eq!(
        raw.call(Method::GET, "/secrets/soon?api-version=7.5", None)
            .await
            .0,
        200
    );
    ts.clock.as_ref().unwrap().advance(200);
    assert_eq!(
        raw.call(Method::GET, "/secrets/later?api-version=7.5", None)
            .await
            .0,
        200
    );
    assert_eq!(
        raw.call(Method::GET, "/secrets/soon?api-version=7.5", None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn soft_delete_retention_and_purge_protection() {
    let ts = TestServer::start_with_manual_clock().await;
    let token = ts.admin_token().await;
    let http = ts.http(&["guarded"]);
    let resp = http
        .put(format!("{}/_keyhaven/vaults/guarded", ts.authority()))
        .bearer_auth(ts.management_token().await)
        .json(&json!({"retentionDays": 7, "purgeProtection": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let raw = Raw {
        http,
        base: ts.vault_url("guarded"),
        token,
    };
    let (_, v) = raw
        .put_json("/secrets/s?api-version=7.5", json!({"value": "v"}))
        .await;
    assert_eq!(v["attributes"]["recoveryLevel"], "CustomizedRecoverable");
    assert_eq!(v["attributes"]["recoverableDays"], 7);
    let (s, d) = raw
        .call(Method::DELETE, "/secrets/s?api-version=7.5", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        d["scheduledPurgeDate"].as_i64().unwrap() - d["deletedDate"].as_i64().unwrap(),
        7 * 86_400
    );
    let (s, v) = raw
        .call(Method::DELETE, "/deletedsecrets/s?api-version=7.5", None)
        .await;
    assert_eq!(s, 403, "purge protection: {v}");
    assert_eq!(
        raw.call(Method::GET, "/deletedsecrets/s?api-version=7.5", None)
            .await
            .0,
        200
    );
    // After the retention period the background purge removes it.
    ts.clock.as_ref().unwrap().advance(7 * 86_400 + 1);
    let raw = Raw {
        token: ts.admin_token().await,
        ..raw
    };
    let kh_purged = async {
        for _ in 0..100 {
            if raw
                .call(Method::GET, "/deletedsecrets/s?api-version=7.5", None)
                .await
                .0
                == 404
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    };
    assert!(kh_purged.await, "purged after its scheduled purge date");
}

#[tokio::test]
async fn the_resource_manager_subset_azure_tools_ask_for() {
    let ts = TestServer::start().await;
    let http = ts.http(&[]);
    let token = ts.management_token().await;
    let get = |path: String| {
        http.get(format!("{}{path}", ts.authority()))
            .bearer_auth(&token)
            .send()
    };
    let list: Value = get("/subscriptions?api-version=2022-12-01".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["value"][0]["subscriptionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(list["value"][0]["tenantId"], ts.admin.tenant_id.as_str());
    let one: Value = get(format!("/subscriptions/{id}?api-version=2022-12-01"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["state"], "Enabled");
    let provider: Value = get(format!(
        "/subscriptions/{id}/providers/Microsoft.KeyVault?api-version=2022-12-01"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(provider["registrationState"], "Registered");
    let reg = http
        .post(format!(
            "{}/subscriptions/{id}/providers/Microsoft.KeyVault/register?api-version=2022-12-01",
            ts.authority()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 200);
    assert_eq!(
        get("/subscriptions/00000000-0000-0000-0000-000000000000?api-version=1".into())
            .await
            .unwrap()
            .status(),
        404
    );
    let anonymous = http
        .get(format!("{}/subscriptions", ts.authority()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// `az cloud register --endpoint-resource-manager URL` reads `{URL}/metadata/endpoints` without a token, and with
/// the URL's trailing slash when it has one.
#[tokio::test]
async fn cloud_metadata_describes_the_deployment_for_az_cloud_register() {
    let ts = TestServer::start().await;
    let http = ts.http(&[]);
    for path in [
        "/metadata/endpoints?api-version=2022-09-01",
        "//metadata/endpoints?api-version=2022-09-01",
    ] {
        let resp = http
            .get(format!("{}{path}", ts.authority()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let m: Value = resp.json().await.unwrap();
        assert_eq!(m["name"], "Keyhaven");
        assert_eq!(m["resourceManager"], format!("{}/", ts.authority()));
        assert_eq!(m["authentication"]["loginEndpoint"], ts.authority());
        assert_eq!(
            m["authentication"]["audiences"][0],
            format!("{}/", ts.authority())
        );
        assert_eq!(m["authentication"]["tenant"], ts.admin.tenant_id.as_str());
        assert_eq!(
            m["suffixes"]["keyVaultDns"],
            format!("vault.localhost:{}", ts.port())
        );
    }
}
