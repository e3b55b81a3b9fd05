//! The CountAPI- and Abacus-compatible routes (the README's "Compatible routes"), over HTTP
//! against a real server: every route's answers with their exact statuses and bodies,
//! `X-Path`, the placeholders, CountAPI's set and update rules, Abacus's admin keys (stored
//! as their hash only), JSONP, the cache headers, `HEAD`, CORS and the rate limit; then a
//! CountAPI client's and an Abacus client's usual sequences against PostgreSQL.
//!
//! Most tests use the memory store with the rate limit off, each on its own app, so no test
//! sees another's counters or budget.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tally::{
    config::{Config, RateLimit},
    store::{Backend, CounterName, StoreSpec, TokenHash},
};

use crate::{
    client::{Body, Reply},
    helpers::{TestApp, spawn_app, spawn_app_for},
};

/// The instance's `ADMIN_TOKEN` in these tests.
const ADMIN: &str = "compat-admin-token-0123456789";

const TOKEN_REQUIRED: &str = "Token is required, please provide a token in the format of a Bearer token header or ?token=ADMIN_TOKEN";
const GENUINE: &str = "This entry is genuine and does not have an admin key: only the instance's ADMIN_TOKEN may change it. Counters created with /create get an admin key.";
const VALUE_REQUIRED: &str =
    "value is required, please provide a number in the fmt of ?value=NEW_VALUE";
const NO_CACHE: &str = "no-cache, no-store, must-revalidate, max-age=0";

/// A fresh app over the memory store, with `ADMIN` as the admin token and no rate limit.
async fn app() -> TestApp {
    let mut config = Config::with_store(StoreSpec::Memory);
    config.admin_token = Some(TokenHash::of(ADMIN));
    config.rate_limit = None;
    spawn_app(config).await
}

/// Checks a JSON answer: its status, its content type and its whole body.
#[track_caller]
fn assert_json(reply: &Reply, status: u16, body: Value) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{}",
        reply.body
    );
    assert_eq!(reply.json(), body);
}

#[track_caller]
fn assert_no_cache(reply: &Reply) {
    assert_eq!(reply.header("cache-control"), Some(NO_CACHE));
    assert_eq!(reply.header("expires"), Some("0"));
}

#[track_caller]
fn assert_cacheable(reply: &Reply) {
    assert_eq!(reply.header("cache-control"), None);
}

async fn post(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    app.request(Method::POST, path, headers, Body::Empty).await
}

/// `callback(body);` split into the callback and the body as JSON.
#[track_caller]
fn jsonp(reply: &Reply) -> (String, Value) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    let (callback, rest) = reply.body.split_once('(').expect("a call");
    let body = rest.strip_suffix(");").expect("ends with );");
    (
        callback.to_owned(),
        serde_json::from_str(body).expect("JSON inside"),
    )
}

