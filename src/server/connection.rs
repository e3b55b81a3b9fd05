//! One connection, from accept to close.
//!
//! hyper serves HTTP/1.1 (keep-alive included), without a timer of its own. The deadlines
//! that follow the rule come from [`ConnectionState::deadline`], watched here next to the
//! connection with one timer for the connection's life (see [`Timer`]):
//!
//! - a head that did not arrive whole in time gets a `408` (HTTP/1.1 allows a server to send
//!   one and close), written on the socket taken back from hyper, then the connection closes;
//! - silence (nothing sent on a new connection, or an idle keep-alive) closes it quietly;
//! - a close asked for by the registry (shutdown, or room needed at the cap) drops a
//!   connection holding part of a head at once, and otherwise lets hyper close it gracefully:
//!   at once when it is idle, after the response when one is in flight or still being
//!   written (a response being written to a client that does not read is bounded by
//!   `KEEPALIVE_TIMEOUT`, as idleness is).

use std::{
    future::{Future, poll_fn},
    net::SocketAddr,
    pin::{Pin, pin},
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, Sleep},
};

use super::{
    HttpService,
    state::{ConnectionState, Expiry, Timeouts},
    tracked::{TrackedIo, TrackedService},
};

/// How long a 408 may take to write, and how long the rest of the client's head is read and
/// dropped after it, so that closing does not reset the connection before the client reads
/// the answer.
const ANSWER_408_WITHIN: Duration = Duration::from_secs(1);
const LINGER_AFTER_408: Duration = Duration::from_secs(1);

pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnectionState>,
    service: impl HttpService,
    timeouts: Timeouts,
) {
    let io = TokioIo::new(TrackedIo::new(stream, state.clone()));
    let service = TrackedService::new(service, peer, state.clone());
    // No hyper timer: the deadlines are watched here, with one timer per connection, rather
    // than by a timer hyper would set and clear around every request head.
    let mut conn = http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut timer = Timer::new();
    let mut finishing = false;
    loop {
        if state.close_requested() {
            if state.has_incomplete_head() {
                tracing::debug!("closing a connection holding part of a head");
                return;
            }
            if !finishing {
                // hyper closes an idle connection at once, a busy one once its response is
                // written.
                Pin::new(&mut conn).graceful_shutdown();
                finishing = true;
            }
        }
        if let Some((at, expiry)) = state.deadline(&timeouts)
            && at <= Instant::now()
        {
            match expiry {
                Expiry::Silence => {
                    tracing::debug!("closing a connection that sent nothing in time");
                }
                Expiry::IncompleteHead => {
                    tracing::debug!(
                        "closing a connection whose request head did not arrive in time"
                    );
                    let stream = conn.into_parts().io.into_inner().into_inner();
                    // Boxed: its 4 KiB drain buffer would otherwise be part of every
                    // connection's task, answered with a 408 or not (a profile at 1,000
                    // connections had the tasks at 11 KiB each, a fifth of the memory).
                    Box::pin(answer_408(stream, timeouts.header)).await;
                }
            }
            return;
        }
        // Woken for a close asked from outside; the phase's own changes are seen below.
        let mut asked = pin!(state.changed());
        let woke = poll_fn(|cx| {
            if let Poll::Ready(served) = Pin::new(&mut conn).poll(cx) {
                return Poll::Ready(Some(served));
            }
            // The connection's phase changes only inside the poll above (hyper reads the
            // socket and runs the service there), so its deadline is read right after it.
            if let Some((at, _)) = state.deadline(&timeouts) {
                timer.arm(at);
            }
            if timer.poll_expired(cx).is_ready() || asked.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        if let Some(served) = woke {
            if let Err(err) = served {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            return;
        }
    }
}

/// The one timer of a connection, for its whole life. It is moved earlier when a deadline
/// comes sooner than the one it is set for, and never later: a deadline that moves away (the
/// next keep-alive wait after each response) is left to the timer, which goes off early, and
/// the loop looks again. Under steady traffic a connection so touches the timer wheel about
/// once per `HEADER_TIMEOUT`, not several times per request.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Timer {
    fn new() -> Timer {
        Timer {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
        }
    }

    fn arm(&mut self, at: Instant) {
        if self.armed.is_none_or(|armed| at < armed) {
            self.sleep.as_mut().reset(at);
            self.armed = Some(at);
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.armed.is_none() {
            return Poll::Pending;
        }
        let expired = self.sleep.as_mut().poll(cx);
        if expired.is_ready() {
            self.armed = None;
        }
        expired
    }
}

/// Writes a `408 Request Timeout` with the JSON error body every error has, half-closes, and
/// drops what the client still sends for a moment.
async fn answer_408(mut stream: TcpStream, header_timeout: Duration) {
    let body = format!(
        r#"{{"error":"request_timeout","message":"the request head did not arrive within {}"}}"#,
        humantime::format_duration(header_timeout)
    );
    let answer = format!(
        "HTTP/1.1 408 Request Timeout\r\n\
         content-type: application/json\r\n\
         content-length: {}\r\n\
         connection: close\r\n\
         x-request-id: {}\r\n\
         \r\n\
         {body}",
        body.len(),
        String::from_utf8_lossy(&crate::web::request_id::new_id())
    );
    let written = tokio::time::timeout(ANSWER_408_WITHIN, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER_AFTER_408, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}
