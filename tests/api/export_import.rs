//! `GET /api/v1/export`, `POST /api/v1/import` and `GET /api/v1/stats`, against tally served
//! in-process: what the README's "Export and import" section promises. The line format and
//! the line splitting are unit-tested beside the code (src/web/api/counter_line.rs,
//! line_splitter.rs), and so is the stats cache (stats.rs).

use std::{sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tally::{
    config::Config,
    metrics::Metrics,
    store::{self, Backend, StoreSpec, TokenHash},
    web::{self, AppParts, AppState, StatsCache},
};

use crate::{
    client::{Body, Http, Reply},
    helpers::{StoreFixture, TestApp, redis_info, spawn_app, spawn_app_for, spawn_app_for_with},
    servers::RedisServer,
};

const ADMIN: &str = "the-instance-admin-token";
const BEARER: &str = "Bearer the-instance-admin-token";

/// tally over a fresh store of `backend`, with an admin and no rate limit.
async fn admin_app(backend: Backend) -> (TestApp, StoreFixture) {
    admin_app_with(backend, |_| {}).await
}

async fn admin_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> (TestApp, StoreFixture) {
    spawn_app_for_with(backend, |config| {
        config.admin_token = Some(TokenHash::of(ADMIN));
        config.rate_limit = None;
        configure(config);
    })
    .await
}

/// The whole export, checked to be a 200 of NDJSON.
async fn export(app: &Http) -> String {
    let reply = app
        .get_with("/api/v1/export", &[("authorization", BEARER)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    reply.body
}

async fn import(app: &Http, body: &str) -> Reply {
    app.request(
        Method::POST,
        "/api/v1/import",
        &[
            ("authorization", BEARER),
            ("content-type", "application/x-ndjson"),
        ],
        Body::Raw(body.to_owned()),
    )
    .await
}

/// An import line with only the required fields.
fn line(namespace: &str, key: &str, value: i64) -> String {
    json!({ "namespace": namespace, "key": key, "value": value }).to_string()
}

/// `namespace/key` of each line of an export.
fn names(export: &str) -> Vec<String> {
    export
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).expect("a line is JSON");
            format!(
                "{}/{}",
                line["namespace"].as_str().expect("namespace"),
                line["key"].as_str().expect("key")
            )
        })
        .collect()
}

