//! Expensive work: throttled by cost class as Azure does (a secret set past the create/import budget is refused
//! while reads go on), refused when Azure refuses it (RSA keys over 4096 bits, PKCS#12 files asking for absurd key
//! derivations), and run where it cannot hold up the requests of others (RSA-4096 generation).

use base64::Engine;
use futures::StreamExt;
use keyhaven_testkit::TestServer;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn url(ts: &TestServer, path: &str) -> String {
    format!("{}/{path}?api-version=7.5", ts.vault_url("default"))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A self-signed certificate for `key`.
fn certificate(key: &PKey<Private>) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "cost-test").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build()
}

/// A PKCS#12 file of `key` and its certificate under `password`, every part under `iterations`.
fn pkcs12(key: &PKey<Private>, password: &str, iterations: u32) -> Vec<u8> {
    let cert = certificate(key);
    let mut b = Pkcs12::builder();
    b.name("cost-test").pkey(key).cert(&cert);
    b.key_iter(iterations).mac_iter(iterations);
    b.build2(password).unwrap().to_der().unwrap()
}

/// DER with every INTEGER whose content is `from` replaced by `to`, lengths fixed up, descending into octet
/// strings that hold DER (as PKCS#12 nests its structures).
fn replace_integers(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    fn elements(mut data: &[u8]) -> Option<Vec<(u8, &[u8])>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let tag = data[0];
            let first = *data.get(1)?;
            let (len, head) = if first < 0x80 {
                (usize::from(first), 2)
            } else {
                let n = usize::from(first & 0x7f);
                let bytes = data.get(2..2 + n)?;
                (
                    bytes.iter().fold(0, |a, &b| (a << 8) | usize::from(b)),
                    2 + n,
                )
            };
            out.push((tag, data.get(head..head + len)?));
            data = &data[head + len..];
        }
        Some(out)
    }
    fn encode(tag: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        let len = body.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let be = len.to_be_bytes();
            let skip = be.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (be.len() - skip) as u8);
            out.extend_from_slice(&be[skip..]);
        }
        out.extend_from_slice(body);
    }
    fn rewrite(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, body) in elements(data).unwrap() {
            let holds_der = tag == 0x04
                && body.first() == Some(&0x30)
                && elements(body).is_some_and(|e| e.len() == 1);
            let body = if tag == 0x02 && body == from {
                to.to_vec()
            } else if tag & 0x20 != 0 || holds_der {
                rewrite(body, from, to)
            } else {
                body.to_vec()
            };
            encode(tag, &body, &mut out);
        }
        out
    }
    rewrite(der, from, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_301st_secret_set_in_a_window_is_throttled_while_reads_go_on() {
    let ts = TestServer::start_with(
        |c| {
            // Azure's budgets; a window long enough for 300 writes on a loaded machine.
            c.throttle_limit = 4000;
            c.throttle_window_ms = 120_000;
        },
        None,
    )
    .await;
    let http = ts.http(&["default"]);
    let token = ts.admin_token().await;
    let statuses: Vec<u16> = futures::stream::iter(0..300)
        .map(|i| {
            let (http, token, url) = (
                http.clone(),
                token.clone(),
                url(&ts, &format!("secrets/s{i}")),
            );
            async move {
                http.put(url)
                    .bearer_auth(token)
                    .json(&json!({"value": format!("v{i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let r = http
        .put(url(&ts, "secrets/one-too-many"))
        .bearer_auth(&token)
        .json(&json!({"value": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    // Key import shares the budget; reads and key creation have their own.
    let r = http
        .put(url(&ts, "keys/imported"))
        .bearer_auth(&token)
        .json(&json!({"key": {"kty": "oct", "k": b64url(&[7u8; 32])}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let r = http
        .get(url(&ts, "secrets/s7"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["value"], "v7");
    let r = http
        .post(url(&ts, "keys/made/create"))
        .bearer_auth(&token)
        .json(&json!({"kty": "EC", "crv": "P-256"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Nothing was written by the refused request.
    let r = http
        .get(url(&ts, "secrets/one-too-many"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_keys_over_4096_bits_are_refused_on_create_and_import() {
    let ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let token = ts.admin_token().await;
    let refused = |r: reqwest::Response| async move {
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.unwrap();
        let m = e["error"]["message"].as_str().unwrap().to_string();
        assert!(m.contains("4096 bits"), "{m}");
        m
    };
    let r = http
        .post(url(&ts, "keys/big/create"))
        .bearer_auth(&token)
        .json(&json!({"kty": "RSA", "key_size": 8192}))
        .send()
        .await
        .unwrap();
    refused(r).await;
    // A genuine key just over the limit (an 8192-bit one takes a minute to make in a test).
    let rsa = Rsa::generate(4608).unwrap();
    let jwk = json!({
        "kty": "RSA",
        "n": b64url(&rsa.n().to_vec()),
        "e": b64url(&rsa.e().to_vec()),
        "d": b64url(&rsa.d().to_vec()),
        "p": b64url(&rsa.p().unwrap().to_vec()),
        "q": b64url(&rsa.q().unwrap().to_vec()),
        "dp": b64url(&rsa.dmp1().unwrap().to_vec()),
        "dq": b64url(&rsa.dmq1().unwrap().to_vec()),
        "qi": b64url(&rsa.iqmp().unwrap().to_vec()),
    });
    let r = http
        .put(url(&ts, "keys/big"))
        .bearer_auth(&token)
        .json(&json!({ "key": jwk }))
        .send()
        .await
        .unwrap();
    let m = refused(r).await;
    assert!(m.contains("4608 bits"), "{m}");
    let key = PKey::from_rsa(rsa).unwrap();
    let pfx = pkcs12(&key, "secret", 2048);
    let r = http
        .post(url(&ts, "certificates/big/import"))
        .bearer_auth(&token)
        .json(&json!({"value": base64::engine::general_purpose::STANDARD.encode(&pfx), "pwd": "secret"}))
        .send()
        .await
        .unwrap();
    refused(r).await;
    for path in ["keys/big", "certificates/big"] {
        let r = http
            .get(url(&ts, path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // 4096 bits still import.
    let key = PKey::from_rsa(Rsa::generate(4096).unwrap()).unwrap();
    let pfx = pkcs12(&key, "secret", 2048);
    let r = http
        .post(url(&ts, "certificates/ok/import"))
        .bearer_auth(&token)
        .json(&json!({"value": base64::engine::general_purpose::STANDARD.encode(&pfx), "pwd": "secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkcs12_asking_for_a_billion_iterations_is_refused_before_any_are_run() {
    let ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let token = ts.admin_token().await;
    let key = PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    // Made with 3,001 iterations (0x0bb9) everywhere, then set to 10^9 (its MAC no longer verifies; the count is
    // read first).
    let pfx = pkcs12(&key, "secret", 3001);
    let hostile = replace_integers(&pfx, &[0x0b, 0xb9], &1_000_000_000u32.to_be_bytes());
    assert_ne!(hostile, pfx);
    let import = |name: &str, der: &[u8]| {
        http.post(url(&ts, &format!("certificates/{name}/import")))
            .bearer_auth(&token)
            .json(&json!({"value": base64::engine::general_purpose::STANDARD.encode(der), "pwd": "secret"}))
            .send()
    };
    // Were the billion iterations run, this would take minutes: the limit only turns that into a clean failure.
    let r = tokio::time::timeout(Duration::from_secs(120), import("hostile", &hostile))
        .await
        .expect("refused at once, not after running the iterations")
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("key-derivation iterations"), "{m}");
    // The same file with its own counts imports.
    let r = import("fine", &pfx).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_rsa_4096_creates_does_not_hold_up_a_secret_get() {
    const CREATES: usize = 8;
    let ts = TestServer::start().await;
    let http = ts.http(&["default"]);
    let token = ts.admin_token().await;
    let r = http
        .put(url(&ts, "secrets/wanted"))
        .bearer_auth(&token)
        .json(&json!({"value": "here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done = Arc::new(AtomicUsize::new(0));
    let creates: Vec<_> = (0..CREATES)
        .map(|i| {
            let (http, token, url, done) = (
                http.clone(),
                token.clone(),
                url(&ts, &format!("keys/big-{i}/create")),
                done.clone(),
            );
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"kty": "RSA", "key_size": 4096}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // Once one create has finished the others are surely under way.
    while done.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = http
        .get(url(&ts, "secrets/wanted"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["value"], "here");
    // Generated on the request threads, the creates took those threads until nearly all of them were done (7 of
    // 8 here); the read must come back with most of them still running.
    let finished_by_then = done.load(Ordering::SeqCst);
    assert!(
        finished_by_then < CREATES / 2,
        "the read was answered only after {finished_by_then} of {CREATES} creates had finished"
    );
    for c in creates {
        c.await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), CREATES);
}
