//! A request refused before its body was read still has a client sending that body. Closing the
//! connection then makes the kernel reset it, and the client may never read the answer (a 413 for
//! an image over the size cap becomes "connection reset"). So the rest of an unread body is read
//! and dropped before the answer goes out, up to a bound: beyond it the connection is closed
//! as before, rather than reading gigabytes nobody will keep.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use tokio::sync::oneshot;

/// The most that is read and dropped after an answer.
const MAX_DRAIN: u64 = 16 << 20;
/// How long the drain may take.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// A request body that, dropped before its end, hands itself back to [`drain_unread`].
struct Returning {
    inner: Option<Body>,
    back: Option<oneshot::Sender<Body>>,
    ended: bool,
    /// Whether anything was read: with `Expect: 100-continue`, a body never asked for is never
    /// sent, and there is nothing to drain.
    polled: bool,
    expects_continue: bool,
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        this.polled = true;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(inner).poll_frame(cx);
        // A body that ended, or failed, has nothing left to read.
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
            this.ended = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if self.ended || (self.expects_continue && !self.polled) {
            return;
        }
        if let (Some(body), Some(back)) = (self.inner.take(), self.back.take())
            && !http_body::Body::is_end_stream(&body)
        {
            let _ = back.send(body);
        }
    }
}

/// Middleware: lets the handler have the body; if the handler is done with it before its end,
/// reads what is left (within the bounds) before answering.
pub(super) async fn drain_unread(req: Request, next: Next) -> Response {
    if http_body::Body::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let expects_continue = req
        .headers()
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (back, mut returned) = oneshot::channel();
    let req = req.map(|inner| {
        Body::new(Returning {
            inner: Some(inner),
            back: Some(back),
            ended: false,
            polled: false,
            expects_continue,
        })
    });
    let response = next.run(req).await;
    // The handler has ended: a body it did not keep has been handed back by now.
    if let Ok(rest) = returned.try_recv() {
        drain(rest).await;
    }
    response
}

async fn drain(mut body: Body) {
    if http_body::Body::size_hint(&body).lower() > MAX_DRAIN {
        return;
    }
    let reading = async {
        let mut read: u64 = 0;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Some(data) = frame.data_ref() {
                read += data.len() as u64;
                if read > MAX_DRAIN {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, reading).await;
}
