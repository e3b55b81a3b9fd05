//! The welcome page and its static files.
//!
//! The frontend (`frontend/`) is plain HTML, CSS and JavaScript with no build step, embedded
//! in the binary at compile time so that one file is all a deployment needs. The page shows
//! the current count, kept live by the visitor counter's event stream (`app.js`, with a
//! "live"/"reconnecting" state), which store is in use, a button that counts through
//! `/count`'s JSON form, the visitor counter's last 30 days as a chart (drawn in the browser
//! from the history API, `history.js`), the result of the PostgreSQL check, and the Markdown
//! and HTML that embed a counter's badge (built in the browser, `badge.js`). `/jobs` is the jobs dashboard (`jobs.html`,
//! `jobs.js`): static, since everything on it needs the admin token, which the page asks for
//! and sends with its API calls. No script or style is inline, so the pages work under a
//! Content-Security-Policy without `'unsafe-inline'`.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};

use super::{AppState, DEFAULT_COUNTER, negotiate::accepts};

const INDEX_HTML: &str = include_str!("../../frontend/index.html");
const APP_JS: &str = include_str!("../../frontend/app.js");
const BADGE_JS: &str = include_str!("../../frontend/badge.js");
const HISTORY_JS: &str = include_str!("../../frontend/history.js");
const JOBS_HTML: &str = include_str!("../../frontend/jobs.html");
const JOBS_JS: &str = include_str!("../../frontend/jobs.js");
const STYLE_CSS: &str = include_str!("../../frontend/style.css");

/// What `/` says to clients that are not browsers (the tutorials' first line).
pub const WELCOME: &str = "Welcome to my App!";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(welcome))
        .route(
            "/jobs",
            get(|| asset(JOBS_HTML, "text/html; charset=utf-8")),
        )
        .route(
            "/assets/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/badge.js",
            get(|| asset(BADGE_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/history.js",
            get(|| asset(HISTORY_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/jobs.js",
            get(|| asset(JOBS_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/assets/style.css",
            get(|| asset(STYLE_CSS, "text/css; charset=utf-8")),
        )
}

async fn welcome(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut response = if accepts(&headers, "text/html") {
        // The page opens with the current count; when the store is down it still renders,
        // and says so, rather than failing the whole page.
        let count = match state.store.get(&DEFAULT_COUNTER).await {
            Ok(count) => count.to_string(),
            Err(err) => {
                tracing::warn!(error = %err, "welcome page rendered without a count");
                "unavailable".to_owned()
            }
        };
        // Every value is safe to splice into HTML: a number (or a fixed word), one of the
        // fixed backend names, and `yes`/`no` (whether `/hello` has a PostgreSQL to ask).
        Html(
            INDEX_HTML
                .replace("{{count}}", &count)
                .replace("{{store}}", state.store.backend().as_str())
                .replace(
                    "{{postgres}}",
                    if state.greeter.is_some() { "yes" } else { "no" },
                ),
        )
        .into_response()
    } else {
        WELCOME.into_response()
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    response
}

async fn asset(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Embedded files change only with the binary; a short cache still lets a new
            // release show within minutes.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}