/// Creates `path` through Abacus's `/create`, returning the admin key.
async fn abacus_create(app: &TestApp, path: &str) -> String {
    let reply = post(app, &format!("/create/{path}"), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()["admin_key"]
        .as_str()
        .expect("an admin_key")
        .to_owned()
}

// --- CountAPI ---------------------------------------------------------------------------

#[tokio::test]
async fn hit_counts_creating_the_counter_with_x_path_and_no_cache() {
    let app = app().await;
    for value in 1..=2 {
        let reply = app.get("/hit/site.example/home").await;
        assert_json(&reply, 200, json!({ "value": value }));
        assert_eq!(reply.header("x-path"), Some("site.example/home"));
        assert_no_cache(&reply);
    }
    let reply = app.get("/hit/visits").await;
    assert_json(&reply, 200, json!({ "value": 1 }));
    assert_eq!(reply.header("x-path"), Some("default/visits"));
    assert_no_cache(&reply);
    // The default namespace is /count's: `/hit/visitor_count` counts the same visits.
    app.get("/hit/visitor_count").await;
    assert_eq!(app.count().await.body, "Visitor count: 2");
}

#[tokio::test]
async fn get_answers_the_value_or_404_with_both_services_bodies() {
    let app = app().await;
    let reply = app.get("/get/site.example/home").await;
    assert_json(
        &reply,
        404,
        json!({ "value": null, "error": "Key not found" }),
    );
    assert_eq!(reply.header("x-path"), Some("site.example/home"));
    app.get("/hit/site.example/home").await;
    let reply = app.get("/get/site.example/home").await;
    assert_json(&reply, 200, json!({ "value": 1 }));
    assert_eq!(reply.header("x-path"), Some("site.example/home"));
    assert_cacheable(&reply);
    // Reading twice does not count.
    assert_json(
        &app.get("/get/site.example/home").await,
        200,
        json!({ "value": 1 }),
    );
    app.get("/hit/visits").await;
    let reply = app.get("/get/visits").await;
    assert_json(&reply, 200, json!({ "value": 1 }));
    assert_eq!(reply.header("x-path"), Some("default/visits"));
    assert_json(
        &app.get("/get/nothing").await,
        404,
        json!({ "value": null, "error": "Key not found" }),
    );
}

#[tokio::test]
async fn malformed_names_are_400_with_countapis_text_and_no_x_path() {
    let app = app().await;
    let long = "k".repeat(65);
    for path in [
        "/hit/ab".to_owned(),
        "/hit/site.example/a%20b".to_owned(),
        format!("/hit/site.example/{long}"),
        "/get/ns/bad:key".to_owned(),
        "/get/xy".to_owned(),
        "/set/ns/ab?value=1".to_owned(),
        "/update/ns/ab?amount=1".to_owned(),
        "/info/ns/ab".to_owned(),
        "/info/%C3%A9t%C3%A9".to_owned(),
        "/create?key=ab".to_owned(),
        "/create?namespace=a/b".to_owned(),
    ] {
        let reply = app.get(&path).await;
        assert_json(&reply, 400, json!({ "error": "Malformed Namespace/Key" }));
        assert_eq!(reply.header("x-path"), None, "{path}");
    }
}

#[tokio::test]
async fn create_makes_a_counter_with_countapis_defaults_or_the_given_rules() {
    let app = app().await;
    let reply = app.get("/create").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_no_cache(&reply);
    let body = reply.json();
    let key = body["key"].as_str().expect("a key").to_owned();
    let uuid = uuid::Uuid::parse_str(&key).expect("a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(key, uuid.hyphenated().to_string());
    assert_eq!(
        body,
        json!({ "namespace": "default", "key": key, "value": 0 })
    );
    assert_eq!(
        reply.header("x-path"),
        Some(format!("default/{key}").as_str())
    );
    let info = app.get(&format!("/info/{key}")).await.json();
    assert_eq!(
        (
            &info["enable_reset"],
            &info["update_lowerbound"],
            &info["update_upperbound"]
        ),
        (&json!(false), &json!(-1), &json!(1))
    );
    let other = app.get("/create").await.json();
    assert_ne!(other["key"], body["key"]);

    let query = "namespace=site.example&key=votes&value=10&enable_reset=1\
                 &update_lowerbound=-2&update_upperbound=2&expiration=60";
    let reply = app.get(&format!("/create?{query}")).await;
    assert_json(
        &reply,
        200,
        json!({ "namespace": "site.example", "key": "votes", "value": 10 }),
    );
    assert_eq!(reply.header("x-path"), Some("site.example/votes"));
    let info = app.get("/info/site.example/votes").await.json();
    assert_eq!(
        (
            &info["value"],
            &info["enable_reset"],
            &info["update_lowerbound"],
            &info["update_upperbound"]
        ),
        (&json!(10), &json!(true), &json!(-2), &json!(2))
    );
    // `enable_reset=true`, as the JavaScript client sent it, is on too.
    let reply = app.get("/create?key=flags&enable_reset=true").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        app.get("/info/flags").await.json()["enable_reset"],
        json!(true)
    );

    let reply = app.get(&format!("/create?{query}")).await;
    assert_json(
        &reply,
        409,
        json!({ "namespace": null, "key": null, "value": null }),
    );
    assert_eq!(reply.header("x-path"), Some("site.example/votes"));
    assert_no_cache(&reply);
}

#[tokio::test]
async fn create_refuses_bad_rules_with_countapis_texts() {
    let app = app().await;
    let cases = [
        ("update_upperbound=-1", "update_upperbound must be positive"),
        ("update_lowerbound=1", "update_lowerbound must be negative"),
        (
            "update_lowerbound=x",
            "update_lowerbound must be an integer",
        ),
        (
            "update_upperbound=1.5",
            "update_upperbound must be an integer",
        ),
        ("enable_reset=maybe", "enable_reset must be 0 or 1"),
        (
            "value=-5",
            "value must be an integer from 0 to 9223372036854775807",
        ),
        (
            "value=ten",
            "value must be an integer from 0 to 9223372036854775807",
        ),
    ];
    for (query, error) in cases {
        let reply = app.get(&format!("/create?key=rules&{query}")).await;
        assert_json(&reply, 400, json!({ "error": error }));
    }
    // Nothing was created by the refusals.
    assert_eq!(app.get("/get/rules").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn set_works_only_on_counters_created_with_enable_reset() {
    let app = app().await;
    app.get("/create?namespace=site.example&key=resettable&value=42&enable_reset=1")
        .await;
    let reply = app.get("/set/site.example/resettable?value=69").await;
    assert_json(&reply, 200, json!({ "old_value": 42, "value": 69 }));
    assert_eq!(reply.header("x-path"), Some("site.example/resettable"));
    assert_no_cache(&reply);
    assert_json(
        &app.get("/get/site.example/resettable").await,
        200,
        json!({ "value": 69 }),
    );

    // Created by a hit, or by /create without enable_reset: 403 with the value as it stays.
    app.get("/hit/site.example/hits").await;
    let reply = app.get("/set/site.example/hits?value=1000").await;
    assert_json(&reply, 403, json!({ "old_value": 1, "value": 1 }));
    assert_eq!(reply.header("x-path"), Some("site.example/hits"));
    app.get("/create?key=fixed&value=7").await;
    assert_json(
        &app.get("/set/fixed?value=0").await,
        403,
        json!({ "old_value": 7, "value": 7 }),
    );

    let reply = app.get("/set/site.example/nothing?value=1").await;
    assert_json(&reply, 404, json!({ "old_value": null, "value": null }));
    assert_eq!(reply.header("x-path"), Some("site.example/nothing"));

    app.get("/create?key=plain&enable_reset=1").await;
    let reply = app.get("/set/plain?value=5").await;
    assert_json(&reply, 200, json!({ "old_value": 0, "value": 5 }));
    assert_eq!(reply.header("x-path"), Some("default/plain"));
    for (query, error) in [
        ("", "value is required"),
        ("value=", "value is required"),
        (
            "value=-1",
            "value must be an integer from 0 to 9223372036854775807",
        ),
        (
            "value=1e3",
            "value must be an integer from 0 to 9223372036854775807",
        ),
    ] {
        let reply = app.get(&format!("/set/plain?{query}")).await;
        assert_json(&reply, 400, json!({ "error": error }));
    }
    assert_json(&app.get("/get/plain").await, 200, json!({ "value": 5 }));
}

#[tokio::test]
async fn update_stays_within_the_counters_bounds() {
    let app = app().await;
    app.get("/create?namespace=poll&key=votes&value=10&update_lowerbound=-2&update_upperbound=2")
        .await;
    for (amount, value) in [(2, 12), (-2, 10), (1, 11), (-1, 10)] {
        let reply = app
            .get(&format!("/update/poll/votes?amount={amount}"))
            .await;
        assert_json(&reply, 200, json!({ "value": value }));
        assert_eq!(reply.header("x-path"), Some("poll/votes"));
        assert_no_cache(&reply);
    }
    for amount in [3, -3, 1000] {
        let reply = app
            .get(&format!("/update/poll/votes?amount={amount}"))
            .await;
        assert_json(&reply, 403, json!({ "value": 10 }));
        assert_eq!(reply.header("x-path"), Some("poll/votes"));
    }
    // 0 is within any bounds and changes nothing.
    assert_json(
        &app.get("/update/poll/votes?amount=0").await,
        200,
        json!({ "value": 10 }),
    );

    // A counter created by a hit may only be counted.
    app.get("/hit/hits").await;
    assert_json(
        &app.get("/update/hits?amount=1").await,
        200,
        json!({ "value": 2 }),
    );
    for amount in [-1, 2] {
        assert_json(
            &app.get(&format!("/update/hits?amount={amount}")).await,
            403,
            json!({ "value": 2 }),
        );
    }

    // Within the bounds but below 0: refused like the bounds, value unchanged.
    app.get("/create?key=low&update_lowerbound=-5").await;
    assert_json(
        &app.get("/update/low?amount=-1").await,
        403,
        json!({ "value": 0 }),
    );

    let reply = app.get("/update/poll/nothing?amount=1").await;
    assert_json(&reply, 404, json!({ "value": null }));
    assert_eq!(reply.header("x-path"), Some("poll/nothing"));
    for (query, error) in [
        ("", "amount is required"),
        ("amount=x", "amount must be an integer"),
        ("amount=1.5", "amount must be an integer"),
    ] {
        let reply = app.get(&format!("/update/poll/votes?{query}")).await;
        assert_json(&reply, 400, json!({ "error": error }));
    }
    assert_json(
        &app.get("/get/poll/votes").await,
        200,
        json!({ "value": 10 }),
    );
}

#[tokio::test]
async fn info_answers_both_services_fields() {
    let app = app().await;
    let before = tally::store::now_millis();
    app.get("/hit/site.example/home").await;
    let reply = app.get("/info/site.example/home").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-path"), Some("site.example/home"));
    assert_cacheable(&reply);
    let mut body = reply.json();
    let created = body["created"].as_i64().expect("created in milliseconds");
    assert!(
        (before..=tally::store::now_millis()).contains(&created),
        "{created}"
    );
    body["created"] = json!("checked");
    assert_json(
        &Reply {
            body: body.to_string(),
            ..reply
        },
        200,
        json!({
            "namespace": "site.example",
            "key": "home",
            "value": 1,
            "ttl": -1,
            "created": "checked",
            "enable_reset": false,
            "update_lowerbound": 0,
            "update_upperbound": 1,
            "full_key": "site.example/home",
            "is_genuine": true,
            "expires_in": -1,
            "expires_str": "never",
            "exists": true,
        }),
    );

    // Made by Abacus's /create: it has an admin key, so it is not "genuine".
    abacus_create(&app, "site.example/owned").await;
    let info = app.get("/info/site.example/owned").await.json();
    assert_eq!(info["is_genuine"], json!(false));
    assert_eq!(info["update_upperbound"], json!(1));
    app.get("/create?key=made").await;
    let info = app.get("/info/made").await.json();
    assert_eq!(
        (&info["is_genuine"], &info["full_key"]),
        (&json!(true), &json!("default/made"))
    );

    let reply = app.get("/info/site.example/nothing").await;
    assert_json(
        &reply,
        404,
        json!({
            "namespace": null,
            "key": null,
            "value": null,
            "ttl": null,
            "created": null,
            "enable_reset": null,
            "update_lowerbound": null,
            "update_upperbound": null,
            "full_key": "site.example/nothing",
            "is_genuine": null,
            "expires_in": null,
            "expires_str": null,
            "exists": false,
        }),
    );
    assert_eq!(reply.header("x-path"), Some("site.example/nothing"));
}

#[tokio::test]
async fn stats_count_this_processs_requests_creations_and_changes() {
    let app = app().await;
    let version = env!("CARGO_PKG_VERSION");
    assert_json(
        &app.get("/stats").await,
        200,
        json!({ "requests": 1, "keys_created": 0, "keys_updated": 0, "version": version }),
    );
    app.get("/create?key=made&enable_reset=1").await;
    app.get("/create?key=made").await; // 409: not a creation
    abacus_create(&app, "site.example/owned").await;
    app.get("/hit/site.example/home").await;
    app.get("/hit/site.example/home/shield").await;
    app.get("/set/made?value=3").await;
    app.get("/update/made?amount=1").await;
    app.get("/update/made?amount=5").await; // 403: not a change
    app.get("/get/made").await;
    app.get("/count").await; // not a compatible route
    let reply = app.get("/stats").await;
    assert_json(
        &reply,
        200,
        json!({ "requests": 11, "keys_created": 2, "keys_updated": 4, "version": version }),
    );
    assert_eq!(reply.header("x-path"), None);
}

#[tokio::test]
async fn placeholders_name_the_page_from_origin_referer_and_host() {
    let app = app().await;
    let page = [
        ("origin", "https://Blog.Example"),
        ("referer", "https://blog.example/posts/hello-world?utm=x"),
    ];
    let reply = app.get_with("/hit/:HOST:/:PATHNAME:", &page).await;
    assert_json(&reply, 200, json!({ "value": 1 }));
    assert_eq!(
        reply.header("x-path"),
        Some("blog.example/posts.hello-world")
    );
    // Percent-encoded, it is the same word.
    let reply = app.get_with("/hit/%3AHOST%3A/%3APATHNAME%3A", &page).await;
    assert_json(&reply, 200, json!({ "value": 2 }));

    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("referer", "https://www.other.example/")],
            "www.other.example/index",
        ),
        (&[("referer", "https://a.example/x")], "a.example/..x"),
        (
            &[
                ("origin", "https://a.example"),
                ("referer", "https://b.example/docs/"),
            ],
            "a.example/docs",
        ),
        (&[("host", "counter.example:8080")], "counter.example/index"),
        (
            &[("origin", "null"), ("host", "counter.example")],
            "counter.example/index",
        ),
        // No Origin, no Referer: the Host header tally was reached by.
        (&[], "127.0.0.1/index"),
    ];
    for (headers, path) in cases {
        let reply = app.get_with("/hit/:HOST:/:PATHNAME:", headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.header("x-path"), Some(path), "{headers:?}");
    }

    // Everywhere a name is given: CountAPI's /create query, the key-only form, Abacus's routes.
    let about = [
        ("origin", "https://blog.example"),
        ("referer", "https://blog.example/about/"),
    ];
    let reply = app
        .get_with("/create?namespace=:HOST:&key=:PATHNAME:", &about)
        .await;
    assert_json(
        &reply,
        200,
        json!({ "namespace": "blog.example", "key": "about", "value": 0 }),
    );
    let reply = app.get_with("/get/:PATHNAME:", &page).await;
    assert_eq!(reply.header("x-path"), Some("default/posts.hello-world"));
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = post(&app, "/create/:HOST:/contact", &page[..1]).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["namespace"], json!("blog.example"));
    // Only whole segments are reserved words.
    let reply = app.get_with("/hit/blog-:HOST:/home", &page).await;
    assert_json(&reply, 400, json!({ "error": "Malformed Namespace/Key" }));
}

