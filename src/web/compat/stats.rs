//! The figures behind CountAPI's `/stats`: requests, counters created and changes, counted by
//! this process on the compatible routes since it started.
//!
//! CountAPI's figures were service-wide. tally's stores keep no such totals, and counting
//! every counter on each `/stats` would scan the whole store, so these are exact but local:
//! each replica counts its own, and a restart starts again from zero. The README's
//! "Compatible routes" section says so.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use serde_json::{Value, json};

#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    created: AtomicU64,
    updated: AtomicU64,
}

impl Stats {
    /// A counter was created by a `/create`.
    pub fn created(&self) {
        self.created.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value was changed (a hit, a counting shield, a set, update or reset).
    pub fn updated(&self) {
        self.updated.fetch_add(1, Ordering::Relaxed);
    }

    /// CountAPI's `/stats` body.
    pub fn body(&self) -> Value {
        json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "keys_created": self.created.load(Ordering::Relaxed),
            "keys_updated": self.updated.load(Ordering::Relaxed),
            "version": env!("CARGO_PKG_VERSION"),
        })
    }
}

/// The middleware on every compatible route: counts the request and hands the handler the
/// figures (as an `Extension<Arc<Stats>>`).
pub async fn count_request(
    State(stats): State<Arc<Stats>>,
    mut request: Request,
    next: Next,
) -> Response {
    stats.requests.fetch_add(1, Ordering::Relaxed);
    request.extensions_mut().insert(stats);
    next.run(request).await
}
