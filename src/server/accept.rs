//! The accept loop and the connection cap.
//!
//! At most `MAX_CONNECTIONS` connections are open at once; beyond that tally stops accepting
//! and new clients wait in the kernel's backlog. So that slow or idle clients filling every
//! slot cannot starve real ones (nor keep `/healthz` from answering), a client waiting at the
//! cap makes room: the connection accepted longest ago among those with no request in flight
//! is closed, and the waiting client takes its slot. Requests in flight are never cut to make
//! room; when every connection is serving one, the next to finish frees a slot.

use std::{future::Future, io, sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::{HttpService, backlog::Backlog, connection, registry::Registry, state::Timeouts};
use crate::config::ServerLimits;

/// Pause after an accept error that is not about one connection (such as running out of
/// files), so that the loop does not spin while it lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts and serves connections until `stop` completes.
pub(super) async fn run(
    backlog: &Backlog,
    registry: &Arc<Registry>,
    service: impl HttpService,
    limits: &ServerLimits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let timeouts = Timeouts {
        header: limits.header_timeout,
        keepalive: limits.keepalive_timeout,
    };
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            () = &mut stop => return,
            slot = take_slot(backlog, registry, &slots) => slot,
        };
        let accepted = tokio::select! {
            () = &mut stop => return,
            accepted = backlog.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let service = service.clone();
                registry.spawn(move |state| {
                    async move {
                        let _slot = slot;
                        connection::serve(stream, peer, state, service, timeouts).await;
                    }
                    // No peer address in the span: client addresses are never logged (see
                    // the README's "History and unique visitors").
                    .instrument(tracing::debug_span!("connection"))
                });
            }
            Err(err) if is_about_one_connection(&err) => {
                tracing::debug!(error = %err, "a connection failed before it was accepted");
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot accept connections; trying again");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

/// A free slot; at the cap, waits for one, making room when a client waits in the backlog.
async fn take_slot(
    backlog: &Backlog,
    registry: &Registry,
    slots: &Arc<Semaphore>,
) -> OwnedSemaphorePermit {
    loop {
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return slot;
        }
        tokio::select! {
            slot = slots.clone().acquire_owned() => return slot.expect("the semaphore is never closed"),
            waits = backlog.someone_waits() => if let Err(err) = waits {
                tracing::warn!(error = %err, "cannot watch the listening socket");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            },
        }
        if registry.close_oldest_waiting() {
            // Its slot comes back as soon as its task ends: at once, or after a request that
            // arrived meanwhile.
            return slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
        }
        // Every connection is serving a request: the first to finish can make room.
        tokio::select! {
            slot = slots.clone().acquire_owned() => return slot.expect("the semaphore is never closed"),
            () = registry.request_done() => {}
        }
    }
}

fn is_about_one_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}
