//! `/count`: the visitor counter of the tutorials.

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::{
    AppError, AppState, DEFAULT_COUNTER, HitVisitor, negotiate::AcceptsJson, no_head::no_head,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/count", no_head(get(count), "GET"))
}

/// Adds one visit to `visitor_count` and reports the new total, as text or, for
/// `Accept: application/json`, as `{"count": N}`.
async fn count(
    State(state): State<AppState>,
    visitor: HitVisitor,
    AcceptsJson(json): AcceptsJson,
) -> Result<Response, AppError> {
    let count = state
        .store
        .increment_from(&DEFAULT_COUNTER, 1, visitor.as_ref())
        .await?;
    let mut response = if json {
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
