//! The history routes over HTTP (`/api/v1/counters/{ns}/{key}/history` and `/history.svg`),
//! on every store: every counting route records its hit and its visitor, the days end with
//! today in the zone asked for, the chart is an SVG, bad days and zones are 400s naming the
//! parameter, `TRUSTED_PROXIES` decides whose `X-Forwarded-For` makes a visitor; and what a
//! visitor leaves behind: neither its address nor its User-Agent, in any raw store or in the
//! log of the `tally` binary at `RUST_LOG=trace`.
//!
//! The history's arithmetic (zones, daylight saving, the estimate's precision, retention) is
//! checked through the store in `history_contract.rs`.

use std::{
    fs::File,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use jiff::{Timestamp, tz::TimeZone};
use reqwest::StatusCode;
use sqlx::{Connection, PgConnection};
use tally::{
    config::Config,
    store::{Backend, StoreSpec},
};

use crate::{
    client::{Http, Reply},
    helpers::{StoreFixture, TestApp, spawn_app, spawn_app_for, spawn_app_for_with, tally_command},
    servers::process::{free_port, send_signal, wait_for_exit},
};

/// Today's date in `zone`, and the date a moment later: a check made across midnight accepts
/// either.
fn today_in(zone: &str) -> String {
    let tz = TimeZone::get(zone).expect("a zone");
    tz.to_datetime(Timestamp::now()).date().to_string()
}

async fn history(app: &Http, path: &str) -> Vec<serde_json::Value> {
    let reply = app.get(path).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|kind| kind.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    reply.json().as_array().expect("an array").clone()
}

/// `(hits, uniques)` of each day.
fn numbers(days: &[serde_json::Value]) -> Vec<(i64, i64)> {
    days.iter()
        .map(|day| {
            (
                day["hits"].as_i64().expect("hits"),
                day["uniques"].as_i64().expect("uniques"),
            )
        })
        .collect()
}

fn assert_bad_request(reply: &Reply, parameter: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], "bad_request", "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(message.contains(parameter), "{message}");
}

