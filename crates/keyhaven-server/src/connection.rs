//! One client connection, from the accepted socket to its close: the TLS handshake (bounded in time), HTTP/1.1 or
//! HTTP/2 as negotiated by ALPN, and the timeouts that keep slow or idle clients from holding a connection:
//!
//! - a request head must be complete within `header_read_timeout` of its first byte (and a new connection must
//!   deliver its first request within that time of the handshake);
//! - a connection with no request in flight is closed gracefully after `idle_timeout`;
//! - a request body that stalls, or takes too long as a whole, is cut off ([`crate::body_timeout`]);
//! - HTTP/2: a cap on concurrent streams and on the header list, keep-alive pings.
//!
//! The timers are this module's, not hyper's: hyper's HTTP/1 header timer starts as soon as a connection waits
//! for its next request, which would make the idle timeout of HTTP/1.1 keep-alive the header timeout.

use crate::body_timeout::{BodyTimeouts, TimedBody};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Timeouts and limits of client connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; beyond it, new connections wait in the listen backlog until one closes.
    pub max_connections: u32,
    /// The longest a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// The longest from the first byte of a request head to its end (and from the handshake to the first
    /// request).
    pub header_read_timeout: Duration,
    /// The longest wait for the next piece of a request body while the server reads it.
    pub body_read_timeout: Duration,
    /// The longest a request body may take as a whole, from the server's first read (`None`: no limit).
    pub body_total_timeout: Option<Duration>,
    /// A connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// HTTP/2: streams (requests) in flight at once on one connection.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2: the largest header list (decoded, as RFC 9113 counts it) of a request.
    pub http2_max_header_list_bytes: u32,
    /// HTTP/2: how often to ping the client (`None`: never).
    pub http2_keepalive_interval: Option<Duration>,
    /// HTTP/2: how long to wait for a ping's acknowledgement before closing the connection.
    pub http2_keepalive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 512,
            tls_handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            body_total_timeout: Some(Duration::from_secs(3600)),
            idle_timeout: Duration::from_secs(60),
            http2_max_concurrent_streams: 100,
            http2_max_header_list_bytes: 16 << 10,
            http2_keepalive_interval: Some(Duration::from_secs(30)),
            http2_keepalive_timeout: Duration::from_secs(20),
        }
    }
}

impl ConnectionLimits {
    pub(crate) fn validate(&self) -> Result<(), crate::ServerError> {
        let positive = [
            ("tls-handshake-timeout-secs", self.tls_handshake_timeout),
            ("header-read-timeout-secs", self.header_read_timeout),
            ("body-read-timeout-secs", self.body_read_timeout),
            ("idle-timeout-secs", self.idle_timeout),
            ("http2-keepalive-timeout-secs", self.http2_keepalive_timeout),
        ];
        for (name, d) in positive {
            if d.is_zero() {
                return Err(crate::ServerError::Config(format!(
                    "{name} must be at least 1"
                )));
            }
        }
        if self.max_connections == 0 {
            return Err(crate::ServerError::Config(
                "max-connections must be at least 1".into(),
            ));
        }
        if self.http2_max_concurrent_streams == 0 {
            return Err(crate::ServerError::Config(
                "http2-max-concurrent-streams must be at least 1".into(),
            ));
        }
        if self.http2_max_header_list_bytes < 1024 {
            return Err(crate::ServerError::Config(
                "http2-max-header-list-bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }

    fn body(&self) -> BodyTimeouts {
        BodyTimeouts {
            between_chunks: self.body_read_timeout,
            total: self.body_total_timeout,
        }
    }
}

/// Serves one accepted connection until it closes, the server stops, or a timeout ends it.
pub(crate) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    app: axum::Router,
    limits: Arc<ConnectionLimits>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = Arc::new(Activity::new(!h2));
    let svc = ConnService {
        app,
        peer,
        activity: activity.clone(),
        body: limits.body(),
    };
    let io = TokioIo::new(Watched {
        io: tls,
        activity: activity.clone(),
    });
    // ALPN decides the protocol: HTTP/2 only when the client asked for it.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(limits.http2_max_header_list_bytes)
        .keep_alive_interval(limits.http2_keepalive_interval)
        .keep_alive_timeout(limits.http2_keepalive_timeout);
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let watchdog = watchdog(activity, limits.clone());
    tokio::pin!(watchdog);
    // Once closing gracefully, requests in flight get until then to finish.
    let mut closing: Option<Instant> = None;
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
        closing = Some(Instant::now() + CLOSE_GRACE);
    }
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            end = &mut watchdog, if closing.is_none() => match end {
                End::Close(why) => {
                    tracing::debug!(%peer, "closing the connection: {why}");
                    return;
                }
                End::Graceful => {
                    tracing::debug!(%peer, "closing an idle connection");
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + CLOSE_GRACE);
                }
            },
            _ = stop.changed(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + CLOSE_GRACE);
            }
            _ = tokio::time::sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => return,
        }
    }
}

