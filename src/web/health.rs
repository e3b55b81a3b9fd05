//! Liveness and readiness, for orchestrators and load balancers.
//!
//! `/healthz` says the process serves, and nothing more: it never touches a store, so a
//! database outage does not get tally restarted in a loop. `/readyz` says whether the counter
//! store answers, so traffic can be steered away while it does not.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::{AppState, error::RETRY_AFTER_SECONDS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.backend().as_str();
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "store": store })).into_response(),
        Err(err) => {
            // The cause (which may name hosts or users) goes to the log; the answer says
            // which dependency failed and how.
            tracing::warn!(error = %err, "not ready");
            let body = json!({
                "status": "unavailable",
                "dependency": store,
                "error": err.kind_label(),
            });
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            response
        }
    }
}