fn hex(hash: &TokenHash) -> String {
    hash.0.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Counters of every kind: created with an owner, created by hits, imported with old times,
/// an owner hash and their own rules, and one at the largest value. Returns the owner token
/// of `site/home`.
async fn fill(app: &TestApp) -> String {
    let created = app
        .send_json(
            Method::POST,
            "/api/v1/counters/site/home",
            json!({ "value": 5 }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.json()["admin_token"]
        .as_str()
        .expect("an owner token")
        .to_owned();
    for _ in 0..3 {
        let hit = app
            .request(
                Method::POST,
                "/api/v1/counters/site/about/hit",
                &[],
                Body::Empty,
            )
            .await;
        assert_eq!(hit.status, StatusCode::OK, "{}", hit.body);
    }
    let lines = [
        json!({
            "namespace": "archive", "key": "page-1", "value": 123,
            "created_at": "2020-01-02T03:04:05.678Z", "updated_at": "2021-06-07T08:09:10.111Z",
            "owner_hash": hex(&TokenHash::of("another owner")),
            "enable_reset": true, "update_lowerbound": -5, "update_upperbound": 10,
        }),
        json!({
            "namespace": "archive", "key": "page-2", "value": 0,
            "created_at": "1999-12-31T23:59:59.999Z", "updated_at": "1999-12-31T23:59:59.999Z",
            "owner_hash": null,
            "enable_reset": false, "update_lowerbound": 0, "update_upperbound": 0,
        }),
        json!({ "namespace": "zeta", "key": "largest", "value": i64::MAX }),
    ];
    let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let reply = import(app, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "imported": 3 }));
    token
}

/// Exports `from`, imports into a fresh `to`: the same export, the same `info` for every
/// counter, and the owner's token still owns its counter.
async fn round_trip(from: Backend, to: Backend) {
    let (source, _source_store) = admin_app(from).await;
    let token = fill(&source).await;
    let exported = export(&source).await;
    assert_eq!(
        names(&exported),
        [
            "archive/page-1",
            "archive/page-2",
            "site/about",
            "site/home",
            "zeta/largest"
        ]
    );
    assert!(exported.ends_with('\n'));
    let lines: Vec<Value> = exported
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let keys: Vec<&str> = lines[0]
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut documented = [
        "namespace",
        "key",
        "value",
        "created_at",
        "updated_at",
        "owner_hash",
        "enable_reset",
        "update_lowerbound",
        "update_upperbound",
    ];
    documented.sort_unstable();
    assert_eq!(keys, documented);
    assert_eq!(
        exported.lines().next(),
        Some(
            format!(
                r#"{{"namespace":"archive","key":"page-1","value":123,"created_at":"2020-01-02T03:04:05.678Z","updated_at":"2021-06-07T08:09:10.111Z","owner_hash":"{}","enable_reset":true,"update_lowerbound":-5,"update_upperbound":10}}"#,
                hex(&TokenHash::of("another owner"))
            )
            .as_str()
        ),
        "fields in the documented order"
    );
    let (about, home) = (&lines[2], &lines[3]);
    assert_eq!(about["owner_hash"], Value::Null);
    assert_eq!(
        (
            &about["enable_reset"],
            &about["update_lowerbound"],
            &about["update_upperbound"]
        ),
        (&json!(false), &json!(0), &json!(1)),
        "a counter created by a hit has the hit rules"
    );
    assert_eq!(home["owner_hash"], json!(hex(&TokenHash::of(&token))));
    assert_eq!(
        home["update_lowerbound"],
        json!(0),
        "only +1 without a token"
    );
    assert!(!exported.contains(&token), "never a token");

    let (target, _target_store) = admin_app(to).await;
    let reply = import(&target, &exported).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "imported": 5 }));
    assert_eq!(export(&target).await, exported);
    for name in names(&exported) {
        let path = format!("/api/v1/counters/{name}");
        let (before, after) = (source.get(&path).await, target.get(&path).await);
        assert_eq!(before.status, StatusCode::OK, "{name}: {}", before.body);
        assert_eq!(after.status, StatusCode::OK, "{name}: {}", after.body);
        assert_eq!(after.json(), before.json(), "{name}");
    }
    let owner = format!("Bearer {token}");
    let set = target
        .request(
            Method::PUT,
            "/api/v1/counters/site/home",
            &[("authorization", &owner)],
            Body::Json(json!({ "value": 9 })),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    source.stop().await.expect("graceful stop");
    target.stop().await.expect("graceful stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_from_memory_into_sqlite_gives_the_same_counters() {
    round_trip(Backend::Memory, Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_from_postgres_into_redis_gives_the_same_counters() {
    round_trip(Backend::Postgres, Backend::Redis).await;
}

/// An import sets counters: importing an export again, after its counters changed (and one
/// was deleted), gives what the first import gave.
#[tokio::test]
async fn importing_twice_is_importing_once() {
    let (app, _store) = admin_app(Backend::Sqlite).await;
    let owner = hex(&TokenHash::of("the owner of two"));
    let body = [
        json!({
            "namespace": "again", "key": "one", "value": 1,
            "created_at": "2021-01-01T01:01:01.111Z", "updated_at": "2021-01-01T01:01:01.111Z",
            "owner_hash": null, "enable_reset": false, "update_lowerbound": 0, "update_upperbound": 1,
        }),
        json!({
            "namespace": "again", "key": "two", "value": 2,
            "created_at": "2022-02-02T02:02:02.222Z", "updated_at": "2023-03-03T03:03:03.333Z",
            "owner_hash": owner, "enable_reset": true, "update_lowerbound": -1, "update_upperbound": 1,
        }),
    ]
    .map(|line| format!("{line}\n"))
    .concat();
    let first = import(&app, &body).await;
    assert_eq!(first.json(), json!({ "imported": 2 }));
    let once = export(&app).await;
    let parsed = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).expect("JSON"))
            .collect()
    };
    assert_eq!(
        parsed(&once),
        parsed(&body),
        "a full line is imported as it is"
    );
    let hit = app
        .request(
            Method::POST,
            "/api/v1/counters/again/one/hit",
            &[],
            Body::Empty,
        )
        .await;
    assert_eq!(hit.json(), json!({ "value": 2 }));
    let deleted = app
        .request(
            Method::DELETE,
            "/api/v1/counters/again/two",
            &[("authorization", BEARER)],
            Body::Empty,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let second = import(&app, &body).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.json(), json!({ "imported": 2 }));
    assert_eq!(export(&app).await, once);

    // A line without times takes the import's time, each time; its value and rules are set.
    let timeless = line("again", "three", 3);
    assert_eq!(
        import(&app, &timeless).await.json(),
        json!({ "imported": 1 })
    );
    app.request(
        Method::POST,
        "/api/v1/counters/again/three/hit",
        &[],
        Body::Empty,
    )
    .await;
    assert_eq!(
        import(&app, &timeless).await.json(),
        json!({ "imported": 1 })
    );
    let three = app.get("/api/v1/counters/again/three").await;
    assert_eq!(three.json()["value"], 3);
}

