//! Portal sign-ins count against the token endpoint's limits: failures from one address lock that client out of
//! both, and the right secret waits the lockout out too.

use keyhaven_testkit::TestServer;

async fn sign_in(ts: &TestServer, http: &reqwest::Client, client_id: &str, secret: &str) -> u16 {
    let page = http
        .get(format!("{}/portal/signin", ts.authority()))
        .send()
        .await
        .unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-keyhaven-signin="))
        .expect("the sign-in form sets its cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = cookie
        .trim_start_matches("__Host-keyhaven-signin=")
        .to_string();
    http.post(format!("{}/portal/signin", ts.authority()))
        .header("cookie", cookie)
        .header("origin", ts.authority())
        .form(&[
            ("csrf", csrf.as_str()),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn failed_portal_sign_ins_lock_out_the_client_like_the_token_endpoint() {
    let ts = TestServer::start_with(
        |c| {
            c.token_failure_limit = 3;
        },
        None,
    )
    .await;
    let http = ts
        .http_builder(&[])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let id = ts.admin.client_id.clone();
    for _ in 0..3 {
        assert_eq!(sign_in(&ts, &http, &id, "not-the-secret").await, 401);
    }
    assert_eq!(sign_in(&ts, &http, &id, "not-the-secret").await, 429);
    let secret = ts.admin.client_secret.clone();
    assert_eq!(
        sign_in(&ts, &http, &id, &secret).await,
        429,
        "locked out, the right secret too"
    );
    // The token endpoint shares the count: from this address the client is locked out there as well.
    let r = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            ts.authority(),
            ts.admin.tenant_id
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            (
                "scope",
                &format!("https://vault.localhost:{}/.default", ts.port()),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}
