//! Where the `keyhaven` CLI sends bearer tokens: only to the server's own host and its vaults. Listeners in the test
//! stand in for foreign hosts and record every connection and whether an `Authorization` header arrived; a fake
//! foreign vault service (HTTPS, its own token authority) checks that another service's credential reaches only
//! that service, and that a `nextLink` leaving the vault is not followed.

use keyhaven_testkit::TestServer;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// What a listener saw.
#[derive(Default, Debug)]
struct Seen {
    connections: usize,
    /// Request lines with the `Authorization` header each carried.
    requests: Vec<(String, Option<String>)>,
}

impl Seen {
    fn authorization(&self) -> Vec<String> {
        self.requests
            .iter()
            .filter_map(|(_, a)| a.clone())
            .collect()
    }
}

/// One HTTP/1.1 request (head and body) from `s`: (request line, authorization header).
fn read_request(s: &mut impl Read) -> Option<(String, Option<String>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut auth = None;
    let mut length = 0usize;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "authorization" => auth = Some(v.trim().to_string()),
                "content-length" => length = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some((request_line, auth))
}

fn respond(s: &mut impl Write, status: &str, body: &Value) {
    let body = body.to_string();
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.flush();
}

/// A plain listener on 127.0.0.1 answering every request with 404 (an Azure error envelope).
fn recording_listener() -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            s.lock().unwrap().connections += 1;
            if let Some(r) = read_request(&mut stream) {
                s.lock().unwrap().requests.push(r);
                respond(
                    &mut stream,
                    "404 Not Found",
                    &json!({"error": {"code": "NotFound", "message": "nothing here"}}),
                );
            }
        }
    });
    (port, seen)
}

