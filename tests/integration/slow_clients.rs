//! Slow and idle clients over real TLS sockets: a request head trickled one byte a second is cut off at the
//! header read timeout while other clients are served as usual; idle connections close; a stalled or endless
//! request body is cut off; connections beyond the cap wait until one closes; HTTP/2 announces its limits and
//! pings.

use keyhaven_testkit::TestServer;
use openssl::ssl::{HandshakeError, SslConnector, SslMethod, SslStream};
use openssl::x509::X509;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A TLS connection to the server, as a blocking socket (one per thread).
pub(crate) fn tls_connect(
    addr: SocketAddr,
    ca_pem: &[u8],
    alpn: Option<&[u8]>,
) -> SslStream<TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let c = connector(ca_pem, alpn);
    c.connect("localhost", tcp)
        .unwrap_or_else(|e| panic!("TLS handshake: {e}"))
}

fn connector(ca_pem: &[u8], alpn: Option<&[u8]>) -> SslConnector {
    let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
    b.cert_store_mut()
        .add_cert(X509::from_pem(ca_pem).unwrap())
        .unwrap();
    if let Some(p) = alpn {
        b.set_alpn_protos(p).unwrap();
    }
    b.build()
}

/// Waits up to `wait` for the server to close the connection; `true` if it did.
fn closed_within(s: &mut SslStream<TcpStream>, wait: Duration) -> bool {
    s.get_ref().set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    match s.ssl_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.io_error().map(std::io::Error::kind),
            Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ),
    }
}

/// Sends `bytes` one a second; the time from the first byte until the server closed the connection, if it did
/// within `give_up`.
fn trickle(s: &mut SslStream<TcpStream>, bytes: &[u8], give_up: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    for b in bytes.iter().cycle() {
        if t0.elapsed() > give_up {
            return None;
        }
        if s.write_all(&[*b]).is_err() {
            return Some(t0.elapsed());
        }
        if closed_within(s, Duration::from_secs(1)) {
            return Some(t0.elapsed());
        }
    }
    None
}

