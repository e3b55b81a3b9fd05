//! What one connection is doing, and when it must be closed if nothing changes.
//!
//! hyper's own header timer starts whenever it is ready to read a head: when the connection
//! opens, and again right after each response. On a keep-alive connection it therefore
//! measures the idle time and the head's time together, and a test showed it: set to
//! `HEADER_TIMEOUT`, it closed keep-alive connections idle for longer than that. The README's
//! rule keeps them apart: nothing sent yet on a new connection, or part of a head, is bounded
//! by `HEADER_TIMEOUT`; silence between two requests by `KEEPALIVE_TIMEOUT`. So the
//! connection's socket, service and response body report here (see [`super::tracked`]), and
//! the connection's task asks [`ConnectionState::deadline`] what to wait for.
//!
//! Every change is made from the connection's own task (hyper reads the socket and calls the
//! service inside the connection future); other tasks only read the phase, to pick a
//! connection to close at the cap, and ask for a close.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in flight: a new connection, or one between two requests.
    Waiting {
        /// When the connection was accepted, or its last response was handed to hyper.
        since: Instant,
        /// Whether a response was sent before (a keep-alive connection).
        kept_alive: bool,
        /// When the first byte of the next head arrived, if one did.
        head_from: Option<Instant>,
    },
    /// Requests whose head has arrived and whose response has not been handed over yet.
    Serving { requests: usize },
}

/// Why a connection's deadline passed, which decides how it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// Part of a request head arrived, not all of it, within `HEADER_TIMEOUT`: a 408 is sent.
    IncompleteHead,
    /// Nothing arrived: a new connection within `HEADER_TIMEOUT`, or a keep-alive one within
    /// `KEEPALIVE_TIMEOUT`. Closed without an answer: the client may be sending a request at
    /// this very moment, and would take a 408 for its answer; a plain close lets it retry.
    Silence,
}

/// The two timeouts a waiting connection is under.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub header: Duration,
    pub keepalive: Duration,
}

/// Shared by a connection's task, its socket and service wrappers, and the registry.
#[derive(Debug)]
pub(super) struct ConnectionState {
    phase: Mutex<Phase>,
    /// Wakes the connection's task when it is asked to close.
    wake: Notify,
    close_requested: AtomicBool,
    /// Shared by every connection: a request finished somewhere, so a connection may have
    /// become one that can be closed to make room.
    request_done: Arc<Notify>,
}

impl ConnectionState {
    pub fn new(request_done: Arc<Notify>) -> ConnectionState {
        ConnectionState {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                kept_alive: false,
                head_from: None,
            }),
            wake: Notify::new(),
            close_requested: AtomicBool::new(false),
            request_done,
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // The phase is plain data, valid whatever a panicking holder was doing.
        self.phase
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Bytes arrived from the client. While waiting, the first of them starts a head.
    pub fn bytes_arrived(&self) {
        let mut phase = self.phase();
        if let Phase::Waiting { head_from, .. } = &mut *phase
            && head_from.is_none()
        {
            *head_from = Some(Instant::now());
        }
    }