/// Every route that counts records a hit and its visitor (address and User-Agent); reading
/// routes record nothing. Today is last, the days before are there with 0.
async fn every_counting_route_records_its_hit_and_visitor(app: &TestApp) {
    let ua = |agent: &'static str| [("user-agent", agent)];
    let counted = [
        ("POST", "/api/v1/counters/hist/page/hit", "Firefox"),
        ("GET", "/api/v1/counters/hist/page/badge.svg", "Firefox"),
        ("GET", "/api/v1/counters/hist/page/pixel.gif", "Chrome"),
        ("GET", "/hit/hist/page", "curl"),
        ("GET", "/hit/hist/page/shield", "curl"),
    ];
    let started = today_in("UTC");
    for (method, path, agent) in counted {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let reply = app
            .request(method, path, &ua(agent), crate::client::Body::Empty)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    }
    for path in [
        "/api/v1/counters/hist/page/badge.svg?count=false",
        "/api/v1/counters/hist/page",
        "/get/hist/page",
    ] {
        assert_eq!(app.get(path).await.status, StatusCode::OK, "{path}");
    }
    let before = today_in("UTC");
    let days = history(app, "/api/v1/counters/hist/page/history?days=3").await;
    let after = today_in("UTC");
    assert_eq!(days.len(), 3);
    let last = days[2]["date"].as_str().expect("a date");
    assert!(last == before || last == after, "{last}");
    // All on today, unless UTC's midnight fell while the test ran (then split between two
    // days: the total is checked).
    if started == after {
        assert_eq!(numbers(&days), [(0, 0), (0, 0), (5, 3)]);
    } else {
        assert_eq!(numbers(&days).iter().map(|(hits, _)| hits).sum::<i64>(), 5);
    }

    let started = today_in("UTC");
    for _ in 0..2 {
        let reply = app.get_with("/count", &ua("Firefox")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let days = history(app, "/api/v1/counters/default/visitor_count/history?days=2").await;
    if started == today_in("UTC") {
        assert_eq!(numbers(&days), [(0, 0), (2, 1)]);
    } else {
        assert_eq!(numbers(&days).iter().map(|(hits, _)| hits).sum::<i64>(), 2);
    }
}

/// Thirty days by default, oldest first and consecutive, ending with today in the zone asked
/// for; a counter that does not exist has thirty days of 0.
async fn days_end_with_today_in_the_zone_asked_for(app: &TestApp) {
    let days = history(app, "/api/v1/counters/hist/never/history").await;
    assert_eq!(days.len(), 30);
    assert!(numbers(&days).iter().all(|day| *day == (0, 0)));
    let zones = [
        "UTC",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Pacific/Kiritimati",
    ];
    // The hit's day in each zone, read on both sides of it (a zone's midnight may fall
    // between the two).
    let hit_before: Vec<String> = zones.iter().map(|zone| today_in(zone)).collect();
    app.request(
        reqwest::Method::POST,
        "/api/v1/counters/hist/zoned/hit",
        &[],
        crate::client::Body::Empty,
    )
    .await;
    let hit_after: Vec<String> = zones.iter().map(|zone| today_in(zone)).collect();
    for (n, zone) in zones.into_iter().enumerate() {
        let before = today_in(zone);
        let days = history(
            app,
            &format!("/api/v1/counters/hist/zoned/history?days=7&tz={zone}"),
        )
        .await;
        let after = today_in(zone);
        assert_eq!(days.len(), 7, "{zone}");
        let dates: Vec<jiff::civil::Date> = days
            .iter()
            .map(|day| day["date"].as_str().expect("date").parse().expect("a date"))
            .collect();
        for pair in dates.windows(2) {
            assert_eq!(pair[0].tomorrow().expect("date"), pair[1], "{zone}");
        }
        let last = dates[6].to_string();
        assert!(last == before || last == after, "{zone}: {last}");
        // The one hit was made moments ago: on the day it was made in every zone, which is
        // today unless a midnight fell since.
        let hits: i64 = numbers(&days).iter().map(|(hits, _)| hits).sum();
        assert_eq!(hits, 1, "{zone}");
        let hit_day = days
            .iter()
            .find(|day| day["hits"] == 1)
            .and_then(|day| day["date"].as_str())
            .expect("a day with the hit");
        assert!(
            hit_day == hit_before[n] || hit_day == hit_after[n],
            "{zone}: the hit on {hit_day}, made on {} or {}",
            hit_before[n],
            hit_after[n]
        );
    }
}

/// The chart is an SVG with one bar per day and a short cache; other parameters are ignored
/// (cache busters), and a bad zone is the API's JSON 400.
async fn the_chart_is_an_svg_bar_per_day(app: &TestApp) {
    app.get("/api/v1/counters/hist/chart/pixel.gif").await;
    let reply = app
        .get("/api/v1/counters/hist/chart/history.svg?days=30&tz=Europe/Berlin&v=2")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("public, max-age=60"));
    assert!(reply.body.starts_with("<svg "), "{}", reply.body);
    assert_eq!(reply.body.matches("<g><title>").count(), 30);
    // Berlin's day holds the hit, but its unique visitors are those of the UTC day holding
    // its noon: from 23:00 to 24:00 UTC that is tomorrow's, with no visitor yet.
    assert_eq!(
        reply.body.matches(": 1 hits, ").count(),
        1,
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("hist/chart: 1 hits in 30 days (Europe/Berlin)")
    );
    // In UTC the hit and its visitor are on one day's bar whenever the test runs.
    let utc = app
        .get("/api/v1/counters/hist/chart/history.svg?days=30")
        .await;
    assert_eq!(utc.status, StatusCode::OK, "{}", utc.body);
    assert_eq!(
        utc.body
            .matches(": 1 hits, 1 unique visitors</title>")
            .count(),
        1,
        "{}",
        utc.body
    );
    assert!(
        utc.body.contains("hist/chart: 1 hits in 30 days (UTC)"),
        "{}",
        utc.body
    );
    let bad = app
        .get("/api/v1/counters/hist/chart/history.svg?tz=Mars/Olympus")
        .await;
    assert_bad_request(&bad, "tz");
}

macro_rules! history_api_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            history_api_suite!(@rules $kind;
                every_counting_route_records_its_hit_and_visitor,
                days_end_with_today_in_the_zone_asked_for,
                the_chart_is_an_svg_bar_per_day,
            );
        }
    )*};
    (@rules $kind:expr; $($rule:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $rule() {
            let (app, _fixture) = spawn_app_for($kind).await;
            super::$rule(&app).await;
            app.stop().await.expect("graceful stop");
        }
    )*};
}

