//! The token endpoint's protections against exhaustion (every token request would run argon2id): failed attempts
//! lock out a (client id, source address) pair and, past a higher limit, a whole source address — 429 with
//! `Retry-After` and an Entra-style error body, no secret checked; repeated valid requests are answered from
//! verified credentials without argon2, until the secret is removed; secret checks run a few at a time, the rest
//! wait briefly and are then answered 503 with `Retry-After`.
//!
//! Sources other than 127.0.0.1 are other loopback addresses (127.0.0.2, 127.0.0.3) the client binds to.

use crate::sdk::credential;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use keyhaven_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::IpAddr;

/// An HTTP client whose connections come from `source`.
fn from(ts: &TestServer, source: &str) -> reqwest::Client {
    ts.http_builder(&[])
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

async fn token(http: &reqwest::Client, ts: &TestServer, client_id: &str, secret: &str) -> Answer {
    let resp = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            ts.authority(),
            ts.admin.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", &format!("{}/.default", ts.authority())),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    Answer {
        status,
        retry_after,
        body: resp.json().await.unwrap(),
    }
}

/// The token endpoint's counters, from `/healthz` with a management token.
async fn stats(ts: &TestServer, http: &reqwest::Client, mtoken: &str) -> Value {
    let v: Value = http
        .get(format!("{}/healthz", ts.authority()))
        .bearer_auth(mtoken)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["tokenEndpoint"].clone()
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

struct Principal {
    client_id: String,
    object_id: String,
    secret: String,
    secret_id: String,
}

async fn create_principal(ts: &TestServer, mtoken: &str) -> Principal {
    let v: Value = ts
        .http(&[])
        .post(format!("{}/_keyhaven/principals", ts.authority()))
        .bearer_auth(mtoken)
        .json(&json!({ "displayName": "app" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Principal {
        client_id: v["clientId"].as_str().unwrap().into(),
        object_id: v["objectId"].as_str().unwrap().into(),
        secret: v["clientSecret"].as_str().unwrap().into(),
        secret_id: v["secretId"].as_str().unwrap().into(),
    }
}

/// Wrong secrets lock out the client id from that address, right secret included, until the window ends; another
/// address is not locked out, and its success does not clear the first address's count. No secret is checked while
/// locked out.
#[tokio::test]
async fn failures_lock_out_the_client_from_that_address_only() {
    let ts = TestServer::start_with(
        |c| {
            c.token_failure_limit = 3;
            c.token_failure_window_secs = 3;
        },
        None,
    )
    .await;
    let here = from(&ts, "127.0.0.1");
    let elsewhere = from(&ts, "127.0.0.2");
    let id = ts.admin.client_id.as_str();
    let right = ts.admin.client_secret.as_str();
    let mtoken = ts.token_for(&ts.authority()).await;

    for i in 0..3 {
        let a = token(&here, &ts, id, &format!("wrong-{i}")).await;
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.body["error"], "invalid_client");
    }
    let before = stats(&ts, &elsewhere, &mtoken).await;
    let locked = token(&here, &ts, id, "wrong-again").await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    let retry = locked.retry_after.expect("Retry-After");
    assert!((1..=3).contains(&retry), "{retry}");
    assert_eq!(locked.body["error"], "temporarily_unavailable");
    assert!(locked.body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS50053:"));
    assert_eq!(locked.body["error_codes"], json!([50053]));
    let right_here = token(&here, &ts, id, right).await;
    assert_eq!(
        right_here.status, 429,
        "the right secret waits out the lockout too, from that address"
    );

    // Another address: not locked out; its success leaves the first address's count alone.
    let a = token(&elsewhere, &ts, id, right).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(token(&here, &ts, id, right).await.status, 429);

    let after = stats(&ts, &elsewhere, &mtoken).await;
    assert_eq!(
        n(&after, "secretVerifications"),
        n(&before, "secretVerifications"),
        "locked-out requests check no secret (and the other address's right one was verified before)"
    );
    assert_eq!(n(&after, "lockedOut"), n(&before, "lockedOut") + 3);

    // The window ends: the right secret works from the first address again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let mut ok = token(&here, &ts, id, right).await;
    if ok.status == 429 {
        tokio::time::sleep(std::time::Duration::from_secs(ok.retry_after.unwrap())).await;
        ok = token(&here, &ts, id, right).await;
    }
    assert_eq!(ok.status, 200, "{}", ok.body);
}

/// Spraying client ids from one address locks the address out (any client id); the Azure identity library reports
/// the answer as a 429 with Entra's error code.
#[tokio::test]
async fn spraying_client_ids_locks_out_the_address() {
    let ts = TestServer::start_with(
        |c| {
            c.token_failure_limit = 100;
            c.token_source_failure_limit = 5;
        },
        None,
    )
    .await;
    let sprayer = from(&ts, "127.0.0.3");
    for i in 0..5 {
        let a = token(
            &sprayer,
            &ts,
            &format!("00000000-0000-0000-0000-00000000000{i}"),
            "x",
        )
        .await;
        assert_eq!(a.status, 401);
    }
    let a = token(&sprayer, &ts, &ts.admin.client_id, &ts.admin.client_secret).await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.retry_after.is_some());
    assert!(a.body["error_description"]
        .as_str()
        .unwrap()
        .contains("from this address"));
    // Other addresses are served (the SDK's credential connects from 127.0.0.1).
    let cred = credential(&ts, "default");
    let scope = format!("{}/.default", ts.authority());
    assert!(cred.get_token(&[&scope], None).await.is_ok());

    // Through the SDK's credential from the locked-out address: a 429 with the code.
    let ts_sprayer = crate::sdk::credential_with_transport(&ts, sprayer);
    let err = ts_sprayer.get_token(&[&scope], None).await.unwrap_err();
    assert!(err.to_string().contains("AADSTS50053"), "{err}");
    let inner = err
        .downcast_ref::<azure_core::Error>()
        .expect("the credential's error wraps the HTTP answer");
    match inner.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            assert_eq!(u16::from(*status), 429);
            assert_eq!(error_code.as_deref(), Some("50053"));
        }
        other => panic!("{other:?}: {err}"),
    }
}

/// Many concurrent requests with the same valid credential all succeed, with at most one secret check per allowed
/// concurrent check; with the verified-credential cache off, every request is checked.
#[tokio::test]
async fn repeated_valid_requests_are_not_hashed_again() {
    for (cache_secs, concurrency) in [(60u64, 2usize), (0, 2)] {
        let ts = TestServer::start_with(
            |c| {
                c.token_cache_secs = cache_secs;
                c.token_verify_concurrency = concurrency;
                c.token_verify_wait_ms = 60_000;
            },
            None,
        )
        .await;
        let mtoken = ts.token_for(&ts.authority()).await;
        let app = create_principal(&ts, &mtoken).await;
        let http = ts.http(&[]);
        let before = stats(&ts, &http, &mtoken).await;
        let requests = 24;
        let answers = futures::future::join_all(
            (0..requests).map(|_| token(&http, &ts, &app.client_id, &app.secret)),
        )
        .await;
        for a in &answers {
            assert_eq!(a.status, 200, "{}", a.body);
        }
        let after = stats(&ts, &http, &mtoken).await;
        let checks = n(&after, "secretVerifications") - n(&before, "secretVerifications");
        let cached = n(&after, "cachedVerifications") - n(&before, "cachedVerifications");
        if cache_secs > 0 {
            assert!(
                (1..=concurrency as u64).contains(&checks),
                "{checks} secret checks for {requests} requests"
            );
            assert_eq!(checks + cached, requests);
        } else {
            assert_eq!(
                checks, requests,
                "without the cache every request is checked"
            );
            assert_eq!(cached, 0);
        }
    }
}

/// A removed secret stops working at once though it was verified a moment ago; so does a deleted principal's.
#[tokio::test]
async fn a_removed_secret_stops_working_at_once_though_cached() {
    let ts = TestServer::start().await;
    let mtoken = ts.token_for(&ts.authority()).await;
    let http = ts.http(&[]);
    let app = create_principal(&ts, &mtoken).await;
    let second: Value = http
        .post(format!(
            "{}/_keyhaven/principals/{}/secrets",
            ts.authority(),
            app.object_id
        ))
        .bearer_auth(&mtoken)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second_secret = second["clientSecret"].as_str().unwrap();

    for secret in [app.secret.as_str(), second_secret] {
        assert_eq!(token(&http, &ts, &app.client_id, secret).await.status, 200);
    }
    let before = stats(&ts, &http, &mtoken).await;
    assert_eq!(
        token(&http, &ts, &app.client_id, &app.secret).await.status,
        200
    );
    let after = stats(&ts, &http, &mtoken).await;
    assert_eq!(
        n(&after, "cachedVerifications"),
        n(&before, "cachedVerifications") + 1,
        "the first secret's verification is remembered"
    );

    let removed = http
        .delete(format!(
            "{}/_keyhaven/principals/{}/secrets/{}",
            ts.authority(),
            app.object_id,
            app.secret_id
        ))
        .bearer_auth(&mtoken)
        .send()
        .await
        .unwrap();
    assert!(removed.status().is_success(), "{}", removed.status());
    let a = token(&http, &ts, &app.client_id, &app.secret).await;
    assert_eq!(a.status, 401, "a removed secret gets no token: {}", a.body);
    assert_eq!(
        token(&http, &ts, &app.client_id, second_secret)
            .await
            .status,
        200,
        "the other secret still works"
    );

    let deleted = http
        .delete(format!(
            "{}/_keyhaven/principals/{}",
            ts.authority(),
            app.object_id
        ))
        .bearer_auth(&mtoken)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert_eq!(
        token(&http, &ts, &app.client_id, second_secret)
            .await
            .status,
        401,
        "a deleted principal's secret gets no token"
    );
}

/// Secret checks run a few at a time: past a short wait, a request is answered 503 with `Retry-After`.
#[tokio::test]
async fn secret_checks_are_bounded() {
    let ts = TestServer::start_with(
        |c| {
            c.token_verify_concurrency = 1;
            c.token_verify_wait_ms = 1;
            c.token_failure_limit = 0;
            c.token_source_failure_limit = 0;
        },
        None,
    )
    .await;
    let http = ts.http(&[]);
    let answers = futures::future::join_all((0..16).map(|i| {
        let http = http.clone();
        let ts = &ts;
        async move {
            token(
                &http,
                ts,
                &format!("00000000-0000-0000-0000-0000000000{i:02}"),
                "wrong",
            )
            .await
        }
    }))
    .await;
    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(!busy.is_empty(), "some requests found no turn");
    for a in &busy {
        assert_eq!(a.retry_after, Some(1));
        assert_eq!(a.body["error"], "temporarily_unavailable");
    }
    assert!(answers.iter().all(|a| a.status == 401 || a.status == 503));
}