fn keyhaven(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(args)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `args` with the real server's --server, --ca-file and admin --credential-file.
fn against(ts: &TestServer, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend([
        "--server".to_string(),
        ts.authority(),
        "--ca-file".to_string(),
        ts.ca_file().to_str().unwrap().to_string(),
        "--credential-file".to_string(),
        ts.data_dir()
            .join("admin-credential.json")
            .to_str()
            .unwrap()
            .to_string(),
    ]);
    all
}

fn run(args: &[String]) -> (i32, String, String) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    keyhaven(&a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_token_goes_to_no_other_host() {
    let ts = TestServer::start().await;
    let (port, seen) = recording_listener();
    let dir = tempfile::tempdir().unwrap();
    let set = run(&against(
        &ts,
        &[
            "secret",
            "set",
            "--vault-name",
            "default",
            "--name",
            "s",
            "--value",
            "v",
        ],
    ));
    assert_eq!(set.0, 0, "{}", set.2);

    // Another host, by --vault-url (https or http), by --id, and for the whole-vault verbs: refused up front.
    let foreign_https = format!("https://127.0.0.1:{port}");
    let foreign_http = format!("http://127.0.0.1:{port}");
    let id = format!("https://127.0.0.1:{port}/secrets/s");
    let export_dir = dir.path().join("export");
    let attempts: Vec<Vec<&str>> = vec![
        vec![
            "secret",
            "show",
            "--vault-url",
            &foreign_https,
            "--name",
            "s",
        ],
        vec![
            "secret",
            "show",
            "--vault-url",
            &foreign_http,
            "--name",
            "s",
        ],
        vec!["secret", "show", "--id", &id],
        vec!["key", "list", "--vault-url", &foreign_https],
        vec![
            "vault",
            "backup",
            "--vault-url",
            &foreign_https,
            "--file",
            "unused.khvs",
        ],
        vec![
            "vault",
            "export",
            "--vault-url",
            &foreign_https,
            "--dir",
            export_dir.to_str().unwrap(),
        ],
    ];
    for args in &attempts {
        let (code, _, err) = run(&against(&ts, args));
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains("is not a vault of") && err.contains("token is only sent"),
            "{args:?}: {err}"
        );
    }
    let (_, _, err) = run(&against(&ts, &attempts[5]));
    assert!(
        err.contains("authorityHost") && err.contains("AZURE_AUTHORITY_HOST"),
        "the export refusal says how to copy another service's vault: {err}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.connections, 0,
        "nothing was sent to the foreign host: {seen:?}"
    );
    assert!(!export_dir.exists(), "nothing was exported");

    // The server's own host and its vaults, by URL, are fine.
    let own_vault = ts.vault_url("default");
    let own_id = format!("{}/secrets/s", ts.vault_url("default"));
    for args in [
        vec![
            "secret",
            "show",
            "--vault-url",
            own_vault.as_str(),
            "--name",
            "s",
        ],
        vec!["secret", "show", "--id", own_id.as_str()],
        vec![
            "secret",
            "show",
            "--vault-url",
            &ts.authority(),
            "--name",
            "s",
        ],
    ] {
        let (code, out, err) = run(&against(&ts, &args));
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["value"], "v");
    }
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it, made with the openssl command.
fn test_pki(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=Foreign Test CA",
        "-days",
        "2",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}

/// An HTTPS stand-in for another vault service on 127.0.0.1: its token endpoint (`/{tenant}/oauth2/v2.0/token`)
/// issues `foreign-token`; `GET /secrets` answers one page whose `nextLink` is `next_link`.
fn foreign_service(dir: &Path, next_link: String) -> (u16, Arc<Mutex<Seen>>) {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acceptor
        .set_private_key_file(dir.join("server.key"), SslFiletype::PEM)
        .unwrap();
    acceptor
        .set_certificate_chain_file(dir.join("server.pem"))
        .unwrap();
    let acceptor = Arc::new(acceptor.build());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            s.lock().unwrap().connections += 1;
            let (acceptor, s, next_link) = (acceptor.clone(), s.clone(), next_link.clone());
            std::thread::spawn(move || {
                let Ok(mut tls) = acceptor.accept(stream) else {
                    return;
                };
                let Some((line, auth)) = read_request(&mut tls) else {
                    return;
                };
                s.lock().unwrap().requests.push((line.clone(), auth));
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                if path.contains("/oauth2/v2.0/token") {
                    respond(
                        &mut tls,
                        "200 OK",
                        &json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "foreign-token"}),
                    );
                } else if path.starts_with("/secrets?") {
                    respond(
                        &mut tls,
                        "200 OK",
                        &json!({
                            "value": [{
                                "id": format!("https://127.0.0.1:{port}/secrets/first"),
                                "attributes": {"enabled": true, "created": 1, "updated": 1,
                                               "recoverableDays": 7, "recoveryLevel": "Recoverable"}
                            }],
                            "nextLink": next_link,
                        }),
                    );
                } else {
                    respond(
                        &mut tls,
                        "404 Not Found",
                        &json!({"error": {"code": "NotFound", "message": "nothing here"}}),
                    );
                }
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_services_vault_gets_its_own_token_and_its_next_links_stay_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    test_pki(d);
    // Where the listing's nextLink points: the same host on another port.
    let (elsewhere, elsewhere_seen) = recording_listener();
    let (port, seen) = foreign_service(
        d,
        format!("https://127.0.0.1:{elsewhere}/secrets?api-version=7.5&$skiptoken=page2"),
    );
    let authority = format!("https://127.0.0.1:{port}");
    std::fs::write(
        d.join("foreign-credential.json"),
        json!({"tenantId": "foreign-tenant", "clientId": "foreign-app", "clientSecret": "foreign-secret",
               "authorityHost": authority})
        .to_string(),
    )
    .unwrap();
    let export_dir = d.join("export");
    let (code, _, err) = keyhaven(&[
        "vault",
        "export",
        "--vault-url",
        &authority,
        "--dir",
        export_dir.to_str().unwrap(),
        "--ca-file",
        d.join("ca.pem").to_str().unwrap(),
        "--credential-file",
        d.join("foreign-credential.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refusing to follow the nextLink")
            && err.contains(&format!("https://127.0.0.1:{elsewhere}/secrets")),
        "{err}"
    );
    assert!(!err.contains("page2"), "the paging token stays out: {err}");
    let seen = seen.lock().unwrap();
    assert!(
        seen.requests
            .iter()
            .any(|(line, _)| line.starts_with("POST /foreign-tenant/oauth2/v2.0/token")),
        "the token came from the credential's own authority: {seen:?}"
    );
    assert_eq!(
        seen.authorization(),
        vec!["Bearer foreign-token".to_string()],
        "that token went to that vault's listing, and nothing else was sent with a token: {seen:?}"
    );
    let elsewhere_seen = elsewhere_seen.lock().unwrap();
    assert_eq!(
        elsewhere_seen.connections, 0,
        "the nextLink to another port was not followed: {elsewhere_seen:?}"
    );
}
