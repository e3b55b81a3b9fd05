//! Serving HTTP/1.1 connections so that slow, idle and stuck clients cannot hold tally (README,
//! "Slow, idle and stuck clients").
//!
//! `axum::serve` gives hyper no timer, so nothing bounded a client that sends half a request
//! head, or nothing at all: 500 such connections were all still open 10 s later, and a single
//! one kept tally running past Docker's 10 s grace after SIGTERM. Here every connection is
//! served by hyper's HTTP/1 server directly (no HTTP/2 sniff before hyper's own timers start)
//! with a real timer, and tally keeps its own account of what each connection is doing,
//! because hyper alone cannot tell an idle keep-alive connection from a slow head:
//!
//! - [`state`]: what a connection is doing (waiting for a head, or serving requests) and the
//!   deadline that follows (`HEADER_TIMEOUT`, `KEEPALIVE_TIMEOUT`, none while serving).
//! - [`tracked`]: the socket, service and response body wrappers that keep that state.
//! - [`connection`]: one connection: hyper, the deadline, the 408, the close.
//! - [`registry`]: every open connection, for making room at the cap and for shutting down.
//! - [`backlog`]: the listening socket, read without accepting, so that connections beyond
//!   `MAX_CONNECTIONS` wait in the kernel's backlog.
//! - [`accept`]: the accept loop and the connection cap.
//! - [`open_files`]: the open-file limit, raised at start, and `MAX_CONNECTIONS` fitted under it.

mod accept;
mod backlog;
mod connection;
pub mod open_files;
mod registry;
mod state;
mod tracked;

use std::{convert::Infallible, future::Future, io, sync::Arc};

use axum::{
    body::Body,
    http::{Request, Response},
};
use tokio::net::TcpListener;
use tower::Service;

use crate::config::ServerLimits;

use self::{backlog::Backlog, registry::Registry};

/// What the server serves: axum's requests and responses, cheap to clone, and always ready
/// (it is called without `poll_ready`, as axum's `Router` and the layers tally puts around it
/// allow). `web::app` is one; so is a bare `Router`.
pub trait HttpService:
    Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> HttpService for S where
    S: Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// Serves `service` on `listener` until `stop` completes, then shuts down within
/// `limits.shutdown_timeout`:
///
/// 1. the listener is closed at once (new connections are refused);
/// 2. connections with no request in flight (idle, or part of a head sent) are closed at once;
/// 3. requests in flight may finish, each connection closing after its response;
/// 4. when the shutdown timeout passes, the connections still open are cut, and one log line
///    says how many.
pub async fn serve(
    listener: TcpListener,
    service: impl HttpService,
    limits: ServerLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let backlog = Backlog::new(listener)?;
    let registry = Arc::new(Registry::default());
    accept::run(&backlog, &registry, service, &limits, stop).await;
    drop(backlog);

    let (closed, in_flight) = registry.close_all();
    tracing::info!(
        closed_at_once = closed,
        in_flight,
        "stopped accepting; waiting up to {} for requests in flight",
        humantime::format_duration(limits.shutdown_timeout)
    );
    if tokio::time::timeout(limits.shutdown_timeout, registry.all_closed())
        .await
        .is_ok()
    {
        tracing::info!("every connection closed");
    } else {
        let cut = registry.cut_all();
        tracing::warn!(
            cut,
            "SHUTDOWN_TIMEOUT passed: cut {cut} connection(s) still serving a request"
        );
    }
    Ok(())
}