/// The first bad line stops the import with a 400 naming it (blank lines count); the lines
/// before it are applied, the ones after are not.
#[tokio::test]
async fn a_malformed_line_stops_the_import_naming_it_with_the_lines_before_applied() {
    let (app, _store) = admin_app(Backend::Sqlite).await;
    let mut lines: Vec<String> = (1..=6)
        .map(|n| line("bulk", &format!("key-{n}"), n))
        .collect();
    lines.push(r#"{"namespace":"bulk","key":"key-7","value":"#.to_owned());
    lines.push(line("bulk", "key-8", 8));
    let reply = import(&app, &lines.join("\n")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], "bad_request");
    assert_eq!(body["imported"], 6);
    let message = body["message"].as_str().expect("a message");
    assert!(message.starts_with("line 7: "), "{message}");
    assert_eq!(
        names(&export(&app).await),
        (1..=6).map(|n| format!("bulk/key-{n}")).collect::<Vec<_>>()
    );

    let blank_then_negative = [
        line("other", "first", 1),
        String::new(),
        line("other", "negative", -1),
        line("other", "after", 1),
    ]
    .join("\r\n");
    let reply = import(&app, &blank_then_negative).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["imported"], 1);
    let message = body["message"].as_str().expect("a message");
    assert!(message.starts_with("line 3: value is 0 to"), "{message}");

    let too_long = format!("{}\n{}\n", line("other", "fine", 1), "x".repeat(70_000));
    let reply = import(&app, &too_long).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["imported"], 1);
    let message = body["message"].as_str().expect("a message");
    assert!(
        message.starts_with("line 2: longer than 65536 bytes"),
        "{message}"
    );
    assert_eq!(
        names(&export(&app).await),
        [
            "bulk/key-1",
            "bulk/key-2",
            "bulk/key-3",
            "bulk/key-4",
            "bulk/key-5",
            "bulk/key-6",
            "other/fine",
            "other/first"
        ]
    );
}