    /// A request head arrived and was handed to the service.
    pub fn request_started(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Waiting { .. } => Phase::Serving { requests: 1 },
            Phase::Serving { requests } => Phase::Serving {
                requests: requests + 1,
            },
        };
    }

    /// A response was handed to hyper whole (or its request was abandoned).
    pub fn request_finished(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Serving { requests } if requests > 1 => Phase::Serving {
                requests: requests - 1,
            },
            _ => Phase::Waiting {
                since: Instant::now(),
                kept_alive: true,
                head_from: None,
            },
        };
        drop(phase);
        self.request_done.notify_one();
    }

    /// Whether a request is in flight (its head arrived, its response is not sent).
    pub fn is_serving(&self) -> bool {
        matches!(*self.phase(), Phase::Serving { .. })
    }

    /// Whether part of a request head arrived, and not all of it.
    pub fn has_incomplete_head(&self) -> bool {
        matches!(
            *self.phase(),
            Phase::Waiting {
                head_from: Some(_),
                ..
            }
        )
    }

    /// When the connection must be closed if nothing changes, and why; `None` while serving
    /// (requests are bounded by the request deadline, not here), or when the timeout is too
    /// far away to be represented.
    pub fn deadline(&self, timeouts: &Timeouts) -> Option<(Instant, Expiry)> {
        let (from, timeout, expiry) = match *self.phase() {
            Phase::Serving { .. } => return None,
            Phase::Waiting {
                since,
                kept_alive: false,
                head_from,
            } => (
                since,
                timeouts.header,
                if head_from.is_some() {
                    Expiry::IncompleteHead
                } else {
                    Expiry::Silence
                },
            ),
            Phase::Waiting {
                kept_alive: true,
                head_from: Some(head_from),
                ..
            } => (head_from, timeouts.header, Expiry::IncompleteHead),
            Phase::Waiting {
                since,
                kept_alive: true,
                head_from: None,
            } => (since, timeouts.keepalive, Expiry::Silence),
        };
        from.checked_add(timeout).map(|at| (at, expiry))
    }

    /// Asks the connection to close: at once when no request is in flight, else after its
    /// response. Returns false when it had been asked already.
    pub fn request_close(&self) -> bool {
        let first = !self.close_requested.swap(true, Ordering::AcqRel);
        self.wake.notify_one();
        first
    }

    pub fn close_requested(&self) -> bool {
        self.close_requested.load(Ordering::Acquire)
    }

    /// Completes when a close was asked for. Changes of the phase do not wake the connection's
    /// task: they are made inside it, which reads the deadline after each of them.
    pub async fn changed(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        keepalive: Duration::from_secs(60),
    };

    fn state() -> ConnectionState {
        ConnectionState::new(Arc::new(Notify::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_has_header_timeout_from_its_start_whatever_it_sends() {
        let state = state();
        let start = Instant::now();
        assert_eq!(
            state.deadline(&TIMEOUTS),
            Some((start + TIMEOUTS.header, Expiry::Silence))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!state.has_incomplete_head());
        state.bytes_arrived();
        assert!(state.has_incomplete_head());
        assert_eq!(
            state.deadline(&TIMEOUTS),
            Some((start + TIMEOUTS.header, Expiry::IncompleteHead)),
            "trickling bytes do not extend the first head's deadline"
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        state.bytes_arrived();
        assert_eq!(
            state.deadline(&TIMEOUTS),
            Some((start + TIMEOUTS.header, Expiry::IncompleteHead))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn serving_has_no_deadline_then_keepalive_then_header_from_the_first_byte() {
        let state = state();
        state.bytes_arrived();
        state.request_started();
        assert!(state.is_serving());
        assert!(!state.has_incomplete_head());
        assert_eq!(state.deadline(&TIMEOUTS), None);
        state.bytes_arrived();
        assert_eq!(state.deadline(&TIMEOUTS), None, "body bytes change nothing");

        tokio::time::advance(Duration::from_secs(100)).await;
        state.request_finished();
        let idle_from = Instant::now();
        assert!(!state.is_serving());
        assert_eq!(
            state.deadline(&TIMEOUTS),
            Some((idle_from + TIMEOUTS.keepalive, Expiry::Silence))
        );

        tokio::time::advance(Duration::from_secs(55)).await;
        state.bytes_arrived();
        let head_from = Instant::now();
        assert_eq!(
            state.deadline(&TIMEOUTS),
            Some((head_from + TIMEOUTS.header, Expiry::IncompleteHead))
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        state.bytes_arrived();
        assert_eq!(
            state.deadline(&TIMEOUTS),
            Some((head_from + TIMEOUTS.header, Expiry::IncompleteHead))
        );
    }

    #[tokio::test]
    async fn a_timeout_too_far_away_means_no_deadline() {
        let state = state();
        let forever = Timeouts {
            header: Duration::MAX,
            keepalive: Duration::MAX,
        };
        assert_eq!(state.deadline(&forever), None);
    }

    #[tokio::test]
    async fn a_close_is_asked_for_once_and_wakes_the_task() {
        let state = state();
        assert!(!state.close_requested());
        assert!(state.request_close());
        assert!(!state.request_close(), "already asked");
        assert!(state.close_requested());
        tokio::time::timeout(Duration::from_secs(5), state.changed())
            .await
            .expect("the task is woken");
    }

    #[tokio::test]
    async fn a_finished_request_tells_the_registry() {
        let done = Arc::new(Notify::new());
        let state = ConnectionState::new(done.clone());
        state.request_started();
        state.request_finished();
        tokio::time::timeout(Duration::from_secs(5), done.notified())
            .await
            .expect("the accept loop is told");
    }
}
