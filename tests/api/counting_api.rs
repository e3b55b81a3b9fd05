//! The counting API under `/api/v1` (the README's "Counting API" section), over HTTP against a
//! real server on a random port: names, owners and tokens, every route's answers and errors,
//! badges and the pixel, JSONP, CORS, the rate limit, metrics by route, and the raw stores
//! holding no token.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use tally::{
    config::{Config, RateLimit},
    store::{Backend, StoreSpec, TokenHash},
};

use crate::{
    client::{Body, Reply},
    helpers::{StoreFixture, TestApp, spawn_app},
};

const ADMIN: &str = "admin-token-for-the-tests";

fn config(store: StoreSpec) -> Config {
    let mut config = Config::with_store(store);
    config.admin_token = Some(TokenHash::of(ADMIN));
    config.rate_limit = None;
    config
}

async fn app() -> TestApp {
    spawn_app(config(StoreSpec::Memory)).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `POST /api/v1/counters/{ns}/{key}`; the reply and its admin token.
async fn create(app: &TestApp, path: &str, body: Body) -> (Reply, String) {
    let reply = app
        .request(Method::POST, &format!("/api/v1/counters/{path}"), &[], body)
        .await;
    let token = reply.json()["admin_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (reply, token)
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], code, "{}", reply.body);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        reply.body
    );
}

/// `PUT` of `value` with an optional `Authorization` header.
async fn put(app: &TestApp, path: &str, auth: Option<&str>, value: serde_json::Value) -> Reply {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
    app.request(Method::PUT, path, &headers, Body::Json(value))
        .await
}

fn assert_no_cache(reply: &Reply) {
    assert_eq!(
        reply.header("cache-control"),
        Some("no-cache, no-store, must-revalidate, max-age=0")
    );
    assert_eq!(reply.header("expires"), Some("0"));
}