#[tokio::test]
async fn json_get_routes_answer_jsonp_that_never_fails() {
    let app = app().await;
    let reply = app.get("/hit/site.example/home?callback=count_cb").await;
    assert_eq!(
        jsonp(&reply),
        ("count_cb".to_owned(), json!({ "value": 1, "status": 200 }))
    );
    assert_eq!(reply.header("x-path"), Some("site.example/home"));
    assert_no_cache(&reply);
    assert_eq!(
        jsonp(&app.get("/get/site.example/home?callback=jQuery.cb_1").await),
        (
            "jQuery.cb_1".to_owned(),
            json!({ "value": 1, "status": 200 })
        )
    );
    // A refusal is still 200 for the script tag, with the status inside.
    let reply = app.get("/get/site.example/nothing?callback=cb").await;
    assert_eq!(
        jsonp(&reply).1,
        json!({ "value": null, "error": "Key not found", "status": 404 })
    );
    assert_eq!(reply.header("x-path"), Some("site.example/nothing"));
    assert_eq!(
        jsonp(&app.get("/set/site.example/home?value=1&callback=cb").await).1,
        json!({ "old_value": 1, "value": 1, "status": 403 })
    );
    assert_eq!(
        jsonp(
            &app.get("/update/site.example/home?amount=1&callback=cb")
                .await
        )
        .1,
        json!({ "value": 2, "status": 200 })
    );
    assert_eq!(
        jsonp(&app.get("/hit/ab?callback=cb").await).1,
        json!({ "error": "Malformed Namespace/Key", "status": 400 })
    );
    assert_eq!(
        jsonp(&app.get("/info/site.example/home?callback=cb").await).1["value"],
        json!(2)
    );
    assert_eq!(
        jsonp(&app.get("/create?key=made&callback=cb").await).1,
        json!({ "namespace": "default", "key": "made", "value": 0, "status": 200 })
    );
    let (_, created) = jsonp(&app.get("/create/site.example/owned?callback=cb").await);
    assert_eq!(created["status"], json!(201));
    assert!(created["admin_key"].is_string(), "{created}");
    assert_eq!(
        jsonp(&app.get("/stats?callback=cb").await).1["status"],
        json!(200)
    );

    // An unusable callback is a plain 400, and nothing was counted.
    let reply = app.get("/hit/site.example/home?callback=alert(1)").await;
    assert_json(
        &reply,
        400,
        json!({ "error": "callback must match ^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$, got \"alert(1)\"" }),
    );
    assert_json(
        &app.get("/get/site.example/home").await,
        200,
        json!({ "value": 2 }),
    );

    // POST routes are not JSONP: the callback is ignored.
    let reply = post(&app, "/create/site.example/posted?callback=cb", &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

// --- Abacus -----------------------------------------------------------------------------

#[tokio::test]
async fn abacus_create_hands_out_an_admin_key_once() {
    let app = app().await;
    let reply = post(&app, "/create/site.example/clicks?initializer=5", &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-path"), Some("site.example/clicks"));
    assert_no_cache(&reply);
    let body = reply.json();
    let key = body["admin_key"].as_str().expect("an admin_key");
    assert_eq!(key.len(), 43, "{key}");
    assert_eq!(
        body,
        json!({ "namespace": "site.example", "key": "clicks", "value": 5, "admin_key": key })
    );
    assert_json(
        &app.get("/get/site.example/clicks").await,
        200,
        json!({ "value": 5 }),
    );

    let reply = app.get("/create/site.example/views").await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["value"], json!(0));
    assert_ne!(reply.json()["admin_key"], json!(key));

    for method in [Method::GET, Method::POST] {
        let reply = app
            .request(method, "/create/site.example/clicks", &[], Body::Empty)
            .await;
        assert_json(
            &reply,
            409,
            json!({ "error": "Key already exists, please use a different key." }),
        );
        assert_eq!(reply.header("x-path"), Some("site.example/clicks"));
    }
    let cases = [
        (
            "/create/site.example/aaa?initializer=x",
            "initializer must be a number",
        ),
        (
            "/create/site.example/bbb?initializer=1.5",
            "initializer must be a number",
        ),
        (
            "/create/site.example/ccc?initializer=-1",
            "initializer must be a number from 0 to 9223372036854775807",
        ),
        (
            "/create/ab/key",
            "Invalid namespace: length must be between 3 and 64 characters inclusive",
        ),
        (
            "/create/site.example/bad:key",
            "Invalid key: must match the pattern ^[A-Za-z0-9_.-]{3,64}$",
        ),
    ];
    for (path, error) in cases {
        let reply = post(&app, path, &[]).await;
        assert_json(&reply, 400, json!({ "error": error }));
    }
    let reply = app.get("/info/site.example/aaa").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "nothing was created");
}

#[tokio::test]
async fn abacus_token_routes_need_the_admin_key() {
    let app = app().await;
    let key = abacus_create(&app, "site.example/clicks").await;
    let bearer = format!("Bearer {key}");
    let auth = [("authorization", bearer.as_str())];

    // No token: 401; a wrong one: 403.
    for path in [
        "/set/site.example/clicks?value=1",
        "/reset/site.example/clicks",
        "/update/site.example/clicks?value=1",
        "/delete/site.example/clicks",
    ] {
        let reply = post(&app, path, &[]).await;
        assert_json(&reply, 401, json!({ "error": TOKEN_REQUIRED }));
        assert_eq!(reply.header("x-path"), Some("site.example/clicks"));
        let reply = post(&app, path, &[("authorization", "Bearer not-the-key")]).await;
        assert_json(&reply, 403, json!({ "error": "token is invalid" }));
        assert_eq!(reply.header("x-path"), Some("site.example/clicks"));
    }
    // The token is asked for first: before the value is read or the counter looked up.
    for path in [
        "/reset/site.example/clicks?token=",
        "/set/site.example/nothing?value=x",
    ] {
        let reply = post(&app, path, &[]).await;
        assert_json(&reply, 401, json!({ "error": TOKEN_REQUIRED }));
    }
    assert_json(
        &app.get("/get/site.example/clicks").await,
        200,
        json!({ "value": 0 }),
    );

    // set: with the Bearer header or ?token=.
    let reply = post(&app, "/set/site.example/clicks?value=100", &auth).await;
    assert_json(&reply, 200, json!({ "value": 100 }));
    assert_eq!(reply.header("x-path"), Some("site.example/clicks"));
    let reply = post(
        &app,
        &format!("/set/site.example/clicks?value=90&token={key}"),
        &[],
    )
    .await;
    assert_json(&reply, 200, json!({ "value": 90 }));
    for (query, error) in [
        ("", VALUE_REQUIRED),
        ("value=x", "value must be a number"),
        (
            "value=-1",
            "value must be a number from 0 to 9223372036854775807",
        ),
    ] {
        let reply = post(&app, &format!("/set/site.example/clicks?{query}"), &auth).await;
        assert_json(&reply, 400, json!({ "error": error }));
    }

    // update: by any amount but 0, within 0 ..= i64::MAX.
    let reply = post(&app, "/update/site.example/clicks?value=-30", &auth).await;
    assert_json(&reply, 200, json!({ "value": 60 }));
    let reply = post(
        &app,
        &format!("/update/site.example/clicks?value=15&token={key}"),
        &[],
    )
    .await;
    assert_json(&reply, 200, json!({ "value": 75 }));
    for (query, status, error) in [
        (
            "value=0",
            400,
            "changing value by 0 does nothing, please provide a non-zero value in the fmt of ?value=NEW_VALUE",
        ),
        (
            "value=1.5",
            400,
            "value must be a number, this means no floats.",
        ),
        ("", 400, VALUE_REQUIRED),
        (
            "value=-100",
            409,
            "changing the value by -100 would leave 0 to 9223372036854775807; it stays at 75",
        ),
    ] {
        let reply = post(&app, &format!("/update/site.example/clicks?{query}"), &auth).await;
        assert_json(&reply, status, json!({ "error": error }));
    }

    // reset, and a body is ignored.
    let reply = app
        .request(
            Method::POST,
            "/reset/site.example/clicks",
            &auth,
            Body::Raw("ignored".to_owned()),
        )
        .await;
    assert_json(&reply, 200, json!({ "value": 0 }));

    // Another counter's key is not this one's.
    let other = abacus_create(&app, "site.example/other").await;
    let reply = post(
        &app,
        &format!("/set/site.example/clicks?value=1&token={other}"),
        &[],
    )
    .await;
    assert_json(&reply, 403, json!({ "error": "token is invalid" }));

    // The instance's ADMIN_TOKEN may change any counter, also a "genuine" one made by a hit,
    // which no other token may.
    let admin = format!("Bearer {ADMIN}");
    let reply = post(
        &app,
        "/set/site.example/clicks?value=7",
        &[("authorization", &admin)],
    )
    .await;
    assert_json(&reply, 200, json!({ "value": 7 }));
    app.get("/hit/site.example/genuine").await;
    let reply = post(&app, "/reset/site.example/genuine", &auth).await;
    assert_json(&reply, 403, json!({ "error": GENUINE }));
    let reply = post(
        &app,
        "/reset/site.example/genuine",
        &[("authorization", &admin)],
    )
    .await;
    assert_json(&reply, 200, json!({ "value": 0 }));

    // A counter that does not exist: 404 once a token is given.
    for path in [
        "/set/site.example/nothing?value=1",
        "/reset/site.example/nothing",
        "/update/site.example/nothing?value=1",
        "/delete/site.example/nothing",
    ] {
        let reply = post(&app, path, &auth).await;
        assert_json(&reply, 404, json!({ "error": "Key not found" }));
        assert_eq!(reply.header("x-path"), Some("site.example/nothing"));
    }
    let reply = post(&app, "/set/ab/clicks?value=1", &auth).await;
    assert_json(
        &reply,
        400,
        json!({ "error": "Invalid namespace: length must be between 3 and 64 characters inclusive" }),
    );

    // delete.
    let reply = post(&app, "/delete/site.example/clicks", &auth).await;
    assert_json(
        &reply,
        200,
        json!({ "status": "ok", "message": "Deleted key: site.example/clicks" }),
    );
    assert_eq!(
        app.get("/get/site.example/clicks").await.status,
        StatusCode::NOT_FOUND
    );
    let reply = post(&app, "/delete/site.example/clicks", &auth).await;
    assert_json(&reply, 404, json!({ "error": "Key not found" }));
}

#[tokio::test]
async fn the_admin_key_is_an_api_owner_token() {
    let app = app().await;
    let key = abacus_create(&app, "site.example/shared").await;
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/counters/site.example/shared",
            &[("authorization", &format!("Bearer {key}"))],
            Body::Json(json!({ "value": 12 })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_json(
        &app.get("/get/site.example/shared").await,
        200,
        json!({ "value": 12 }),
    );
}

#[tokio::test]
async fn the_admin_key_is_stored_only_as_its_sha256() {
    let (app, fixture) = spawn_app_for(Backend::Sqlite).await;
    let key = abacus_create(&app, "site.example/secret").await;
    let info = app.get("/info/site.example/secret").await;
    assert!(!info.body.contains(&key), "{}", info.body);
    assert!(
        info.headers.values().all(|value| !value
            .as_bytes()
            .windows(key.len())
            .any(|w| w == key.as_bytes())),
        "{:?}",
        info.headers
    );

    let store = fixture.open(Duration::from_secs(5));
    let name = CounterName::parts("site.example", "secret").expect("a valid name");
    let record = store
        .info(&name)
        .await
        .expect("the store answers")
        .expect("the counter exists");
    let owner = record.owner.expect("an owner");
    let expected: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    assert_eq!(owner.0, expected);
    store.close().await;

    // Nowhere in the database's files (the file, its WAL and shared memory).
    let url = fixture.url.as_deref().expect("an SQLite URL");
    let db = std::path::PathBuf::from(url.strip_prefix("sqlite://").expect("a sqlite:// URL"));
    let dir = db.parent().expect("a directory");
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect("read the database's directory") {
        let path = entry.expect("an entry").path();
        let bytes = std::fs::read(&path).expect("read a database file");
        files += 1;
        assert!(
            !bytes
                .windows(key.len())
                .any(|window| window == key.as_bytes()),
            "the admin key is in {}",
            path.display()
        );
    }
    assert!(files >= 1);
}

#[tokio::test]
async fn shields_draw_the_count_with_abacus_parameters() {
    let app = app().await;
    let reply = app.get("/hit/site.example/readme/shield").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert_eq!(reply.header("x-path"), Some("site.example/readme"));
    assert_no_cache(&reply);
    assert!(reply.body.starts_with("<svg"), "{}", reply.body);
    assert!(
        reply.body.contains(r#"aria-label="counter: 1""#),
        "{}",
        reply.body
    );

    let reply = app
        .get("/hit/site.example/readme/shield?text=views&bgcolor=%23FF5500&style=flat-square&textcolor=000&fontsize=14&font=arial")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body.contains(r#"aria-label="views: 2""#),
        "{}",
        reply.body
    );
    assert!(reply.body.contains(r##"fill="#ff5500""##), "{}", reply.body);

    // The reading shield does not count; it is not cached either (a live value).
    for _ in 0..2 {
        let reply = app
            .get("/get/site.example/readme/shield?style=flat-simple")
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-path"), Some("site.example/readme"));
        assert_no_cache(&reply);
        assert!(reply.body.contains(">2</text>"), "{}", reply.body);
        assert!(!reply.body.contains("counter"), "{}", reply.body);
    }

    let reply = app.get("/get/site.example/nothing/shield").await;
    assert_json(&reply, 404, json!({ "error": "Key not found" }));
    assert_eq!(reply.header("x-path"), Some("site.example/nothing"));
    let reply = app
        .get("/hit/site.example/readme/shield?bgcolor=purple")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let error = reply.json()["error"].as_str().expect("an error").to_owned();
    assert!(
        error.starts_with(r#"invalid bgcolor: "purple" is not valid; accepted:"#),
        "{error}"
    );
    let reply = app.get("/hit/ab/readme/shield").await;
    assert_json(
        &reply,
        400,
        json!({ "error": "Invalid namespace: length must be between 3 and 64 characters inclusive" }),
    );
    // Neither refusal counted.
    assert_json(
        &app.get("/get/site.example/readme").await,
        200,
        json!({ "value": 2 }),
    );
}

// --- Across both ------------------------------------------------------------------------

#[tokio::test]
async fn head_is_refused_where_get_would_count_or_change() {
    let app = app().await;
    for (path, allow) in [
        ("/hit/site.example/home", "GET"),
        ("/hit/home", "GET"),
        ("/hit/site.example/home/shield", "GET"),
        ("/create?key=made", "GET"),
        ("/create/site.example/made", "GET, POST"),
        ("/set/site.example/home?value=1", "GET, POST"),
        ("/update/home?amount=1", "GET"),
    ] {
        let reply = app.request(Method::HEAD, path, &[], Body::Empty).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(reply.header("allow"), Some(allow), "{path}");
    }
    for path in [
        "/get/site.example/home",
        "/get/home",
        "/get/made",
        "/get/site.example/made",
    ] {
        assert_eq!(app.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Reading routes answer HEAD.
    app.get("/hit/home").await;
    let reply = app
        .request(Method::HEAD, "/get/home", &[], Body::Empty)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn other_methods_and_paths_get_tallys_own_405_and_404() {
    let app = app().await;
    for (method, path) in [
        (Method::POST, "/hit/site.example/home"),
        (Method::GET, "/reset/site.example/home"),
        (Method::GET, "/delete/site.example/home"),
        (Method::POST, "/create"),
        (Method::POST, "/get/site.example/home"),
        (Method::DELETE, "/info/site.example/home"),
        (Method::POST, "/stream/site.example/home"),
    ] {
        let reply = app.request(method.clone(), path, &[], Body::Empty).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(reply.json()["error"], json!("method_not_allowed"));
    }
    for path in ["/hit", "/create/", "/hit/a/b/c/d", "/stream/site.example"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json()["error"], json!("not_found"));
    }
}

#[tokio::test]
async fn any_page_may_call_the_routes_and_read_x_path() {
    let app = app().await;
    let reply = app
        .get_with(
            "/hit/site.example/home",
            &[("origin", "https://blog.example")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let exposed = reply
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-path"), "{exposed}");
    let preflight = [
        ("origin", "https://blog.example"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "authorization"),
    ];
    // The same CORS layer as /api/v1's, preflights answered the same way there.
    for path in [
        "/set/site.example/home",
        "/create/site.example/home",
        "/api/v1/counters/site.example/home",
    ] {
        let reply = app
            .request(Method::OPTIONS, path, &preflight, Body::Empty)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        let allowed = reply
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(allowed.contains("authorization"), "{path}: {allowed}");
    }
}

#[tokio::test]
async fn the_rate_limit_covers_the_routes_that_count_with_the_apis_budget() {
    let mut config = Config::with_store(StoreSpec::Memory);
    config.admin_token = Some(TokenHash::of(ADMIN));
    config.rate_limit = RateLimit::new(3, Duration::from_secs(60));
    let app = spawn_app(config).await;
    for remaining in ["2", "1", "0"] {
        let reply = app.get("/hit/site.example/home").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("ratelimit-limit"), Some("3"));
        assert_eq!(reply.header("ratelimit-remaining"), Some(remaining));
    }
    for (method, path) in [
        (Method::GET, "/hit/site.example/home"),
        (Method::GET, "/hit/home"),
        (Method::GET, "/hit/site.example/home/shield"),
        (Method::GET, "/create?key=made"),
        (Method::GET, "/create/site.example/made"),
        (Method::POST, "/create/site.example/made"),
        (Method::GET, "/set/site.example/home?value=1"),
        (Method::GET, "/update/site.example/home?amount=1"),
        (Method::POST, "/api/v1/counters/site.example/home/hit"),
    ] {
        let reply = app.request(method.clone(), path, &[], Body::Empty).await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{method} {path}"
        );
        assert!(reply.header("retry-after").is_some(), "{method} {path}");
        assert_eq!(reply.json()["error"], json!("rate_limited"));
    }
    // Reading, and changing with a token, are not limited.
    for path in [
        "/get/site.example/home",
        "/info/site.example/home",
        "/get/site.example/home/shield",
        "/stats",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.header("ratelimit-limit"), None, "{path}");
    }
    let admin = format!("Bearer {ADMIN}");
    let reply = post(
        &app,
        "/reset/site.example/home",
        &[("authorization", &admin)],
    )
    .await;
    assert_json(&reply, 200, json!({ "value": 0 }));
    assert_eq!(reply.header("ratelimit-limit"), None);
}

// --- Client sequences against PostgreSQL ---------------------------------------------------

/// What countapi-js does for a page: create a resettable counter, hit it, read, set, update
/// and inspect it, reading `X-Path` each time.
#[tokio::test]
async fn a_countapi_client_sequence_on_postgres() {
    let (app, _fixture) = spawn_app_for(Backend::Postgres).await;
    let page = [("referer", "https://mysite.example/blog/post")];
    let reply = app
        .get_with(
            "/create?namespace=mysite.example&key=:PATHNAME:&value=10&enable_reset=1&update_lowerbound=-2&update_upperbound=2",
            &page,
        )
        .await;
    assert_json(
        &reply,
        200,
        json!({ "namespace": "mysite.example", "key": "blog.post", "value": 10 }),
    );
    let steps: [(&str, u16, Value); 8] = [
        (
            "/hit/mysite.example/:PATHNAME:",
            200,
            json!({ "value": 11 }),
        ),
        ("/get/mysite.example/blog.post", 200, json!({ "value": 11 })),
        (
            "/set/mysite.example/blog.post?value=100",
            200,
            json!({ "old_value": 11, "value": 100 }),
        ),
        (
            "/update/mysite.example/blog.post?amount=-2",
            200,
            json!({ "value": 98 }),
        ),
        (
            "/update/mysite.example/blog.post?amount=5",
            403,
            json!({ "value": 98 }),
        ),
        (
            "/get/mysite.example/nothing",
            404,
            json!({ "value": null, "error": "Key not found" }),
        ),
        ("/hit/visits", 200, json!({ "value": 1 })),
        (
            "/set/visits?value=0",
            403,
            json!({ "old_value": 1, "value": 1 }),
        ),
    ];
    for (path, status, body) in steps {
        let reply = app.get_with(path, &page).await;
        assert_json(&reply, status, body);
        assert!(reply.header("x-path").is_some(), "{path}");
    }
    let info = app.get("/info/mysite.example/blog.post").await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.header("x-path"), Some("mysite.example/blog.post"));
    let info = info.json();
    assert_eq!(
        (
            &info["value"],
            &info["enable_reset"],
            &info["update_lowerbound"],
            &info["update_upperbound"],
            &info["ttl"]
        ),
        (&json!(98), &json!(true), &json!(-2), &json!(2), &json!(-1))
    );
    let stats = app.get("/stats").await.json();
    assert_eq!(
        (&stats["keys_created"], &stats["keys_updated"]),
        (&json!(1), &json!(4))
    );
}

/// What an Abacus client does: create with an initial value, count, read, draw the shield,
/// then change and delete with the admin key.
#[tokio::test]
async fn an_abacus_client_sequence_on_postgres() {
    let (app, fixture) = spawn_app_for(Backend::Postgres).await;
    let reply = app.get("/create/myapp/downloads?initializer=100").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let key = reply.json()["admin_key"]
        .as_str()
        .expect("an admin_key")
        .to_owned();
    let auth = format!("Bearer {key}");
    let auth = [("authorization", auth.as_str())];

    assert_json(
        &app.get("/hit/myapp/downloads").await,
        200,
        json!({ "value": 101 }),
    );
    assert_json(
        &app.get("/get/myapp/downloads").await,
        200,
        json!({ "value": 101 }),
    );
    let shield = app.get("/hit/myapp/downloads/shield?text=downloads").await;
    assert!(
        shield.body.contains(r#"aria-label="downloads: 102""#),
        "{}",
        shield.body
    );
    let info = app.get("/info/myapp/downloads").await.json();
    assert_eq!(
        (&info["value"], &info["exists"], &info["is_genuine"]),
        (&json!(102), &json!(true), &json!(false))
    );
    let steps: [(&str, u16, Value); 4] = [
        (
            "/update/myapp/downloads?value=-2",
            200,
            json!({ "value": 100 }),
        ),
        (
            "/set/myapp/downloads?value=500",
            200,
            json!({ "value": 500 }),
        ),
        ("/reset/myapp/downloads", 200, json!({ "value": 0 })),
        (
            "/delete/myapp/downloads",
            200,
            json!({ "status": "ok", "message": "Deleted key: myapp/downloads" }),
        ),
    ];
    // Between the steps, check what the store holds: the owner is the key's hash.
    let store = fixture.open(Duration::from_secs(5));
    let name = CounterName::parts("myapp", "downloads").expect("a valid name");
    let record = store
        .info(&name)
        .await
        .expect("the store answers")
        .expect("a counter");
    assert!(
        record
            .owner
            .expect("an owner")
            .matches(&TokenHash::of(&key))
    );
    for (path, status, body) in steps {
        assert_json(&post(&app, path, &auth).await, status, body);
    }
    assert_eq!(store.info(&name).await.expect("the store answers"), None);
    store.close().await;
    assert_json(
        &app.get("/get/myapp/downloads").await,
        404,
        json!({ "value": null, "error": "Key not found" }),
    );
}
