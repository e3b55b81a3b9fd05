//! The HTTP contract (the README's "HTTP endpoints" section), against a real server on a
//! random port, for every backend; plus router-level checks without a socket.
//!
//! Each rule is one test per backend (`http::redis::count_increments_by_one_in_text_and_json`),
//! on its own fresh app and store, so a failure names the rule and the backend, and no rule
//! depends on what another one left behind: a rule that needs a count makes it itself.

use std::{sync::Arc, time::Duration};

use axum::body::Body;
use reqwest::{Method, StatusCode};
use tally::{
    config::Config,
    greeting::GREETING,
    metrics::Metrics,
    store::{self, Backend, StoreSpec},
    web::{self, AppParts, AppState, WELCOME},
};
use tower::ServiceExt;

use crate::{
    client,
    helpers::{TestApp, create_database, pg_options, spawn_app, spawn_app_for, visitor_count},
    servers::{self, process::free_port},
};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// `/` says "Welcome to" in plain text to curl and as the page to browsers.
async fn welcome_is_text_for_clients_and_a_page_for_browsers(app: &TestApp, backend: Backend) {
    let plain = app.get("/").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.body, WELCOME);
    assert!(
        plain
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );

    let page = app.get_with("/", &[("accept", BROWSER_ACCEPT)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    assert!(page.body.contains("Welcome to"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<dd id=\"store\">{backend}</dd>")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<p id=\"count\" class=\"count\">0</p>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("{{"),
        "unreplaced placeholder: {}",
        page.body
    );

    for (path, kind) in [
        ("/assets/app.js", "javascript"),
        ("/assets/badge.js", "javascript"),
        ("/assets/history.js", "javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let asset = app.get(path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert!(
            asset
                .header("content-type")
                .is_some_and(|t| t.contains(kind)),
            "{path}"
        );
        assert!(!asset.body.is_empty(), "{path}");
    }
}

/// Counts `times` visits through `/count`, checking each answer: the state a rule starts from.
async fn visit(app: &TestApp, times: i64) {
    for expected in 1..=times {
        assert_eq!(visitor_count(&app.count().await), expected);
    }
}

/// `/count` adds one per request, in text or JSON, and forbids caching.
async fn count_increments_by_one_in_text_and_json(app: &TestApp, _backend: Backend) {
    let first = app.count().await;
    assert_eq!(visitor_count(&first), 1);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    assert!(
        first
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    assert_eq!(visitor_count(&app.count().await), 2);

    let json = app
        .get_with("/count", &[("accept", "application/json")])
        .await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.header("cache-control"), Some("no-store"));
    assert!(
        json.header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    assert_eq!(json.json(), serde_json::json!({ "count": 3 }));
}

/// The page shows the count the store holds.
async fn page_shows_the_current_count(app: &TestApp, _backend: Backend) {
    visit(app, 3).await;
    let page = app.get_with("/", &[("accept", "text/html")]).await;
    assert!(
        page.body.contains("<p id=\"count\" class=\"count\">3</p>"),
        "{}",
        page.body
    );
}

/// `/healthz` is 200 `ok`; `/readyz` is 200 JSON naming the store.
async fn health_and_readiness_answer(app: &TestApp, backend: Backend) {
    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let ready = app.readyz().await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(
        ready.json(),
        serde_json::json!({ "status": "ready", "store": backend.as_str() })
    );
}

/// `/metrics` is Prometheus text with requests by matched route and store operations by backend.
async fn metrics_count_requests_by_route_and_store_calls(app: &TestApp, backend: Backend) {
    visit(app, 3).await;
    app.get("/no/such/page/12345").await;
    // Any token is a method to HTTP; one that is not standard is labelled `other`.
    let frob = Method::from_bytes(b"FROB").expect("a token");
    let odd = app
        .request(frob.clone(), "/count", &[], client::Body::Empty)
        .await;
    assert_eq!(odd.status, StatusCode::METHOD_NOT_ALLOWED, "{}", odd.body);
    app.request(frob, "/no/such/page", &[], client::Body::Empty)
        .await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    let body = &metrics.body;
    assert!(
        body.contains(r#"http_requests_total{method="GET",route="/count",status="200"} 3"#),
        "{body}"
    );
    assert!(
        body.contains(r#"http_request_duration_seconds_bucket{method="GET",route="/count""#),
        "{body}"
    );
    assert!(body.contains(r#"route="unmatched",status="404""#), "{body}");
    assert!(
        body.contains(r#"http_requests_total{method="other",route="/count",status="405"} 1"#),
        "{body}"
    );
    assert!(
        body.contains(r#"http_requests_total{method="other",route="unmatched",status="404"} 1"#),
        "{body}"
    );
    assert!(
        !body.contains("FROB"),
        "methods as sent are not labels: {body}"
    );
    assert!(
        !body.contains("12345"),
        "raw paths must not become labels: {body}"
    );
    let increments =
        format!(r#"store_operations_total{{backend="{backend}",operation="increment"}} 3"#);
    assert!(body.contains(&increments), "{body}");
    assert!(
        body.contains("\nlog_lines_dropped_total "),
        "the log writer's drops are a metric: {body}"
    );
}

/// Every response carries an `x-request-id`; one sent by the client is kept.
async fn every_response_has_a_request_id(app: &TestApp, _backend: Backend) {
    for path in ["/", "/count", "/healthz", "/nope"] {
        let reply = app.get(path).await;
        assert!(
            reply
                .header("x-request-id")
                .is_some_and(|id| !id.is_empty()),
            "{path}"
        );
    }
    let reply = app
        .get_with("/healthz", &[("x-request-id", "trace-me-42")])
        .await;
    assert_eq!(reply.header("x-request-id"), Some("trace-me-42"));
}

macro_rules! http_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            http_suite!(@rules $kind;
                welcome_is_text_for_clients_and_a_page_for_browsers,
                count_increments_by_one_in_text_and_json,
                page_shows_the_current_count,
                health_and_readiness_answer,
                metrics_count_requests_by_route_and_store_calls,
                every_response_has_a_request_id,
            );
        }
    )*};
    (@rules $kind:expr; $($rule:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $rule() {
            let (app, _fixture) = spawn_app_for($kind).await;
            super::$rule(&app, $kind).await;
            app.stop().await.expect("graceful stop");
        }
    )*};
}

http_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}

/// `/hello` returns the greeting that PostgreSQL built, whatever the counter store is.
#[tokio::test]
async fn hello_returns_the_greeting_from_postgres_even_with_another_counter_store() {
    let url = create_database(&servers::shared_postgres_url()).await;
    let mut config = Config::with_store(StoreSpec::Memory);
    config.hello_postgres = Some(pg_options(&url));
    let app = spawn_app(config).await;
    let hello = app.hello().await;
    assert_eq!(hello.status, StatusCode::OK, "{}", hello.body);
    assert_eq!(hello.body, GREETING);
    assert_eq!(hello.body, "Hello from Rust and PostgreSQL!");
    assert!(
        hello
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
}

/// Without a postgres `DATABASE_URI`, `/hello` is 503 and says which variable to set.
#[tokio::test]
async fn hello_without_postgres_is_503_naming_database_uri() {
    let app = spawn_app(Config::with_store(StoreSpec::Memory)).await;
    let hello = app.hello().await;
    assert_eq!(hello.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hello.json()["error"], "postgres_not_configured");
    assert!(hello.body.contains("DATABASE_URI"), "{}", hello.body);
}

/// With PostgreSQL unreachable, `/hello` is 503 with `Retry-After`, within the store timeout.
#[tokio::test]
async fn hello_with_postgres_down_is_503_with_retry_after() {
    let mut config = Config::with_store(StoreSpec::Memory);
    config.store_timeout = Duration::from_millis(500);
    config.hello_postgres = Some(pg_options(&format!(
        "postgres://postgres@127.0.0.1:{}/db",
        free_port()
    )));
    let app = spawn_app(config).await;
    let hello = app.hello().await;
    assert_eq!(
        hello.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        hello.body
    );
    assert!(hello.header("retry-after").is_some());
    assert_eq!(hello.json()["error"], "store_unavailable");
}

fn memory_router() -> axum::Router {
    let state = AppState::new(AppParts {
        admin: None,
        limiter: None,
        trusted_proxies: Default::default(),
        import_limit: tally::config::DEFAULT_IMPORT_LIMIT,
        stats: tally::web::StatsCache::default(),
        job_lease: tally::config::DEFAULT_JOB_LEASE,
        shutdown: tally::web::Shutdown::default(),
        store: store::open(&StoreSpec::Memory, Duration::from_secs(2)).expect("memory store"),
        greeter: None,
        metrics: Arc::new(Metrics::new()),
    });
    web::router(state, Duration::from_secs(5))
}

async fn oneshot(method: &str, path: &str) -> (StatusCode, String) {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("valid request");
    let response = memory_router().oneshot(request).await.expect("infallible");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("valid status");
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// An unknown path is 404 with a JSON body that names it.
#[tokio::test]
async fn unknown_paths_are_404_with_a_body_that_says_so() {
    let (status, body) = oneshot("GET", "/counts").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(body["error"], "not_found");
    assert_eq!(body["message"], "no route for GET /counts");
}

/// `HEAD /count` is refused (405, `Allow: GET`) and counts nothing: monitors and `curl -I`
/// must not inflate the count.
#[tokio::test]
async fn head_count_is_refused_and_counts_nothing() {
    let app = spawn_app(Config::with_store(StoreSpec::Memory)).await;
    let head = app
        .request(Method::HEAD, "/count", &[], client::Body::Empty)
        .await;
    assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(head.header("allow"), Some("GET"));
    assert_eq!(
        visitor_count(&app.count().await),
        1,
        "the HEAD did not count"
    );
}

/// A known path with the wrong method is 405 with a body, not an empty reply.
#[tokio::test]
async fn wrong_methods_are_405_with_a_body_that_says_so() {
    let (status, body) = oneshot("DELETE", "/count").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.contains("/count does not accept DELETE"), "{body}");
}
