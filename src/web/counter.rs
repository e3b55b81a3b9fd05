//! `/count`: the visitor counter of the tutorials.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::{AppError, AppState, DEFAULT_COUNTER, negotiate::accepts};

pub fn router() -> Router<AppState> {
    // axum answers HEAD with the GET handler unless told otherwise; here that would count a
    // visit for every `curl -I` or uptime probe.
    Router::new().route("/count", get(count).head(head_does_not_count))
}

/// 405 with `Allow: GET`: a HEAD must not change anything, and here it would count a visit.
async fn head_does_not_count() -> Response {
    let mut response = AppError::MethodNotAllowed {
        method: "HEAD".to_owned(),
        path: "/count".to_owned(),
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}

/// Adds one visit to `visitor_count` and reports the new total, as text or, for
/// `Accept: application/json`, as `{"count": N}`.
async fn count(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let count = state.store.increment(&DEFAULT_COUNTER, 1).await?;
    let mut response = if accepts(&headers, "application/json") {
        Json(json!({ "count": count })).into_response()
    } else {
        format!("Visitor count: {count}").into_response()
    };
    let headers = response.headers_mut();
    // Every GET counts, so no cache may answer in tally's place.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    Ok(response)
}
