//! `/metrics` and the middleware that feeds the HTTP metrics.

use std::time::Instant;

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};

use super::AppState;
use crate::metrics::CONTENT_TYPE;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// The page; the job gauges are read from the queue first (a store that does not answer
/// leaves them at their last values: the store's own metrics show the failure).
async fn render(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.count_jobs().await {
        Ok(counts) => state.metrics.set_job_counts(&counts),
        Err(err) => tracing::debug!(error = %err, "cannot count jobs for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
}

/// Records every routed request under its matched route (`/count`, not the raw path). Installed
/// with `route_layer`, so it runs after routing; unmatched requests are recorded by the
/// fallback under the route label `unmatched`.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.observe_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
