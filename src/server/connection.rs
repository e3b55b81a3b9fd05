//! One connection, from accept to close.
//!
//! hyper serves HTTP/1.1 (keep-alive included) with a Tokio timer; its own header timer is
//! set to `KEEPALIVE_TIMEOUT + HEADER_TIMEOUT`, the longest tally's rule allows between two
//! requests, as a backstop only. The deadlines that follow the rule come from
//! [`ConnectionState::deadline`], watched here next to the connection:
//!
//! - a head that did not arrive whole in time gets a `408` (HTTP/1.1 allows a server to send
//!   one and close), written on the socket taken back from hyper, then the connection closes;
//! - silence (nothing sent on a new connection, or an idle keep-alive) closes it quietly;
//! - a close asked for by the registry (shutdown, or room needed at the cap) drops a
//!   connection holding part of a head at once, and otherwise lets hyper close it gracefully:
//!   at once when it is idle, after the response when one is in flight or still being
//!   written (a response being written to a client that does not read is bounded by
//!   `KEEPALIVE_TIMEOUT`, as idleness is).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use super::{
    state::{ConnectionState, Expiry, Timeouts},
    tracked::{TrackedIo, TrackedService},
};

/// How long a 408 may take to write, and how long the rest of the client's head is read and
/// dropped after it, so that closing does not reset the connection before the client reads
/// the answer.
const ANSWER_408_WITHIN: Duration = Duration::from_secs(1);
const LINGER_AFTER_408: Duration = Duration::from_secs(1);

/// hyper adds its header timeout to the current time; a year keeps that sum representable
/// whatever the settings, and is never reached before tally's own deadlines.
const HYPER_HEADER_TIMEOUT_AT_MOST: Duration = Duration::from_secs(365 * 24 * 3600);

pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnectionState>,
    router: Router,
    timeouts: Timeouts,
) {
    let io = TokioIo::new(TrackedIo::new(stream, state.clone()));
    let service = TrackedService::new(router, peer, state.clone());
    let mut conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(
            timeouts
                .keepalive
                .saturating_add(timeouts.header)
                .min(HYPER_HEADER_TIMEOUT_AT_MOST),
        )
        .serve_connection(io, service);
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
                std::pin::Pin::new(&mut conn).graceful_shutdown();
                finishing = true;
            }
        }
        let deadline = state.deadline(&timeouts);
        if let Some((at, expiry)) = deadline
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
                    answer_408(stream, timeouts.header).await;
                }
            }
            return;
        }
        let sleep = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = &mut conn => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = sleep => {}
            () = state.changed() => {}
        }
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
        uuid::Uuid::new_v4()
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