history_api_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}

/// `days` is 1 to `HISTORY_DAYS` and `tz` an IANA name as spelt in the database; anything
/// else, and an unknown parameter of the JSON route, is a 400 naming it. JSONP works.
#[tokio::test]
async fn bad_days_and_zones_are_400_naming_the_parameter() {
    let (app, _fixture) =
        spawn_app_for_with(Backend::Memory, |config| config.history_days = 7).await;
    let path = "/api/v1/counters/hist/bad/history";
    for (query, parameter) in [
        ("days=0", "days"),
        ("days=8", "days"),
        ("days=-1", "days"),
        ("days=seven", "days"),
        ("tz=Mars/Olympus", "tz"),
        ("tz=europe/berlin", "tz"),
        ("tz=%2B05:30", "tz"),
        ("tz=", "tz"),
        ("zone=UTC", "zone"),
        ("callback=1x", "callback"),
    ] {
        let reply = app.get(&format!("{path}?{query}")).await;
        assert_bad_request(&reply, parameter);
    }
    assert_eq!(history(&app, &format!("{path}?days=7")).await.len(), 7);
    let reply = app.get(&format!("{path}?days=2&callback=show")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert!(reply.body.starts_with("show([{\"date\":"), "{}", reply.body);
    assert!(reply.body.ends_with("}]);"), "{}", reply.body);
}

/// Behind a trusted proxy each forwarded client is a visitor of its own; from any other peer
/// `X-Forwarded-For` is ignored, and every request is the peer.
#[tokio::test]
async fn trusted_proxies_decide_whose_forwarded_address_is_a_visitor() {
    for (proxies, expected) in [("127.0.0.1", 2), ("", 1)] {
        let mut config = Config::with_store(StoreSpec::Memory);
        config.trusted_proxies = proxies.parse().expect("valid proxies");
        let app = spawn_app(config).await;
        for client in ["203.0.113.1", "203.0.113.2", "203.0.113.2"] {
            let reply = app.get_with("/count", &[("x-forwarded-for", client)]).await;
            assert_eq!(reply.status, StatusCode::OK);
        }
        let days = history(
            &app,
            "/api/v1/counters/default/visitor_count/history?days=1",
        )
        .await;
        assert_eq!(
            numbers(&days),
            [(3, expected)],
            "TRUSTED_PROXIES={proxies:?}"
        );
        app.stop().await.expect("stop");
    }
}

/// The visitor of the privacy checks: an address and a User-Agent that appear nowhere else.
const PROBE_ADDRESS: &str = "203.0.113.77";
const PROBE_ADDRESS_BYTES: [u8; 4] = [203, 0, 113, 77];
const PROBE_AGENT_MARK: &str = "probe-9f2c41";
const PROBE_AGENT: &str = "PrivacyProbe/7.7 (probe-9f2c41)";

/// What a store or a log must not hold: the address as text, in hex or as its four bytes,
/// and any part of the User-Agent.
fn assert_no_trace_of_the_visitor(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    for needle in [
        PROBE_ADDRESS,
        "cb00714d",
        "203, 0, 113, 77",
        &PROBE_AGENT_MARK.to_ascii_lowercase(),
        "privacyprobe",
    ] {
        assert!(!text.contains(needle), "{what} holds {needle:?}");
    }
    assert!(
        !bytes.windows(4).any(|window| window == PROBE_ADDRESS_BYTES),
        "{what} holds the address's four bytes"
    );
}

/// Everything a store holds, as bytes: every row of every table of PostgreSQL (bytea as hex),
/// every key and value of Redis, the SQLite file with its WAL.
async fn raw_store(backend: Backend, fixture: &StoreFixture) -> Vec<u8> {
    let url = fixture.url.clone().unwrap_or_default();
    match backend {
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .expect("tables");
            assert!(
                tables.iter().any(|(t,)| t == "visitor_registers"),
                "{tables:?}"
            );
            let mut dump = Vec::new();
            for (table,) in tables {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT row_to_json(t)::text FROM \"{table}\" t"
                )))
                .fetch_all(&mut conn)
                .await
                .expect("rows");
                for (row,) in rows {
                    dump.extend(row.into_bytes());
                }
            }
            dump
        }
        Backend::Redis => {
            let client = ::redis::Client::open(url.as_str()).expect("client");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let keys: Vec<String> = ::redis::cmd("KEYS")
                .arg("*")
                .query_async(&mut conn)
                .await
                .expect("keys");
            assert!(
                keys.iter().any(|key| key.contains(":visitors:")),
                "a visitor was recorded: {keys:?}"
            );
            let mut dump = Vec::new();
            for key in keys {
                let kind: String = ::redis::cmd("TYPE")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("type");
                let command = match kind.as_str() {
                    "string" => "GET",
                    "hash" => "HGETALL",
                    "zset" => "ZRANGE",
                    other => panic!("unexpected key type {other} of {key}"),
                };
                let mut call = ::redis::cmd(command);
                call.arg(&key);
                if command == "ZRANGE" {
                    call.arg(0).arg(-1);
                }
                let value: ::redis::Value = call.query_async(&mut conn).await.expect("read");
                dump.extend(format!("{value:?}").into_bytes());
                if let ::redis::Value::BulkString(bytes) = value {
                    dump.extend(bytes);
                }
                dump.extend(key.into_bytes());
            }
            dump
        }
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://").to_owned();
            let mut dump = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    dump.extend(bytes);
                }
            }
            assert!(!dump.is_empty(), "the SQLite file exists");
            dump
        }
        Backend::Memory => Vec::new(),
    }
}

