//! The counting API under `/api/v1`: named counters with owners (`counters`), how requests are
//! read and answered (`body`), and who may change what (`auth`); the instance's numbers
//! (`stats`), a counter's days in any time zone (`history`), and moving every counter out and
//! in (`export`, `import`, with the line format in
//! `counter_line`, the import's line reading in `line_splitter` and its body's limits in
//! `limited_body`); a counter's live event stream (`live_events`); background jobs and their workers (`jobs`). JSON in and out; every
//! error is `{"error": code, "message": text}`, the framework's own (unknown route, wrong
//! method, a body too large or not JSON) included.
//!
//! Routes are declared with their full path rather than nested, so the metrics label each
//! request with the whole matched route (`/api/v1/counters/{namespace}/{key}/hit`).

mod auth;
mod body;
pub(crate) mod counter_line;
mod counters;
mod export;
mod history;
mod images;
mod import;
mod jobs;
mod limited_body;
pub(crate) mod line_splitter;
mod live_events;
pub mod openapi;
mod schema;
mod stats;

use axum::{
    Extension, Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, header},
    middleware,
    response::Response,
    routing::{MethodRouter, get, post},
};

use body::BODY_LIMIT;

pub use stats::{STATS_TTL, StatsCache};

// For the CountAPI- and Abacus-compatible routes (`super::compat`), which answer JSONP and
// issue owner tokens the same way.
pub(super) use auth::{bearer, new_token};
pub(super) use body::{CALLBACK_PATTERN, json_or_jsonp, valid_callback};

use super::{AppState, RateLimiter, no_head::no_head, rate_limit::enforce};
use crate::live::Hub;

/// The API's routes. `limiter` (none with `RATE_LIMIT=off`) is put on the routes that count or
/// create (`hit`, the badge, the pixel, `create`), and only on those methods: reading, and
/// changing with a token, are not limited. `hub` serves the live event stream, and is given to
/// that route alone.
pub fn router(limiter: Option<&RateLimiter>, hub: &Hub) -> Router<AppState> {
    let limited = |route: MethodRouter<AppState>| match limiter {
        Some(limiter) => {
            route.route_layer(middleware::from_fn_with_state(limiter.clone(), enforce))
        }
        None => route,
    };
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/counters/{namespace}", get(counters::list))
        .route(
            "/api/v1/counters/{namespace}/{key}",
            limited(post(counters::create))
                .get(counters::info)
                .put(counters::set)
                .delete(counters::delete),
        )
        .route(
            "/api/v1/counters/{namespace}/{key}/hit",
            limited(post(counters::hit)),
        )
        .route(
            "/api/v1/counters/{namespace}/{key}/badge.svg",
            no_head(limited(get(images::badge)), "GET"),
        )
        .route(
            "/api/v1/counters/{namespace}/{key}/pixel.gif",
            no_head(limited(get(images::pixel)), "GET"),
        )
        .route(
            "/api/v1/counters/{namespace}/{key}/add",
            post(counters::add),
        )
        .route(
            "/api/v1/counters/{namespace}/{key}/history",
            get(history::history),
        )
        .route(
            "/api/v1/counters/{namespace}/{key}/history.svg",
            get(history::chart),
        )
        // Public like reading the value, so not rate-limited; `MAX_STREAMS` bounds the
        // streams. Under the deadline, which bounds the answer's head, not the stream.
        .route(
            "/api/v1/counters/{namespace}/{key}/events",
            get(live_events::events).layer(Extension(hub.clone())),
        )
        .route("/api/v1/export", get(export::export))
        .route("/api/v1/stats", get(stats::stats))
        .route(
            "/api/v1/jobs",
            post(jobs::queue::create).get(jobs::queue::list),
        )
        .route("/api/v1/jobs/{id}", get(jobs::queue::show))
        .route("/api/v1/jobs/{id}/cancel", post(jobs::queue::cancel))
        .route("/api/v1/jobs/{id}/retry", post(jobs::queue::retry))
        .route("/api/v1/jobs/{id}/result", get(jobs::result::result))
        // Under the deadline too: it bounds the answer's head (the first read), not the
        // stream, which ends with the job or the server.
        .route("/api/v1/jobs/{id}/events", get(jobs::events::events))
        .route("/api/v1/workers", get(jobs::workers::workers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// The API's routes that must not be under the request deadline: the two imports, which read
/// a body of up to `IMPORT_LIMIT` and may take minutes. They are bounded by that limit and by
/// the time the client may send nothing (see `limited_body`). Not rate-limited: they need the
/// admin token.
pub fn import_router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/import", post(import::import))
        .route("/api/v1/jobs/import", post(jobs::upload::import))
}

/// Marks a counting response as never cacheable, so GitHub's image proxy, CDNs and browsers
/// ask again each time (a cached answer is a visit not counted).
pub fn no_cache(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate, max-age=0"),
    );
    headers.insert(header::EXPIRES, HeaderValue::from_static("0"));
    response
}
