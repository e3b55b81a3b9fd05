//! Outages (the README's Stores section): a store that is down, hung or locked gives a quick
//! error, never a hung request, and is used again as soon as it is back, without a restart.
//!
//! Each test here has its own throwaway server, since it stops it.

use std::{
    str::FromStr,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sqlx::{Connection, SqliteConnection, sqlite::SqliteConnectOptions};
use tally::{
    config::Config,
    store::{self, Backend, CounterName, Store, StoreErrorKind, StoreSpec},
};

use crate::{
    helpers::{
        StoreFixture, TestApp, eventually, pg_options, redis_info, spawn_app, visitor_count,
    },
    servers::{PostgresServer, RedisServer},
};

const TIMEOUT: Duration = Duration::from_millis(1000);
/// Room for scheduling on a busy 2-core machine; what is checked is "bounded", not "fast".
const SLACK: Duration = Duration::from_millis(1500);
const RECOVERY: Duration = Duration::from_secs(15);

fn counter() -> CounterName {
    CounterName::parse("outage").expect("valid name")
}

/// Asserts that an increment fails as an outage (not as bad input or a bug) within the bound.
async fn assert_fails_fast(store: &Store) {
    let started = Instant::now();
    let err = store
        .increment(&counter(), 1)
        .await
        .expect_err("the store is down");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            err.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::TimedOut
        ),
        "an outage is Unavailable or TimedOut, got {err:?}"
    );
    assert!(
        elapsed <= TIMEOUT + SLACK,
        "failing took {elapsed:?} (timeout {TIMEOUT:?})"
    );
}

