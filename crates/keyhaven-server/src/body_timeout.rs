//! Request bodies under a deadline: a body that sends nothing for longer than the gap allowed between chunks,
//! or takes longer than its total allowance, ends with an error while the server reads it. The handler then
//! answers as it does for any unreadable body, and an HTTP/1.1 connection closes after that answer (its body
//! was not read to the end); on HTTP/2 only the stream ends.
//!
//! The clocks start at the server's first read, so time spent before it (authentication, throttling, waiting
//! for the store) is not held against the client.

use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The limits on reading one request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyTimeouts {
    pub between_chunks: Duration,
    pub total: Option<Duration>,
}

/// Why a body was cut off.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub(crate) enum BodyTimeout {
    #[error("the request body stalled: nothing arrived for {0:?}")]
    Stalled(Duration),
    #[error("the request body took longer than {0:?}")]
    TooSlow(Duration),
}

/// `B` with [`BodyTimeouts`].
pub(crate) struct TimedBody<B> {
    inner: B,
    limits: BodyTimeouts,
    gap: Option<Pin<Box<Sleep>>>,
    total: Option<Pin<Box<Sleep>>>,
    failed: Option<BodyTimeout>,
}

impl<B> TimedBody<B> {
    pub(crate) fn new(inner: B, limits: BodyTimeouts) -> TimedBody<B> {
        TimedBody {
            inner,
            limits,
            gap: None,
            total: None,
            failed: None,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(e) = this.failed {
            return Poll::Ready(Some(Err(e.into())));
        }
        if this.gap.is_none() {
            let now = Instant::now();
            this.gap = Some(Box::pin(tokio::time::sleep_until(
                now + this.limits.between_chunks,
            )));
            this.total = this
                .limits
                .total
                .map(|t| Box::pin(tokio::time::sleep_until(now + t)));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(gap) = this.gap.as_mut() {
                    gap.as_mut()
                        .reset(Instant::now() + this.limits.between_chunks);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.gap = None;
                this.total = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let mut failed = None;
                if let (Some(total), Some(t)) = (this.total.as_mut(), this.limits.total) {
                    if total.as_mut().poll(cx).is_ready() {
                        failed = Some(BodyTimeout::TooSlow(t));
                    }
                }
                if let (None, Some(gap)) = (failed, this.gap.as_mut()) {
                    if gap.as_mut().poll(cx).is_ready() {
                        failed = Some(BodyTimeout::Stalled(this.limits.between_chunks));
                    }
                }
                match failed {
                    Some(e) => {
                        this.failed = Some(e);
                        tracing::debug!("{e}");
                        Poll::Ready(Some(Err(e.into())))
                    }
                    None => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