/// Reads one HTTP/1.1 response (head and a `Content-Length` body); its status.
pub(crate) fn read_response(s: &mut SslStream<TcpStream>) -> u16 {
    s.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before a response");
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while data.len() < head_end + len {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed in a response body");
        data.extend_from_slice(&buf[..n]);
    }
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

const METADATA: &[u8] =
    b"GET /metadata/endpoints?api-version=2022-09-01 HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_sent_a_byte_a_second_is_cut_off_while_others_are_served() {
    let ts = TestServer::start_with(
        |c| {
            c.limits.header_read_timeout = Duration::from_secs(3);
            c.limits.idle_timeout = Duration::from_secs(60);
        },
        None,
    )
    .await;
    let (addr, ca) = (ts.addr, ts.ca_pem());
    // Four slow clients on new connections, and one on a connection that served a request and then sat idle for
    // two seconds: the clock runs from the first byte of its next head, not from when it went idle.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let ca = ca.clone();
        slow.push(std::thread::spawn(move || {
            let mut s = tls_connect(addr, &ca, None);
            trickle(&mut s, METADATA, Duration::from_secs(15))
        }));
    }
    let keep_alive = {
        let ca = ca.clone();
        std::thread::spawn(move || {
            let mut s = tls_connect(addr, &ca, None);
            s.write_all(METADATA).unwrap();
            assert_eq!(read_response(&mut s), 200);
            std::thread::sleep(Duration::from_secs(2));
            trickle(&mut s, METADATA, Duration::from_secs(15))
        })
    };

    // Meanwhile other clients are served at once, each on a new connection.
    let mut latencies = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        let started = Instant::now();
        let resp = ts
            .http(&[])
            .get(format!(
                "{}/metadata/endpoints?api-version=2022-09-01",
                ts.authority()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worst = latencies.iter().max().unwrap();
    assert!(latencies.len() >= 20, "{} requests", latencies.len());
    // Far below the 3 s the slow clients are held: nobody waits behind them.
    assert!(
        *worst < Duration::from_millis(1500),
        "other clients waited up to {worst:?}"
    );
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    eprintln!(
        "{} requests from other clients meanwhile: mean {mean:?}, worst {worst:?}",
        latencies.len()
    );

    let mut cut = Vec::new();
    for h in slow {
        cut.push(
            tokio::task::spawn_blocking(move || h.join().unwrap())
                .await
                .unwrap(),
        );
    }
    cut.push(
        tokio::task::spawn_blocking(move || keep_alive.join().unwrap())
            .await
            .unwrap(),
    );
    eprintln!("slow clients disconnected after {cut:?}");
    for (i, c) in cut.iter().enumerate() {
        let c = c.unwrap_or_else(|| panic!("slow client {i} was never disconnected"));
        assert!(
            c >= Duration::from_millis(2500) && c <= Duration::from_millis(4500),
            "slow client {i} was disconnected after {c:?}, not at the 3 s header read timeout"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let ts = TestServer::start_with(
        |c| {
            c.limits.header_read_timeout = Duration::from_secs(10);
            c.limits.idle_timeout = Duration::from_secs(2);
            c.limits.body_read_timeout = Duration::from_secs(3);
        },
        None,
    )
    .await;
    let (addr, ca) = (ts.addr, ts.ca_pem());
    let token = ts.admin_token().await;
    tokio::task::spawn_blocking(move || {
        // Idle after a request: closed at the idle timeout.
        let mut s = tls_connect(addr, &ca, None);
        s.write_all(METADATA).unwrap();
        assert_eq!(read_response(&mut s), 200);
        let t0 = Instant::now();
        assert!(closed_within(&mut s, Duration::from_secs(6)));
        let idle = t0.elapsed();
        assert!(
            idle >= Duration::from_millis(1500) && idle <= Duration::from_millis(3500),
            "closed after {idle:?} idle, not at the 2 s idle timeout"
        );

        // A request whose body arrives slowly (a chunk every second, 6 s in all) is in flight, not idle: it is
        // served, and the connection then serves another request.
        let mut s = tls_connect(addr, &ca, None);
        let body = br#"{"value":"s3cret-value"}"#;
        write!(
            s,
            "PUT /secrets/slow?api-version=7.5 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        for chunk in body.chunks(4) {
            std::thread::sleep(Duration::from_secs(1));
            s.write_all(chunk).unwrap();
        }
        assert_eq!(read_response(&mut s), 200);
        s.write_all(METADATA).unwrap();
        assert_eq!(read_response(&mut s), 200);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_or_endless_request_body_is_cut_off() {
    let ts = TestServer::start_with(
        |c| {
            c.limits.idle_timeout = Duration::from_secs(60);
            c.limits.body_read_timeout = Duration::from_secs(2);
            c.limits.body_total_timeout = Some(Duration::from_secs(4));
        },
        None,
    )
    .await;
    let (addr, ca) = (ts.addr, ts.ca_pem());
    let token = ts.admin_token().await;
    let put_head = move |len: usize| {
        format!(
            "PUT /secrets/slow?api-version=7.5 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    let other = {
        let (ca, put_head) = (ca.clone(), put_head.clone());
        std::thread::spawn(move || {
            // Half a body, then nothing: answered within the 2 s stall allowance, and the connection closes.
            let mut s = tls_connect(addr, &ca, None);
            s.write_all(put_head(100).as_bytes()).unwrap();
            s.write_all(br#"{"value":"#).unwrap();
            let t0 = Instant::now();
            assert_eq!(read_response(&mut s), 400);
            let stalled = t0.elapsed();
            assert!(closed_within(&mut s, Duration::from_secs(2)));
            stalled
        })
    };
    let endless = tokio::task::spawn_blocking(move || {
        // A byte a second (each gap within the stall allowance) for a 100-byte body: cut off at 4 s in all.
        let mut s = tls_connect(addr, &ca, None);
        s.write_all(put_head(100).as_bytes()).unwrap();
        trickle(
            &mut s,
            b"{\"value\":\"aaaaaaaaaaaaaaaaaaaa",
            Duration::from_secs(15),
        )
    });
    let stalled = tokio::task::spawn_blocking(move || other.join().unwrap())
        .await
        .unwrap();
    assert!(
        stalled >= Duration::from_millis(1500) && stalled <= Duration::from_millis(3500),
        "a stalled body was answered after {stalled:?}, not at the 2 s allowance"
    );
    let endless = endless
        .await
        .unwrap()
        .expect("the endless body was cut off");
    assert!(
        endless >= Duration::from_millis(3500) && endless <= Duration::from_millis(6000),
        "an endless body was cut off after {endless:?}, not at the 4 s allowance"
    );
    // Nothing was stored.
    let resp = ts
        .http(&["default"])
        .get(format!(
            "{}/secrets/slow?api-version=7.5",
            ts.vault_url("default")
        ))
        .bearer_auth(ts.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let ts = TestServer::start_with(
        |c| {
            c.limits.max_connections = 2;
            c.limits.header_read_timeout = Duration::from_secs(30);
        },
        None,
    )
    .await;
    let (addr, ca) = (ts.addr, ts.ca_pem());
    let (waited, served_after) = tokio::task::spawn_blocking(move || {
        let held1 = tls_connect(addr, &ca, None);
        let mut held2 = tls_connect(addr, &ca, None);
        // The cap holds: a third connection is not even accepted (its TLS handshake gets no answer).
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let t0 = Instant::now();
        let mid = match connector(&ca, None).connect("localhost", tcp) {
            Ok(_) => panic!("a third connection was served beyond the cap of 2"),
            Err(HandshakeError::WouldBlock(mid)) => mid,
            Err(e) => panic!("{e}"),
        };
        let waited = t0.elapsed();
        // The held connections still work.
        held2.write_all(METADATA).unwrap();
        assert_eq!(read_response(&mut held2), 200);
        // One closes: the waiting connection is accepted and served.
        drop(held1);
        let t1 = Instant::now();
        mid.get_ref()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut third = mid.handshake().unwrap_or_else(|e| panic!("{e}"));
        third.write_all(METADATA).unwrap();
        assert_eq!(read_response(&mut third), 200);
        (waited, t1.elapsed())
    })
    .await
    .unwrap();
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    eprintln!(
        "beyond the cap: waited {waited:?} unanswered, served {served_after:?} after a slot freed"
    );
    assert!(
        served_after < Duration::from_secs(3),
        "served {served_after:?} after a slot freed"
    );
}

/// Reads one HTTP/2 frame: type, flags, stream, payload.
fn h2_frame(s: &mut SslStream<TcpStream>) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head)?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)?;
    Ok((head[3], head[4], stream, payload))
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_announces_its_limits_and_drops_a_client_that_stops_answering_pings() {
    let ts = TestServer::start_with(
        |c| {
            c.limits.http2_max_concurrent_streams = 7;
            c.limits.http2_max_header_list_bytes = 4096;
            c.limits.http2_keepalive_interval = Some(Duration::from_secs(1));
            c.limits.http2_keepalive_timeout = Duration::from_secs(1);
            c.limits.header_read_timeout = Duration::from_secs(30);
            c.limits.idle_timeout = Duration::from_secs(30);
        },
        None,
    )
    .await;
    let (addr, ca) = (ts.addr, ts.ca_pem());
    tokio::task::spawn_blocking(move || {
        let mut s = tls_connect(addr, &ca, Some(b"\x02h2"));
        assert_eq!(s.ssl().selected_alpn_protocol(), Some(&b"h2"[..]));
        s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
        s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap(); // SETTINGS, empty
        let (kind, _, _, payload) = h2_frame(&mut s).unwrap();
        assert_eq!(kind, 4, "the server's first frame is SETTINGS");
        let settings: Vec<(u16, u32)> = payload
            .chunks(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect();
        assert!(
            settings.contains(&(3, 7)),
            "MAX_CONCURRENT_STREAMS: {settings:?}"
        );
        assert!(
            settings.contains(&(6, 4096)),
            "MAX_HEADER_LIST_SIZE: {settings:?}"
        );
        s.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).unwrap(); // SETTINGS ack
                                                            // The server pings; this client never answers, and is dropped once the ping goes unanswered.
        let t0 = Instant::now();
        let mut pinged = None;
        loop {
            match h2_frame(&mut s) {
                Ok((6, flags, _, _)) if flags & 1 == 0 => {
                    pinged.get_or_insert(t0.elapsed());
                }
                Ok(_) => {}
                Err(_) => break,
            }
            assert!(t0.elapsed() < Duration::from_secs(8), "still open");
        }
        let pinged = pinged.expect("the server pinged");
        assert!(
            pinged <= Duration::from_millis(2500),
            "pinged after {pinged:?}"
        );
        assert!(t0.elapsed() <= Duration::from_secs(5), "{:?}", t0.elapsed());
    })
    .await
    .unwrap();
}