#[tokio::test]
async fn create_returns_201_with_a_token_once_and_409_after() {
    let app = app().await;
    let (reply, token) = create(&app, "site.example/home", Body::Json(json!({"value": 5}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.header("location"),
        Some("/api/v1/counters/site.example/home")
    );
    let body = reply.json();
    assert_eq!(
        (&body["namespace"], &body["key"], &body["value"]),
        (&json!("site.example"), &json!("home"), &json!(5))
    );
    assert_eq!(token.len(), 43, "{token}");
    let (again, _) = create(&app, "site.example/home", Body::Empty).await;
    assert_error(&again, StatusCode::CONFLICT, "already_exists");
    let info = app.get("/api/v1/counters/site.example/home").await;
    assert_eq!(info.json()["value"], 5, "the second create changed nothing");
    assert!(!info.body.contains(&token), "{}", info.body);
}

#[tokio::test]
async fn create_without_a_body_or_with_empty_json_starts_at_zero() {
    let app = app().await;
    let (empty, _) = create(&app, "ns-a/no-body", Body::Empty).await;
    assert_eq!(empty.status, StatusCode::CREATED);
    assert_eq!(empty.json()["value"], 0);
    let (braces, _) = create(&app, "ns-a/braces", Body::Json(json!({}))).await;
    assert_eq!(braces.status, StatusCode::CREATED);
    assert_eq!(braces.json()["value"], 0);
}

#[tokio::test]
async fn bad_bodies_and_names_are_json_errors() {
    let app = app().await;
    for body in [
        json!({"value": -1}),
        json!({"value": "five"}),
        json!({"valeu": 5}),
        json!({"value": 9_223_372_036_854_775_808u64}),
    ] {
        let (reply, _) = create(&app, "ns-a/bad-body", Body::Json(body.clone())).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    let (not_json, _) = create(&app, "ns-a/bad-body", Body::Raw("{\"value\":".into())).await;
    assert_error(
        &not_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let broken = app
        .request(
            Method::POST,
            "/api/v1/counters/ns-a/bad-body",
            &[("content-type", "application/json")],
            Body::Raw("{\"value\":".into()),
        )
        .await;
    assert_error(&broken, StatusCode::BAD_REQUEST, "bad_request");
    let huge = format!("{{\"value\": 1, \"pad\": \"{}\"}}", "x".repeat(17 * 1024));
    let too_large = app
        .request(
            Method::POST,
            "/api/v1/counters/ns-a/bad-body",
            &[("content-type", "application/json")],
            Body::Raw(huge),
        )
        .await;
    assert_error(
        &too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    for path in [
        "ab/key",
        "ns-a/k",
        "ns-a/has:colon",
        &format!("ns-a/{}", "k".repeat(65)),
    ] {
        let reply = app.get(&format!("/api/v1/counters/{path}")).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    let missing = app.get("/api/v1/counters/ns-a/bad-body").await;
    assert_error(&missing, StatusCode::NOT_FOUND, "counter_not_found");
}

#[tokio::test]
async fn info_has_times_and_hit_creates_and_counts_without_caching() {
    let app = app().await;
    let hit = app
        .request(
            Method::POST,
            "/api/v1/counters/blog/post-1/hit",
            &[],
            Body::Empty,
        )
        .await;
    assert_eq!(hit.status, StatusCode::OK, "{}", hit.body);
    assert_eq!(hit.json(), json!({"value": 1}));
    assert_no_cache(&hit);
    let hit = app
        .request(
            Method::POST,
            "/api/v1/counters/blog/post-1/hit",
            &[],
            Body::Empty,
        )
        .await;
    assert_eq!(hit.json(), json!({"value": 2}));
    let info = app.get("/api/v1/counters/blog/post-1").await;
    assert_eq!(info.status, StatusCode::OK);
    let body = info.json();
    assert_eq!(body["value"], 2);
    for field in ["created_at", "updated_at"] {
        let time = body[field].as_str().expect(field);
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{field}: {time}"
        );
    }
}

#[tokio::test]
async fn set_add_and_delete_need_the_owner_or_the_admin() {
    let app = app().await;
    let (_, token) = create(&app, "shop/visits", Body::Json(json!({"value": 10}))).await;
    let path = "/api/v1/counters/shop/visits";
    let owner = bearer(&token);
    assert_error(
        &put(&app, path, None, json!({"value": 1})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &put(
            &app,
            path,
            Some("Bearer not-the-token"),
            json!({"value": 1}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let reply = put(&app, path, Some(&owner), json!({"value": 42})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({"value": 42, "old_value": 10}));
    let admin = bearer(ADMIN);
    let reply = put(&app, path, Some(&admin), json!({"value": 7})).await;
    assert_eq!(reply.json(), json!({"value": 7, "old_value": 42}));
    assert_error(
        &put(&app, path, Some(&owner), json!({"value": -3})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    let add = |amount: i64| {
        let (app, owner) = (&app, owner.clone());
        async move {
            app.request(
                Method::POST,
                "/api/v1/counters/shop/visits/add",
                &[("authorization", &owner)],
                Body::Json(json!({ "amount": amount })),
            )
            .await
        }
    };
    assert_eq!(add(5).await.json(), json!({"value": 12}));
    assert_eq!(add(-12).await.json(), json!({"value": 0}));
    assert_error(&add(-1).await, StatusCode::CONFLICT, "conflict");
    assert_eq!(
        add(0).await.json(),
        json!({"value": 0}),
        "0 changes nothing and answers the value"
    );
    assert_eq!(add(i64::MAX).await.json(), json!({"value": i64::MAX}));
    assert_error(&add(1).await, StatusCode::CONFLICT, "conflict");

    let delete = app
        .request(
            Method::DELETE,
            path,
            &[("authorization", &owner)],
            Body::Empty,
        )
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{}", delete.body);
    assert_error(
        &app.get(path).await,
        StatusCode::NOT_FOUND,
        "counter_not_found",
    );
    let again = app
        .request(
            Method::DELETE,
            path,
            &[("authorization", &owner)],
            Body::Empty,
        )
        .await;
    // Only the admin learns that the counter is gone; its former owner's token owns nothing.
    assert_error(&again, StatusCode::FORBIDDEN, "forbidden");
    assert_error(
        &put(&app, path, Some(&admin), json!({"value": 1})).await,
        StatusCode::NOT_FOUND,
        "counter_not_found",
    );
    assert_error(
        &put(&app, path, Some(&owner), json!({"value": 1})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn a_counter_made_by_a_hit_belongs_to_the_admin_only() {
    let app = app().await;
    app.request(
        Method::POST,
        "/api/v1/counters/free/for-all/hit",
        &[],
        Body::Empty,
    )
    .await;
    let (_, other) = create(&app, "free/someone-else", Body::Empty).await;
    let path = "/api/v1/counters/free/for-all";
    let reply = app
        .request(
            Method::PUT,
            path,
            &[("authorization", &bearer(&other))],
            Body::Json(json!({"value": 9})),
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    assert!(reply.body.contains("instance admin"), "{}", reply.body);
    let reply = app
        .request(
            Method::PUT,
            path,
            &[("authorization", &bearer(ADMIN))],
            Body::Json(json!({"value": 9})),
        )
        .await;
    assert_eq!(reply.json(), json!({"value": 9, "old_value": 1}));
}

#[tokio::test]
async fn listing_a_namespace_needs_the_admin_and_pages_by_key() {
    let app = app().await;
    for key in ["ccc", "aaa", "bbb", "ddd", "eee"] {
        app.request(
            Method::POST,
            &format!("/api/v1/counters/listed/{key}/hit"),
            &[],
            Body::Empty,
        )
        .await;
    }
    let admin = bearer(ADMIN);
    let list = |query: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.get_with(
                &format!("/api/v1/counters/listed{query}"),
                &[("authorization", &admin)],
            )
            .await
        }
    };
    let first = list("?limit=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        first.json(),
        json!({"counters": [
            {"namespace": "listed", "key": "aaa", "value": 1},
            {"namespace": "listed", "key": "bbb", "value": 1},
        ], "next_cursor": "bbb"})
    );
    let last = list("?limit=2&cursor=ddd").await;
    assert_eq!(last.json()["next_cursor"], json!(null));
    assert_eq!(last.json()["counters"][0]["key"], "eee");
    let all = list("").await;
    assert_eq!(all.json()["counters"].as_array().map(Vec::len), Some(5));
    for query in ["?limit=0", "?limit=1001", "?limit=x", "?cursor=a b"] {
        assert_error(&list(query).await, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_error(
        &app.get("/api/v1/counters/listed").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let wrong = app
        .get_with(
            "/api/v1/counters/listed",
            &[("authorization", "Bearer nope-nope-nope")],
        )
        .await;
    assert_error(&wrong, StatusCode::FORBIDDEN, "forbidden");

    let no_admin = spawn_app({
        let mut config = config(StoreSpec::Memory);
        config.admin_token = None;
        config
    })
    .await;
    let reply = no_admin
        .get_with(
            "/api/v1/counters/listed",
            &[("authorization", &bearer(ADMIN))],
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    assert!(reply.body.contains("ADMIN_TOKEN"), "{}", reply.body);
}

#[tokio::test]
async fn json_reads_honour_jsonp_callbacks() {
    let app = app().await;
    create(&app, "jsonp/counter", Body::Json(json!({"value": 3}))).await;
    let reply = app
        .get("/api/v1/counters/jsonp/counter?callback=show.count_1")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/javascript")),
        "{:?}",
        reply.header("content-type")
    );
    assert!(
        reply.body.starts_with("show.count_1({") && reply.body.ends_with("});"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("\"value\":3"), "{}", reply.body);
    for bad in ["alert(1)", "1abc", "a-b", "x%3Cscript%3E"] {
        let reply = app
            .get(&format!("/api/v1/counters/jsonp/counter?callback={bad}"))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[tokio::test]
async fn badges_count_unless_told_not_to_and_check_their_query() {
    let app = app().await;
    let badge = app
        .get("/api/v1/counters/readme/repo/badge.svg?label=views&color=green")
        .await;
    assert_eq!(badge.status, StatusCode::OK, "{}", badge.body);
    assert!(
        badge
            .header("content-type")
            .is_some_and(|t| t.starts_with("image/svg+xml"))
    );
    assert_no_cache(&badge);
    assert!(
        badge.body.starts_with("<svg") && badge.body.contains("views"),
        "{}",
        badge.body
    );
    assert!(badge.body.contains(">1<"), "{}", badge.body);
    let again = app
        .get("/api/v1/counters/readme/repo/badge.svg?style=for-the-badge")
        .await;
    assert!(again.body.contains(">2<"), "{}", again.body);
    let quiet = app
        .get("/api/v1/counters/readme/repo/badge.svg?count=false&color=%23ff5500")
        .await;
    assert!(quiet.body.contains(">2<"), "{}", quiet.body);
    assert!(
        quiet.body.to_ascii_lowercase().contains("#ff5500"),
        "{}",
        quiet.body
    );
    let unseen = app
        .get("/api/v1/counters/readme/unseen/badge.svg?count=false")
        .await;
    assert!(unseen.body.contains(">0<"), "{}", unseen.body);
    assert_error(
        &app.get("/api/v1/counters/readme/unseen").await,
        StatusCode::NOT_FOUND,
        "counter_not_found",
    );
    for query in [
        "color=purple",
        "style=plastic",
        "count=maybe",
        "color=%2312",
    ] {
        let reply = app
            .get(&format!("/api/v1/counters/readme/repo/badge.svg?{query}"))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(
        app.get("/api/v1/counters/readme/repo").await.json()["value"],
        2
    );
}

#[tokio::test]
async fn head_on_a_badge_or_the_pixel_is_refused_and_counts_nothing() {
    let app = app().await;
    for (key, image) in [("badge-head", "badge.svg"), ("pixel-head", "pixel.gif")] {
        let path = format!("/api/v1/counters/probe/{key}/{image}");
        let head = app.request(Method::HEAD, &path, &[], Body::Empty).await;
        assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(head.header("allow"), Some("GET"), "{path}");
    }
    for key in ["badge-head", "pixel-head"] {
        let info = app.get(&format!("/api/v1/counters/probe/{key}")).await;
        assert_error(&info, StatusCode::NOT_FOUND, "counter_not_found");
    }
}

#[tokio::test]
async fn the_pixel_counts_and_is_a_gif() {
    let app = app().await;
    let response = reqwest::get(app.url("/api/v1/counters/mail/opened/pixel.gif"))
        .await
        .expect("GET pixel");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/gif")
    );
    let bytes = response.bytes().await.expect("body");
    assert!(
        bytes.starts_with(b"GIF89a") && bytes.ends_with(&[0x3b]),
        "{bytes:?}"
    );
    assert_eq!(
        app.get("/api/v1/counters/mail/opened").await.json()["value"],
        1
    );
}

#[tokio::test]
async fn counting_routes_are_rate_limited_and_count_is_not() {
    let mut limited = config(StoreSpec::Memory);
    limited.rate_limit = RateLimit::new(3, Duration::from_secs(60));
    let app = spawn_app(limited).await;
    for n in 1..=3 {
        let hit = app
            .request(
                Method::POST,
                "/api/v1/counters/busy/page/hit",
                &[],
                Body::Empty,
            )
            .await;
        assert_eq!(hit.status, StatusCode::OK, "hit {n}: {}", hit.body);
        assert_eq!(hit.header("ratelimit-limit"), Some("3"));
    }
    let over = app.get("/api/v1/counters/busy/page/badge.svg").await;
    assert_error(&over, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        over.header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1))
    );
    let (create, _) = create(&app, "busy/other", Body::Empty).await;
    assert_error(&create, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let read = app.get("/api/v1/counters/busy/page").await;
    assert_eq!(read.status, StatusCode::OK, "reads are not limited");
    assert_eq!(
        read.json()["value"],
        3,
        "the refused requests counted nothing"
    );
    for _ in 0..5 {
        assert_eq!(
            app.count().await.status,
            StatusCode::OK,
            "/count is not limited"
        );
    }
}

#[tokio::test]
async fn any_origin_may_call_the_api_without_credentials() {
    let app = app().await;
    let preflight = app
        .request(
            Method::OPTIONS,
            "/api/v1/counters/cors/page/hit",
            &[
                ("origin", "https://blog.example"),
                ("access-control-request-method", "POST"),
            ],
            Body::Empty,
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert_eq!(preflight.header("access-control-allow-credentials"), None);
    let hit = app
        .request(
            Method::POST,
            "/api/v1/counters/cors/page/hit",
            &[("origin", "https://blog.example")],
            Body::Empty,
        )
        .await;
    assert_eq!(hit.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn unknown_routes_and_methods_under_the_api_are_json_errors() {
    let app = app().await;
    assert_error(
        &app.get("/api/v1/nothing/here").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let wrong = app
        .request(
            Method::PATCH,
            "/api/v1/counters/ns-a/key-a",
            &[],
            Body::Empty,
        )
        .await;
    assert_error(&wrong, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let get_hit = app.get("/api/v1/counters/ns-a/key-a/hit").await;
    assert_error(
        &get_hit,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn metrics_label_api_requests_by_route_template() {
    let app = app().await;
    app.request(
        Method::POST,
        "/api/v1/counters/metric/raw-path-1/hit",
        &[],
        Body::Empty,
    )
    .await;
    app.get("/api/v1/counters/metric/raw-path-2").await;
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics.contains("route=\"/api/v1/counters/{namespace}/{key}/hit\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/v1/counters/{namespace}/{key}\""),
        "{metrics}"
    );
    assert!(
        !metrics.contains("raw-path"),
        "raw paths leaked into labels"
    );
}

/// The token is shown once and stored nowhere in clear: the raw store holds its SHA-256 only.
async fn stores_keep_only_the_hash(backend: Backend) {
    let fixture = StoreFixture::new(backend).await;
    let app = spawn_app(config(fixture.spec.clone())).await;
    let (reply, token) = create(&app, "secret/counter", Body::Json(json!({"value": 1}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let dump: Vec<u8> = match backend {
        Backend::Postgres => {
            let url = fixture.url.clone().expect("postgres url");
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT row_to_json(c)::text, encode(c.owner_hash, 'hex') FROM counters c",
            )
            .fetch_all(&mut conn)
            .await
            .expect("read counters");
            assert!(rows.iter().any(|(_, owner)| owner == &hex), "{rows:?}");
            rows.into_iter()
                .flat_map(|(row, _)| row.into_bytes())
                .collect()
        }
        Backend::Redis => {
            let url = fixture.url.clone().expect("redis url");
            let client = redis::Client::open(url.as_str()).expect("client");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("*")
                .query_async(&mut conn)
                .await
                .expect("keys");
            let mut dump = Vec::new();
            let mut found_hash = false;
            for key in keys {
                // Every value as Redis gives it back (DUMP would compress long strings).
                let kind: String = redis::cmd("TYPE")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("type");
                let values: Vec<Vec<u8>> = match kind.as_str() {
                    "string" => vec![
                        redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut conn)
                            .await
                            .expect("get"),
                    ],
                    "hash" => redis::cmd("HGETALL")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                        .expect("hgetall"),
                    "zset" => redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async(&mut conn)
                        .await
                        .expect("zrange"),
                    other => panic!("unexpected key type {other} of {key}"),
                };
                for value in values {
                    found_hash |= value == hash;
                    dump.extend(value);
                }
                dump.extend(key.into_bytes());
            }
            assert!(found_hash, "the owner hash is stored");
            dump
        }
        Backend::Sqlite => {
            let url = fixture.url.clone().expect("sqlite url");
            let path = url.trim_start_matches("sqlite://");
            let dir = std::path::Path::new(path).parent().expect("dir");
            let mut dump = Vec::new();
            for entry in std::fs::read_dir(dir).expect("read dir") {
                dump.extend(std::fs::read(entry.expect("entry").path()).expect("read file"));
            }
            assert!(
                dump.windows(32).any(|w| w == hash),
                "the owner hash is stored"
            );
            dump
        }
        Backend::Memory => unreachable!("memory has no raw store to read"),
    };
    assert!(
        !dump.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is stored in clear ({backend})"
    );
}

#[tokio::test]
async fn postgres_keeps_only_the_token_hash() {
    stores_keep_only_the_hash(Backend::Postgres).await;
}

#[tokio::test]
async fn redis_keeps_only_the_token_hash() {
    stores_keep_only_the_hash(Backend::Redis).await;
}

#[tokio::test]
async fn sqlite_keeps_only_the_token_hash() {
    stores_keep_only_the_hash(Backend::Sqlite).await;
}

/// Without a token the answer is 401, whatever else is wrong with the request.
#[tokio::test]
async fn a_missing_token_is_401_before_anything_else_is_checked() {
    let app = app().await;
    let path = "/api/v1/counters/ordered/counter";
    let no_body = app.request(Method::PUT, path, &[], Body::Empty).await;
    assert_error(&no_body, StatusCode::UNAUTHORIZED, "unauthorized");
    let not_json = app
        .request(
            Method::POST,
            &format!("{path}/add"),
            &[("content-type", "text/plain")],
            Body::Raw("five".into()),
        )
        .await;
    assert_error(&not_json, StatusCode::UNAUTHORIZED, "unauthorized");
    let bad_limit = app.get("/api/v1/counters/ordered?limit=0").await;
    assert_error(&bad_limit, StatusCode::UNAUTHORIZED, "unauthorized");
}

/// tally's own counters cannot be created (and so owned) through the API: `409`, and
/// `/count` keeps counting them.
#[tokio::test]
async fn tallys_own_counters_cannot_be_taken_over() {
    let app = app().await;
    for own in ["default/visitor_count", "default/tick_count"] {
        let (reply, token) = create(&app, own, Body::Json(json!({"value": 999}))).await;
        assert_error(&reply, StatusCode::CONFLICT, "already_exists");
        assert!(token.is_empty(), "no token for {own}");
    }
    assert_eq!(crate::helpers::visitor_count(&app.count().await), 1);
}