/// A body that starts with `[` is a JSON array of counters, read whole up to 16 KiB.
#[tokio::test]
async fn a_json_array_imports_too_up_to_16_kib() {
    let (app, _store) = admin_app(Backend::Memory).await;
    let array = r#"
        [{"namespace": "array", "key": "one", "value": 5},
         {"namespace": "array", "key": "two", "value": 7, "owner_hash": null,
          "created_at": "2024-05-01T12:00:00.000Z"}]"#;
    let reply = import(&app, array).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "imported": 2 }));
    let exported = export(&app).await;
    let lines: Vec<Value> = exported
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["value"], 5);
    assert_eq!(lines[0]["owner_hash"], Value::Null);
    assert_eq!(lines[0]["update_upperbound"], 1);
    assert_eq!(lines[1]["created_at"], "2024-05-01T12:00:00.000Z");

    let bad_item = r#"[{"namespace": "array", "key": "three", "value": 3},
                       {"namespace": "array", "key": "x", "value": 4}]"#;
    let reply = import(&app, bad_item).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.json()["imported"], 1);
    let message = reply.json()["message"].to_string();
    assert!(message.contains("item 2: a key has 3 to 64"), "{message}");

    let items: Vec<Value> = (0..400)
        .map(|n| json!({ "namespace": "array", "key": format!("big-{n:03}"), "value": n }))
        .collect();
    let big = serde_json::to_string(&items).expect("JSON");
    assert!(big.len() > 16 * 1024);
    let reply = import(&app, &big).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.json()["error"], "payload_too_large");
    assert_eq!(reply.json()["imported"], 0);
    assert!(reply.body.contains("NDJSON"), "{}", reply.body);
    assert_eq!(names(&export(&app).await).len(), 3);
}

/// Past `IMPORT_LIMIT` the import stops with a 413; the lines that ended within the limit are
/// applied.
#[tokio::test]
async fn a_body_over_import_limit_is_413_with_the_lines_within_it_applied() {
    let (app, _store) = admin_app_with(Backend::Memory, |config| config.import_limit = 1000).await;
    let body: String = (0..40)
        .map(|n| format!("{}\n", line("limited", &format!("key-{n:02}"), n)))
        .collect();
    assert!(body.len() > 1000);
    let within = body.as_bytes()[..1000]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count();
    let reply = import(&app, &body).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    let answer = reply.json();
    assert_eq!(answer["error"], "payload_too_large");
    assert_eq!(answer["imported"], within);
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|message| message.contains("IMPORT_LIMIT (1000 bytes)")),
        "{answer}"
    );
    assert_eq!(names(&export(&app).await).len(), within);

    let fits = &body[..body[..1000].rfind('\n').expect("a line") + 1];
    let reply = import(&app, fits).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "imported": within }));
}

/// An import that stops early is answered to a client that sends its whole body before it
/// reads anything (many clients do): the server reads and drops the rest of the body instead
/// of closing the connection under it.
#[tokio::test]
async fn a_stopped_import_is_answered_to_clients_that_send_the_whole_body_first() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (app, _store) = admin_app(Backend::Memory).await;
    let mut body = format!("{}\n{{not json\n", line("early", "first", 1));
    while body.len() < 8 << 20 {
        body.push_str(&line("early", "later", 2));
        body.push('\n');
    }
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/import HTTP/1.1\r\nhost: {address}\r\nauthorization: {BEARER}\r\n\
         content-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    stream
        .write_all(body.as_bytes())
        .await
        .expect("the whole body is taken");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains(r#""imported":1"#), "{answer}");
    assert!(answer.contains("line 2: "), "{answer}");
}

/// 5,000 counters leave as a stream of pages, in order, every line whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_5000_counters_is_streamed_in_pages_in_order() {
    let (app, _store) = admin_app(Backend::Sqlite).await;
    // Shuffled: the key of line n is a permutation of 0..5000 (7919 is prime to 5000).
    let mut expected: Vec<String> = Vec::new();
    let body: String = (0..5000)
        .map(|n| {
            let (namespace, key) = (
                format!("ns-{}", n % 7),
                format!("key-{:04}", n * 7919 % 5000),
            );
            expected.push(format!("{namespace}/{key}"));
            format!("{}\n", line(&namespace, &key, n))
        })
        .collect();
    let reply = import(&app, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "imported": 5000 }));
    expected.sort();

    let mut response = app
        .client
        .get(app.url("/api/v1/export"))
        .header("authorization", BEARER)
        .send()
        .await
        .expect("the export answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), None, "streamed, not sized first");
    assert_eq!(
        response
            .headers()
            .get("transfer-encoding")
            .and_then(|value| value.to_str().ok()),
        Some("chunked")
    );
    let mut chunks = 0;
    let mut exported = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("a whole body") {
        chunks += 1;
        exported.extend_from_slice(&chunk);
    }
    assert!(chunks >= 10, "one chunk or more per page of 500: {chunks}");
    let exported = String::from_utf8(exported).expect("UTF-8");
    assert!(exported.ends_with('\n'));
    assert_eq!(names(&exported), expected);
}