/// How long a connection closing gracefully may keep going.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// How the watchdog ends a connection.
enum End {
    /// At once (a stalled request head).
    Close(&'static str),
    /// Gracefully (idle: HTTP/2 gets a GOAWAY).
    Graceful,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request yet since the handshake.
    First,
    /// Requests in flight.
    Busy,
    /// No request in flight and no byte of the next one.
    Idle,
    /// No request in flight, and the first byte of the next head arrived at the given instant (HTTP/1).
    Head(Instant),
}

struct State {
    in_flight: usize,
    phase: Phase,
    /// When the phase began (for `First` and `Idle`).
    since: Instant,
}

/// What a connection is doing, as its requests and bytes show it; the watchdog reads it.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
    /// Set while idle, so the reader records the first byte of the next request head (HTTP/1 only: HTTP/2 has
    /// frames — pings, window updates — that are no request).
    awaiting_head: AtomicBool,
    track_heads: bool,
}

impl Activity {
    fn new(track_heads: bool) -> Activity {
        Activity {
            state: Mutex::new(State {
                in_flight: 0,
                phase: Phase::First,
                since: Instant::now(),
            }),
            changed: Notify::new(),
            awaiting_head: AtomicBool::new(false),
            track_heads,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_read(&self) {
        if !self.awaiting_head.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut s = self.lock();
        if s.in_flight == 0 && s.phase == Phase::Idle {
            s.phase = Phase::Head(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        let mut s = self.lock();
        s.in_flight += 1;
        s.phase = Phase::Busy;
        self.awaiting_head.store(false, Ordering::Release);
        drop(s);
        self.changed.notify_one();
    }

    fn request_finished(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.phase = Phase::Idle;
            s.since = Instant::now();
            self.awaiting_head
                .store(self.track_heads, Ordering::Release);
        }
        drop(s);
        self.changed.notify_one();
    }

    /// When the connection is to end, and how, as things stand (`None`: not while requests are in flight).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, End)> {
        let s = self.lock();
        match s.phase {
            Phase::Busy => None,
            Phase::First => Some((
                s.since + limits.header_read_timeout,
                End::Close("no request within the header read timeout of the handshake"),
            )),
            Phase::Head(t) => Some((
                t + limits.header_read_timeout,
                End::Close("the request head took longer than the header read timeout"),
            )),
            Phase::Idle => Some((s.since + limits.idle_timeout, End::Graceful)),
        }
    }
}

async fn watchdog(activity: Arc<Activity>, limits: Arc<ConnectionLimits>) -> End {
    loop {
        match activity.deadline(&limits) {
            None => activity.changed.notified().await,
            Some((at, end)) => {
                if at <= Instant::now() {
                    return end;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = activity.changed.notified() => {}
                }
            }
        }
    }
}

/// The TLS stream, telling the activity when bytes arrive.
struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request in flight until its response body is done (or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> InFlight {
        activity.request_started();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The router for one connection: the peer's address on each request, its body under the body timeouts, and
/// the request counted in flight until its response is sent.
#[derive(Clone)]
struct ConnService {
    app: axum::Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
    body: BodyTimeouts,
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<TrackedBody>, Infallible>> + Send>>;

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let guard = InFlight::start(self.activity.clone());
        let body = self.body;
        let mut req = req.map(|b| axum::body::Body::new(TimedBody::new(b, body)));
        req.extensions_mut().insert(crate::http::Peer(self.peer));
        let app = self.app.clone();
        Box::pin(async move {
            let resp = tower::ServiceExt::oneshot(app, req).await?;
            Ok(resp.map(|body| TrackedBody {
                body,
                _in_flight: guard,
            }))
        })
    }
}

/// A response body that keeps its request in flight.
struct TrackedBody {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