/// The environment that points the binary at `fixture`'s store.
fn store_env(backend: Backend, fixture: &StoreFixture) -> Vec<(&'static str, String)> {
    let url = fixture.url.clone().unwrap_or_default();
    match backend {
        Backend::Postgres => vec![("COUNTER_STORE", "postgres".into()), ("DATABASE_URI", url)],
        Backend::Redis => vec![("COUNTER_STORE", "redis".into()), ("REDIS_URL", url)],
        Backend::Sqlite => vec![("COUNTER_STORE", "sqlite".into()), ("DATABASE_URI", url)],
        Backend::Memory => vec![("COUNTER_STORE", "memory".into())],
    }
}

/// A visitor that counts through every counting route, behind a trusted proxy, leaves its
/// address and User-Agent nowhere: not in the raw store (only HyperLogLog registers and the
/// day's salt are kept), not in the log, at the most detailed level and as JSON with spans.
async fn a_visitor_leaves_no_address_or_user_agent_behind(backend: Backend) {
    let fixture = StoreFixture::new(backend).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let log_path = dir.path().join("tally.log");
    let log = File::create(&log_path).expect("a log file");
    let port = free_port();
    let mut command = tally_command(dir.path());
    command
        .env("PORT", port.to_string())
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .env("TRUSTED_PROXIES", "127.0.0.1")
        .env("RATE_LIMIT", "3/1m")
        .envs(store_env(backend, &fixture))
        .stdout(log.try_clone().expect("clone the handle"))
        .stderr(Stdio::from(log));
    let mut child = command.spawn().expect("spawn tally");
    let http = Http::new(format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .try_get("/readyz")
        .await
        .is_ok_and(|reply| reply.status == StatusCode::OK)
    {
        assert!(
            Instant::now() < deadline,
            "tally did not start: {}",
            read(&log_path)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let probe = [
        ("x-forwarded-for", PROBE_ADDRESS),
        ("user-agent", PROBE_AGENT),
    ];
    for path in [
        "/count",
        "/api/v1/counters/private/page/badge.svg",
        "/api/v1/counters/private/page/pixel.gif",
        "/hit/private/page",
        // Over the rate limit (3 a minute): the 429 and its log line.
        "/hit/private/page/shield",
        // Failures log too.
        "/api/v1/counters/private/page/history?tz=Nowhere",
        "/no/such/path",
    ] {
        http.get_with(path, &probe).await;
    }
    let visitors = http
        .get("/api/v1/counters/default/visitor_count/history?days=1")
        .await;
    assert_eq!(visitors.json()[0]["uniques"], 1, "{}", visitors.body);
    send_signal(&child, libc::SIGTERM);
    assert!(wait_for_exit(&mut child, Duration::from_secs(15)).success());

    let logged = std::fs::read(&log_path).expect("the log");
    let text = String::from_utf8_lossy(&logged);
    assert!(
        text.contains("/api/v1/counters/private/page/pixel.gif") && text.contains("\"status\""),
        "requests are logged: {text}"
    );
    assert_no_trace_of_the_visitor("the log", &logged);
    assert_no_trace_of_the_visitor(backend.as_str(), &raw_store(backend, &fixture).await);
}

/// Reads a log for a failure message.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_no_address_or_user_agent() {
    a_visitor_leaves_no_address_or_user_agent_behind(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_no_address_or_user_agent() {
    a_visitor_leaves_no_address_or_user_agent_behind(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_no_address_or_user_agent() {
    a_visitor_leaves_no_address_or_user_agent_behind(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_logs_no_address_or_user_agent() {
    a_visitor_leaves_no_address_or_user_agent_behind(Backend::Memory).await;
}

/// On the SQL stores a day's salt is deleted by the next day's first visitor (and by the
/// maintenance job); on Redis it expires five minutes after its day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_days_salts_are_deleted() {
    use tally::store::{Visitor, history::DAY_MS, now_millis};
    let visitor = Visitor::new([192, 0, 2, 1].into(), b"x");
    let counter = tally::store::CounterName::parse("salts/page").expect("name");
    for backend in [Backend::Postgres, Backend::Sqlite, Backend::Redis] {
        let fixture = StoreFixture::new(backend).await;
        let store = fixture.open(Duration::from_secs(10));
        let now = now_millis();
        for when in [now - 3 * DAY_MS, now - DAY_MS, now] {
            store
                .increment_at(&counter, 1, Some(&visitor), when)
                .await
                .expect("hit");
        }
        let url = fixture.url.clone().expect("url");
        let today = now.div_euclid(DAY_MS);
        match backend {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&url).await.expect("connect");
                let days: Vec<(i64,)> = sqlx::query_as("SELECT day FROM visitor_salts")
                    .fetch_all(&mut conn)
                    .await
                    .expect("salts");
                assert_eq!(days, [(today,)]);
            }
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                let days: Vec<(i64,)> = sqlx::query_as("SELECT day FROM visitor_salts")
                    .fetch_all(&mut conn)
                    .await
                    .expect("salts");
                assert_eq!(days, [(today,)]);
            }
            _ => {
                let client = ::redis::Client::open(url.as_str()).expect("client");
                let mut conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("connect");
                let salts: Vec<String> = ::redis::cmd("KEYS")
                    .arg("tally:salt:*")
                    .query_async(&mut conn)
                    .await
                    .expect("keys");
                // Yesterday's expired 5 minutes into today, unless today is that young.
                assert!(salts.len() <= 2 && !salts.is_empty(), "{salts:?}");
                let key = format!("tally:salt:{}", tally::store::history::utc_date(today));
                let expires: i64 = ::redis::cmd("EXPIRETIME")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("EXPIRETIME");
                assert_eq!(expires, (today + 1) * 86_400 + 300, "{key}");
            }
        }
        store.close().await;
    }
}