/// A store that fails during an export ends the body as a broken transfer, not a clean end,
/// so a client cannot take a truncated export for a whole one.
#[tokio::test]
async fn a_store_failure_during_an_export_breaks_the_transfer() {
    let server = RedisServer::start();
    let mut config = Config::with_store(StoreSpec::Redis(redis_info(&server.url())));
    config.admin_token = Some(TokenHash::of(ADMIN));
    config.store_timeout = Duration::from_millis(500);
    let app = spawn_app(config).await;
    let body: String = (0..10)
        .map(|n| format!("{}\n", line("broken", &format!("key-{n}"), n)))
        .collect();
    assert_eq!(import(&app, &body).await.json(), json!({ "imported": 10 }));
    server.pause();
    let response = app
        .client
        .get(app.url("/api/v1/export"))
        .header("authorization", BEARER)
        .send()
        .await;
    let outcome = match response {
        Ok(response) => {
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.map(|bytes| bytes.len())
        }
        Err(err) => Err(err),
    };
    server.resume();
    assert!(outcome.is_err(), "the body ended cleanly: {outcome:?}");
    assert_eq!(names(&export(&app).await).len(), 10);
}

/// While the store is down, the requests that queued behind a failed count get its failure at
/// once instead of each counting again: one walk, whatever the number of requests.
#[tokio::test]
async fn stats_do_not_pile_up_walks_while_the_store_is_down() {
    let server = RedisServer::start();
    let mut config = Config::with_store(StoreSpec::Redis(redis_info(&server.url())));
    config.store_timeout = Duration::from_millis(300);
    let app = spawn_app(config).await;
    server.pause();
    let scans = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find(|line| {
                line.starts_with(r#"store_operations_total{backend="redis",operation="scan"}"#)
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|count| count.parse().ok())
            .unwrap_or(0)
    };
    let requests: Vec<_> = (0..5)
        .map(|_| {
            let http = app.http.clone();
            tokio::spawn(async move { http.get("/api/v1/stats").await })
        })
        .collect();
    for request in requests {
        let reply = request.await.expect("task");
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(reply.header("retry-after").is_some());
    }
    let after_burst = scans(&app.get("/metrics").await.body);
    let again = app.get("/api/v1/stats").await;
    assert_eq!(again.status, StatusCode::SERVICE_UNAVAILABLE);
    let metrics = app.get("/metrics").await.body;
    server.resume();
    assert_eq!(after_burst, 1, "five requests, one walk: {metrics}");
    assert_eq!(
        scans(&metrics),
        1,
        "a request within the backoff walks nothing"
    );
}

/// `stats` counts counters, namespaces and hits (the sum of the values), for anyone, and
/// keeps its answer for a while.
async fn stats_count_counters_namespaces_and_hits(backend: Backend) {
    let (app, _store) = admin_app(backend).await;
    let body = [
        line("alpha", "a-1", 1),
        line("alpha", "a-2", 2),
        line("beta", "b-1", 10),
        line("gamma", "g-1", 0),
    ]
    .join("\n");
    assert_eq!(import(&app, &body).await.json(), json!({ "imported": 4 }));
    let stats = app.get("/api/v1/stats").await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    let expected = json!({ "counters": 4, "namespaces": 3, "hits": 13 });
    assert_eq!(stats.json(), expected);
    let hit = app
        .request(
            Method::POST,
            "/api/v1/counters/delta/d-1/hit",
            &[],
            Body::Empty,
        )
        .await;
    assert_eq!(hit.status, StatusCode::OK, "{}", hit.body);
    assert_eq!(
        app.get("/api/v1/stats").await.json(),
        expected,
        "kept for {} s",
        web::STATS_TTL.as_secs()
    );
    let jsonp = app.get("/api/v1/stats?callback=show").await;
    assert_eq!(jsonp.body, format!("show({expected});"));
    app.stop().await.expect("graceful stop");
}

#[tokio::test]
async fn stats_count_counters_namespaces_and_hits_in_memory() {
    stats_count_counters_namespaces_and_hits(Backend::Memory).await;
}

#[tokio::test]
async fn stats_count_counters_namespaces_and_hits_in_redis() {
    stats_count_counters_namespaces_and_hits(Backend::Redis).await;
}

/// Export and import answer as the API's other admin routes: 401 without a token, 403 with
/// a wrong one or when the server has no `ADMIN_TOKEN`, each with a JSON error; a refused
/// import applies nothing.
#[tokio::test]
async fn export_and_import_need_the_admin_token() {
    let (app, _store) = admin_app(Backend::Memory).await;
    let body = line("refused", "key", 1);
    for (method, path) in [
        (Method::GET, "/api/v1/export"),
        (Method::POST, "/api/v1/import"),
    ] {
        for (headers, status, error) in [
            (&[][..], StatusCode::UNAUTHORIZED, "unauthorized"),
            (
                &[("authorization", "Bearer not-the-admin-token")][..],
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            (
                &[("authorization", "Basic dGhlLWluc3RhbmNl")][..],
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
        ] {
            let reply = app
                .request(method.clone(), path, headers, Body::Raw(body.clone()))
                .await;
            assert_eq!(
                reply.status, status,
                "{method} {path} {headers:?}: {}",
                reply.body
            );
            assert_eq!(reply.json()["error"], error);
            assert!(reply.json().get("imported").is_none());
        }
    }
    assert_eq!(export(&app).await, "");
    assert_eq!(
        app.get("/api/v1/stats").await.status,
        StatusCode::OK,
        "stats are public"
    );

    let (no_admin, _store) = spawn_app_for(Backend::Memory).await;
    for (method, path) in [
        (Method::GET, "/api/v1/export"),
        (Method::POST, "/api/v1/import"),
    ] {
        let reply = no_admin
            .request(
                method,
                path,
                &[("authorization", BEARER)],
                Body::Raw(body.clone()),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            reply.body
        );
        let message = reply.json()["message"].to_string();
        assert!(message.contains("ADMIN_TOKEN is not set"), "{message}");
    }
}

/// An import is not cut by the request deadline: it may take minutes. Here the deadline is
/// 200 ms and the body takes about a second to arrive.
#[tokio::test]
async fn an_import_outlives_the_request_deadline() {
    use futures::StreamExt;
    use tower::ServiceExt;

    let state = AppState::new(AppParts {
        store: store::open(&StoreSpec::Memory, Duration::from_secs(2)).expect("memory store"),
        greeter: None,
        metrics: Arc::new(Metrics::new()),
        admin: Some(TokenHash::of(ADMIN)),
        limiter: None,
        trusted_proxies: Default::default(),
        import_limit: 1 << 20,
        stats: StatsCache::default(),
        job_lease: tally::config::DEFAULT_JOB_LEASE,
        shutdown: tally::web::Shutdown::default(),
    });
    let router = web::router(state, Duration::from_millis(200));
    let chunks = futures::stream::iter(0..5).then(|n| async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok::<_, std::io::Error>(format!("{}\n", line("slow", &format!("key-{n}"), n)))
    });
    let request = axum::http::Request::post("/api/v1/import")
        .header("authorization", BEARER)
        .body(axum::body::Body::from_stream(chunks))
        .expect("valid request");
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(response.status().as_u16(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body, json!({ "imported": 5 }));
}

/// An import with no body at all is a mistake (a forgotten `--data-binary`), answered 400.
#[tokio::test]
async fn an_import_without_a_body_is_400() {
    let (app, _store) = admin_app(Backend::Memory).await;
    let reply = import(&app, "").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.json()["error"], "bad_request");
    assert!(reply.body.contains("empty"), "{}", reply.body);
}
