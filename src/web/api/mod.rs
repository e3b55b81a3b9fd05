//! The counting API under `/api/v1`: named counters with owners (`counters`), how requests are
//! read and answered (`body`), and who may change what (`auth`); the instance's numbers
//! (`stats`), and moving every counter out and in (`export`, `import`, with the line format in
//! `counter_line` and the import's line reading in `line_splitter`). JSON in and out; every
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
mod images;
mod import;
pub(crate) mod line_splitter;
pub mod openapi;
mod schema;
mod stats;

use axum::{
    Router,
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

/// The API's routes. `limiter` (none with `RATE_LIMIT=off`) is put on the routes that count or
/// create (`hit`, the badge, the pixel, `create`), and only on those methods: reading, and
/// changing with a token, are not limited.
pub fn router(limiter: Option<&RateLimiter>) -> Router<AppState> {
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
        .route("/api/v1/export", get(export::export))
        .route("/api/v1/stats", get(stats::stats))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// The API's routes that must not be under the request deadline: the import, which reads a
/// body of up to `IMPORT_LIMIT` and may take minutes. It is bounded by that limit and by the
/// time the client may send nothing (see `import`). Not rate-limited: it needs the admin token.
pub fn import_router() -> Router<AppState> {
    Router::new().route("/api/v1/import", post(import::import))
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
