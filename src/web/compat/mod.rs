//! CountAPI- and Abacus-compatible routes at the root (`/hit/…`, `/get/…`, `/create…`), so a
//! page or script written for either service works against tally by changing only its base
//! URL. CountAPI (countapi.xyz) is gone and Abacus is a hosted service; both were used by many
//! small sites, and their users should not have to rewrite anything to move.
//!
//! The two agree on most routes (`hit`, `get`, `info`). Where they do not, the method or the
//! query tells them apart: CountAPI's routes are all `GET` (`GET /set/…?value=`), Abacus's
//! token routes are `POST` (`POST /set/…`); CountAPI creates with `GET /create?…`, Abacus with
//! `/create/{namespace}/{key}`. Where one answer must serve both, it carries the fields of
//! both. The README's "Compatible routes" section lists every route and every such choice.
//!
//! - [`countapi`]: CountAPI's routes, and the shared `hit`, `get`, `info`;
//! - [`abacus`]: Abacus's `create` and its token routes; [`shield`]: its SVG badges;
//!   [`stream`]: its live event stream;
//! - [`names`] and [`placeholders`]: the counter a request names (`:HOST:`, `:PATHNAME:`);
//! - [`reply`]: query reading and how every answer is finished (JSONP, `X-Path`, caching);
//! - [`stats`]: the figures of `/stats`.
//!
//! Like `/api/v1`, the routes that count, create or change a counter without a token (`hit`,
//! the counting shield, both `create`s, CountAPI's `set` and `update`) are under the rate
//! limiter, on `GET` only, and refuse `HEAD` (it would count, as for `/count`); CORS is the
//! API's.

mod abacus;
mod countapi;
mod named;
mod names;
mod placeholders;
mod reply;
mod shield;
mod stats;
mod stream;

use std::sync::Arc;

use axum::{
    Extension, Router, middleware,
    routing::{MethodRouter, get, post},
};

use super::{AppState, RateLimiter, no_head::no_head, rate_limit::enforce};
use crate::live::Hub;

/// The compatible routes. `limiter` (none with `RATE_LIMIT=off`) is the API's: a client has
/// one budget for both. `hub` serves the live event stream, given to that route alone.
pub fn router(limiter: Option<&RateLimiter>, hub: &Hub) -> Router<AppState> {
    let limited = |route: MethodRouter<AppState>| match limiter {
        Some(limiter) => {
            route.route_layer(middleware::from_fn_with_state(limiter.clone(), enforce))
        }
        None => route,
    };
    let stats = Arc::new(stats::Stats::default());
    Router::new()
        .route("/hit/{key}", no_head(limited(get(countapi::hit)), "GET"))
        .route(
            "/hit/{namespace}/{key}",
            no_head(limited(get(countapi::hit)), "GET"),
        )
        .route(
            "/hit/{namespace}/{key}/shield",
            no_head(limited(get(shield::hit)), "GET"),
        )
        .route("/get/{key}", get(countapi::get))
        .route("/get/{namespace}/{key}", get(countapi::get))
        .route("/get/{namespace}/{key}/shield", get(shield::get))
        .route("/set/{key}", no_head(limited(get(countapi::set)), "GET"))
        .route(
            "/set/{namespace}/{key}",
            no_head(limited(get(countapi::set)), "GET, POST").post(abacus::set),
        )
        .route(
            "/update/{key}",
            no_head(limited(get(countapi::update)), "GET"),
        )
        .route(
            "/update/{namespace}/{key}",
            no_head(limited(get(countapi::update)), "GET, POST").post(abacus::update),
        )
        .route("/reset/{namespace}/{key}", post(abacus::reset))
        .route("/delete/{namespace}/{key}", post(abacus::delete))
        .route("/create", no_head(limited(get(countapi::create)), "GET"))
        .route(
            "/create/{namespace}/{key}",
            no_head(
                limited(get(abacus::create).post(abacus::create)),
                "GET, POST",
            ),
        )
        .route("/info/{key}", get(countapi::info))
        .route("/info/{namespace}/{key}", get(countapi::info))
        .route("/stats", get(countapi::stats))
        // Public like `/get`, so not rate-limited; `MAX_STREAMS` bounds the streams.
        .route(
            "/stream/{namespace}/{key}",
            get(stream::stream).layer(Extension(hub.clone())),
        )
        .route_layer(middleware::from_fn_with_state(stats, stats::count_request))
}
