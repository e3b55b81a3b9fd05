//! The HTTP layer: routes, handlers, error mapping and middleware.
//!
//! It knows stores only through the [`Store`] facade; which backend is behind it is decided
//! at start (see [`crate::config`]). Each feature module exposes `router()`, merged here, and
//! the cross-cutting layers (request ids, the request log, CORS, timeout, metrics) are added
//! once, here.
//!
//! Layer order, outermost first: [`request_log`] gives the request its id (or keeps the
//! client's), writes its log line and copies the id onto the response; CORS answers preflights
//! (any origin, never credentials, for every route); after routing, [`metrics::track`] records
//! the request under the matched route and bounds it by a deadline (all but the import, which
//! may take minutes and is bounded by its own limits). Store calls have their own, shorter deadline
//! (`STORE_TIMEOUT`); the request deadline is only a backstop for anything else that could hang.
//!
//! The counting API lives in `api` (`/api/v1`) and `compat` (CountAPI's and Abacus's routes
//! at the root, for their clients); `live` is what their live event streams share (the
//! [`Hub`] behind them is [`crate::live`]'s, handed to those two routes alone as an extension:
//! put on every request, it cost each one an allocation and, with axum's own extensions, a
//! rehash of the request's extension map). Pieces for both, put on their routes where they are
//! built: the rate limiter ([`RateLimiter`], on the methods that count or create) and the
//! [`ClientIp`] extractor it rests on.

pub(crate) mod api;
mod client_ip;
mod compat;
mod cors;
mod counter;
mod error;
mod health;
mod hello;
mod live;
mod metrics;
mod negotiate;
mod no_head;
mod pages;
mod rate_limit;
pub mod request_id;
mod request_log;
mod shutdown;
mod visitor;

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    response::{IntoResponse, Response},
};

use cors::Cors;
use request_log::{RequestLog, RequestLogLayer};
use tower::ServiceBuilder;

pub use api::{STATS_TTL, StatsCache, openapi::DOCUMENT as OPENAPI};
pub use client_ip::ClientIp;
pub use cors::api_cors;
pub use error::{AppError, RETRY_AFTER_SECONDS};
pub use pages::WELCOME;
pub use rate_limit::{
    RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET, RateLimiter, enforce, limit_routes,
};
pub use shutdown::Shutdown;
pub use visitor::HitVisitor;

use crate::{
    config::TrustedProxies,
    greeting::Greeter,
    live::{Hub, LiveObserver, LiveOptions},
    metrics::{Metrics, method_label},
    store::{CounterName, Store, TokenHash},
};

/// The counter behind `/count`, parsed once.
static DEFAULT_COUNTER: LazyLock<CounterName> = LazyLock::new(CounterName::default_counter);

/// What every handler can reach: [`AppParts`] behind one `Arc`. axum clones the state for
/// every extractor and middleware that asks for it, several times per request; one reference
/// count to bump is the cheapest that can be (a profile under load had the field-by-field
/// clone of this state at a tenth of the CPU).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    pub store: Store,
    /// The PostgreSQL behind `/hello`, when `DATABASE_URI` is a postgres URI.
    pub greeter: Option<Arc<Greeter>>,
    pub metrics: Arc<Metrics>,
    /// The hash of `ADMIN_TOKEN`; `None`: no instance admin.
    pub admin: Option<TokenHash>,
    /// The per-client limit on the API's counting routes; `None` with `RATE_LIMIT=off`.
    pub limiter: Option<RateLimiter>,
    /// `TRUSTED_PROXIES`: whose forwarded address is a visitor's (see [`HitVisitor`]).
    pub trusted_proxies: TrustedProxies,
    /// `IMPORT_LIMIT`: the largest body `POST /api/v1/import` reads, in bytes.
    pub import_limit: u64,
    /// The last answer of `GET /api/v1/stats`, kept for a while.
    pub stats: StatsCache,
    /// `JOB_LEASE`: a worker not seen for longer is shown as stale by `GET /api/v1/workers`.
    pub job_lease: Duration,
    /// Set when the server stops accepting, to end the event streams (jobs, live counts).
    pub shutdown: Shutdown,
}

/// The whole application as a `Router`, ready to serve (or to test with `oneshot`), with a
/// live hub of its own at the default settings. `state.store` does not report its changes to
/// that hub, so the event streams see them through the store's change feed only; the server
/// builds its hub itself and serves [`app`].
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let observer: Arc<dyn LiveObserver> = state.metrics.clone();
    let hub = Hub::new(state.store.clone(), LiveOptions::default(), Some(observer));
    Router::new().fallback_service(app(state, request_timeout, hub))
}

/// The whole application as the server serves it: the routes inside the outer layers.
pub type App = RequestLog<Cors<Router>>;

/// The whole application, its event streams served by `hub`.
///
/// The outer layers (request id and log line, CORS) wrap the router once, as one service,
/// rather than through `Router::layer`, which wraps every route (and the fallbacks) in a boxed
/// service of its own that is cloned, and whose future is boxed, on every request. So they also see the requests no route matches: a 404 or 405
/// carries the request id and the CORS headers, and preflights reach CORS for every path.
pub fn app(state: AppState, request_timeout: Duration, hub: Hub) -> App {
    ServiceBuilder::new()
        .layer(RequestLogLayer)
        .layer(api_cors())
        .service(routes(state, request_timeout, &hub))
}

/// The routes, each with the layers that need the matched route.
fn routes(state: AppState, request_timeout: Duration, hub: &Hub) -> Router {
    Router::new()
        .merge(pages::router())
        .merge(counter::router())
        .merge(api::router(state.limiter.as_ref(), hub))
        .merge(compat::router(state.limiter.as_ref(), hub))
        .merge(hello::router())
        .merge(health::router())
        .merge(metrics::router())
        // Route layers run after routing, and wrap the routes added before them: the import,
        // merged after, is bounded by its own limits rather than the deadline (see its module).
        .route_layer(metrics::TrackLayer::new(
            state.metrics.clone(),
            Some(request_timeout),
        ))
        .merge(
            api::import_router().route_layer(metrics::TrackLayer::new(state.metrics.clone(), None)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    state.metrics.observe_request(
        method_label(request.method().as_str()),
        "unmatched",
        "404",
        0.0,
    );
    AppError::NotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
    .into_response()
}

/// A route that exists, asked with a method it does not answer: recorded under the route,
/// like the requests the route answers (the routes' metrics layer does not see this answer).
async fn method_not_allowed(State(state): State<AppState>, request: Request) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    state
        .metrics
        .observe_request(method_label(request.method().as_str()), route, "405", 0.0);
    AppError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
    .into_response()
}