async fn recovers(store: &Store) -> i64 {
    let deadline = Instant::now() + RECOVERY;
    loop {
        match store.increment(&counter(), 1).await {
            Ok(value) => return value,
            Err(err) => assert!(
                Instant::now() < deadline,
                "the store did not work again within {RECOVERY:?} of coming back: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PostgreSQL stopped: errors within the timeout; restarted: the same store works again and
/// the count continues.
#[tokio::test]
async fn postgres_outage_fails_fast_and_recovers_without_a_restart() {
    let server = PostgresServer::start();
    let store = store::open(
        &StoreSpec::Postgres(pg_options(&server.admin_url())),
        TIMEOUT,
    )
    .expect("open");
    assert_eq!(store.increment(&counter(), 1).await.expect("up"), 1);
    server.stop();
    assert_fails_fast(&store).await;
    assert_fails_fast(&store).await;
    server.start_again();
    assert_eq!(
        recovers(&store).await,
        2,
        "PostgreSQL kept the count across its restart"
    );
}

/// Redis stopped: errors within the timeout; restarted: the same store works again.
#[tokio::test]
async fn redis_outage_fails_fast_and_recovers_without_a_restart() {
    let server = RedisServer::start();
    let store = store::open(&StoreSpec::Redis(redis_info(&server.url())), TIMEOUT).expect("open");
    assert_eq!(store.increment(&counter(), 1).await.expect("up"), 1);
    server.stop();
    assert_fails_fast(&store).await;
    assert_fails_fast(&store).await;
    server.start_again();
    // The throwaway Redis keeps nothing on disk, so it counts from 1 again.
    assert_eq!(recovers(&store).await, 1);
}

/// A Redis that accepts connections but never answers (SIGSTOP) times out; it is not waited on.
#[tokio::test]
async fn hung_redis_times_out_instead_of_hanging() {
    let server = RedisServer::start();
    let store = store::open(&StoreSpec::Redis(redis_info(&server.url())), TIMEOUT).expect("open");
    assert_eq!(store.increment(&counter(), 1).await.expect("up"), 1);
    server.pause();
    assert_fails_fast(&store).await;
    server.resume();
    let value = recovers(&store).await;
    // The increment that timed out may or may not have been applied when Redis woke up: it is
    // reported as failed and never retried, so the count is 2 or 3, never more.
    assert!((2..=3).contains(&value), "{value}");
}

/// Another process holding SQLite's write lock past the timeout gives an error, not a hang;
/// once it lets go, counting goes on.
#[tokio::test]
async fn locked_sqlite_fails_fast_and_recovers() {
    let fixture = StoreFixture::new(Backend::Sqlite).await;
    let store = fixture.open(TIMEOUT);
    assert_eq!(store.increment(&counter(), 1).await.expect("up"), 1);
    let url = fixture.url.clone().expect("sqlite fixture has a URL");
    let mut other =
        SqliteConnection::connect_with(&SqliteConnectOptions::from_str(&url).expect("url"))
            .await
            .expect("second connection");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .expect("take the write lock");
    assert_fails_fast(&store).await;
    sqlx::query("COMMIT")
        .execute(&mut other)
        .await
        .expect("release the lock");
    assert_eq!(recovers(&store).await, 2);
}

async fn assert_503_with_retry_after(app: &TestApp, path: &str) -> serde_json::Value {
    let started = Instant::now();
    let reply = app.get(path).await;
    let elapsed = started.elapsed();
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{path}: {}",
        reply.body
    );
    assert!(
        reply.header("retry-after").is_some(),
        "{path} has no Retry-After"
    );
    assert!(elapsed <= TIMEOUT + SLACK, "{path} took {elapsed:?}");
    reply.json()
}

/// The server starts while its store is down, serves /healthz, answers 503 for counts and
/// readiness, and works once the store is up; no restart of tally.
async fn starts_without_its_store_and_recovers(
    spec: StoreSpec,
    backend: Backend,
    start_store: impl FnOnce(),
) {
    let mut config = Config::with_store(spec);
    config.store_timeout = TIMEOUT;
    let app = spawn_app(config).await;

    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let count = assert_503_with_retry_after(&app, "/count").await;
    assert_eq!(count["error"], "store_unavailable");
    assert!(
        count["message"]
            .as_str()
            .is_some_and(|m| m.contains(backend.as_str())),
        "{count}"
    );
    let page = app.get_with("/", &[("accept", "text/html")]).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the page renders without its store"
    );
    assert!(page.body.contains("unavailable"), "{}", page.body);
    let ready = assert_503_with_retry_after(&app, "/readyz").await;
    assert_eq!(ready["status"], "unavailable");
    assert_eq!(ready["dependency"], backend.as_str());
    assert!(
        matches!(ready["error"].as_str(), Some("unavailable" | "timed_out")),
        "{ready}"
    );

    start_store();
    let back = eventually(RECOVERY, || async {
        app.get("/readyz").await.status == StatusCode::OK
    })
    .await;
    assert!(back, "/readyz did not recover");
    assert_eq!(
        visitor_count(&app.count().await),
        1,
        "nothing was counted while down"
    );
    app.stop().await.expect("graceful stop");
}

#[tokio::test]
async fn serves_while_postgres_is_down_and_recovers_when_it_starts() {
    let server = PostgresServer::start();
    server.stop();
    let spec = StoreSpec::Postgres(pg_options(&server.admin_url()));
    starts_without_its_store_and_recovers(spec, Backend::Postgres, || server.start_again()).await;
}

#[tokio::test]
async fn serves_while_redis_is_down_and_recovers_when_it_starts() {
    let server = RedisServer::start();
    server.stop();
    let spec = StoreSpec::Redis(redis_info(&server.url()));
    starts_without_its_store_and_recovers(spec, Backend::Redis, || server.start_again()).await;
}

/// A running server whose PostgreSQL goes away answers 503, then counts on from where it was.
#[tokio::test]
async fn running_server_survives_a_postgres_restart() {
    let server = PostgresServer::start();
    let mut config = Config::with_store(StoreSpec::Postgres(pg_options(&server.admin_url())));
    config.store_timeout = TIMEOUT;
    let app = spawn_app(config).await;
    assert_eq!(visitor_count(&app.count().await), 1);
    assert_eq!(visitor_count(&app.count().await), 2);
    server.stop();
    assert_503_with_retry_after(&app, "/count").await;
    server.start_again();
    let back = eventually(RECOVERY, || async {
        app.get("/readyz").await.status == StatusCode::OK
    })
    .await;
    assert!(back, "/readyz did not recover");
    assert_eq!(visitor_count(&app.count().await), 3);
    app.stop().await.expect("graceful stop");
}

/// A Redis that refuses tally's password answers 503 (not 500), and once the password is
/// fixed on the Redis side, tally counts again without a restart.
#[tokio::test]
async fn redis_recovers_after_its_password_is_fixed() {
    let server = RedisServer::start();
    let admin = ::redis::Client::open(server.url()).expect("valid url");
    let mut admin = admin
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("old-secret")
        .query_async(&mut admin)
        .await
        .expect("set a password tally does not know");

    let url = format!("redis://:new-secret@127.0.0.1:{}", server.port());
    let mut config = Config::with_store(StoreSpec::Redis(redis_info(&url)));
    config.store_timeout = TIMEOUT;
    let app = spawn_app(config).await;
    let refused = assert_503_with_retry_after(&app, "/count").await;
    assert_eq!(refused["error"], "store_unavailable");

    let _: () = ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("new-secret")
        .query_async(&mut admin)
        .await
        .expect("change the password to tally's");
    let back = eventually(RECOVERY, || async {
        app.count().await.status == StatusCode::OK
    })
    .await;
    assert!(
        back,
        "tally did not count again after the password was fixed"
    );
    app.stop().await.expect("graceful stop");
}

/// A request that outlives the request deadline (a backstop behind the store timeout) gets a
/// 503 with a body and `Retry-After`, and is counted in the metrics under its route.
#[tokio::test]
async fn request_deadline_answers_503_with_a_body() {
    use std::sync::Arc;
    use tower::ServiceExt;

    let server = RedisServer::start();
    // The store would wait 10 s; the request deadline is 300 ms.
    let store = store::open(
        &StoreSpec::Redis(redis_info(&server.url())),
        Duration::from_secs(10),
    )
    .expect("open");
    let metrics = Arc::new(tally::metrics::Metrics::new());
    let state = tally::web::AppState::new(tally::web::AppParts {
        store,
        greeter: None,
        metrics: metrics.clone(),
        admin: None,
        limiter: None,
        trusted_proxies: Default::default(),
        import_limit: tally::config::DEFAULT_IMPORT_LIMIT,
        stats: tally::web::StatsCache::default(),
        job_lease: tally::config::DEFAULT_JOB_LEASE,
        shutdown: tally::web::Shutdown::default(),
    });
    server.pause();
    let router = tally::web::router(state, Duration::from_millis(300));
    let request = axum::http::Request::get("/count")
        .body(axum::body::Body::empty())
        .expect("valid request");
    let response = router.oneshot(request).await.expect("infallible");
    server.resume();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .expect("body");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
    assert_eq!(body["error"], "timeout");
    let rendered = metrics.render();
    assert!(
        rendered.contains(r#"http_requests_total{method="GET",route="/count",status="503"} 1"#),
        "{rendered}"
    );
}
