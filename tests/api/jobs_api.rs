//! The jobs API (`/api/v1/jobs…`, `/api/v1/workers`) and the dashboard's page, over HTTP,
//! against tally's router served in-process (README, "Background jobs"; the design's §9).
//!
//! No worker runs here: each test holds the same [`Store`] as the server and plays the
//! worker itself (claim, heartbeat, finish, the result's chunks), so every state a job can be
//! in is reached exactly when the test wants it. The queue's own rules are the job contract's
//! (`job_contract.rs`); these tests are about what the routes answer.

use std::{sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tally::{
    config::{Config, DEFAULT_IMPORT_LIMIT, DEFAULT_JOB_LEASE},
    jobs::chunks::{CHUNK_SIZE, ChunkReader, INPUT},
    metrics::Metrics,
    store::{
        Backend, Store, TokenHash,
        job::{JobEnd, JobId, JobRecord, JobStatus, Lease, Progress, WorkerRecord},
        now_millis,
    },
    web::{self, AppParts, AppState, Shutdown, StatsCache},
};
use tokio::net::TcpListener;

use crate::{
    client::{Body, Http, Reply},
    helpers::{StoreFixture, spawn_app_for_with},
};

const ADMIN: &str = "the-jobs-admin-token";
const BEARER: &str = "Bearer the-jobs-admin-token";
const AUTH: &[(&str, &str)] = &[("authorization", BEARER)];
const LEASE: Duration = Duration::from_secs(30);

/// tally's router over a store the test holds too; no workers.
struct JobsApp {
    http: Http,
    store: Store,
    served: tokio::task::JoinHandle<()>,
    _fixture: StoreFixture,
}

impl std::ops::Deref for JobsApp {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Drop for JobsApp {
    fn drop(&mut self) {
        self.served.abort();
    }
}

async fn jobs_app(backend: Backend) -> JobsApp {
    jobs_app_with(backend, |_| {}).await
}

async fn jobs_app_with(backend: Backend, configure: impl FnOnce(&mut AppParts)) -> JobsApp {
    let fixture = StoreFixture::new(backend).await;
    let store = fixture.open(Duration::from_secs(5));
    store.migrate().await.expect("migrate");
    let mut state = AppParts {
        store: store.clone(),
        greeter: None,
        metrics: Arc::new(Metrics::new()),
        admin: Some(TokenHash::of(ADMIN)),
        limiter: None,
        trusted_proxies: Default::default(),
        import_limit: DEFAULT_IMPORT_LIMIT,
        stats: StatsCache::default(),
        job_lease: DEFAULT_JOB_LEASE,
        shutdown: Shutdown::default(),
    };
    configure(&mut state);
    let router = web::router(AppState::new(state), Duration::from_secs(10));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let served = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    JobsApp {
        http: Http::new(format!("http://{address}")),
        store,
        served,
        _fixture: fixture,
    }
}

impl JobsApp {
    async fn post_job(&self, body: Value) -> Reply {
        self.request(Method::POST, "/api/v1/jobs", AUTH, Body::Json(body))
            .await
    }

    /// Queues `body`'s job, checked to be a 202; its document.
    async fn start(&self, body: Value) -> Value {
        let reply = self.post_job(body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        reply.json()
    }

    async fn upload(&self, body: &str) -> Reply {
        self.request(
            Method::POST,
            "/api/v1/jobs/import",
            &[
                ("authorization", BEARER),
                ("content-type", "application/x-ndjson"),
            ],
            Body::Raw(body.to_owned()),
        )
        .await
    }

    async fn admin_get(&self, path: &str) -> Reply {
        self.get_with(path, AUTH).await
    }

    async fn admin_post(&self, path: &str) -> Reply {
        self.request(Method::POST, path, AUTH, Body::Empty).await
    }

    async fn record(&self, id: &str) -> JobRecord {
        self.store
            .job(&JobId::parse(id).expect("an id"))
            .await
            .expect("job")
            .expect("the job exists")
    }

    /// Claims the one runnable job, as a worker would.
    async fn claim(&self) -> (JobRecord, Lease) {
        self.store
            .claim("test-host:4242", LEASE)
            .await
            .expect("claim")
            .expect("a job to claim")
    }

    /// Runs the one queued job to the end `end` says.
    async fn run_to(&self, end: &JobEnd) -> JobRecord {
        let (job, lease) = self.claim().await;
        assert!(self.store.finish(&lease, end).await.expect("finish"));
        self.store.job(&job.id).await.expect("job").expect("exists")
    }

    async fn listed(&self, query: &str) -> Value {
        let reply = self.admin_get(&format!("/api/v1/jobs{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        reply.json()
    }
}

fn id_of(document: &Value) -> String {
    document["id"].as_str().expect("an id").to_owned()
}

fn failed(error: &str) -> JobEnd {
    JobEnd::Failed {
        error: error.to_owned(),
        retry_at: None,
    }
}

/// An error reply with `status` and `code`; its message.
fn error(reply: &Reply, status: StatusCode, code: &str) -> String {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], code, "{}", reply.body);
    body["message"].as_str().expect("a message").to_owned()
}

/// Every route, as (method, path), for the checks that apply to all.
fn every_route(id: &str) -> Vec<(Method, String)> {
    vec![
        (Method::POST, "/api/v1/jobs".to_owned()),
        (Method::GET, "/api/v1/jobs".to_owned()),
        (Method::POST, "/api/v1/jobs/import".to_owned()),
        (Method::GET, format!("/api/v1/jobs/{id}")),
        (Method::POST, format!("/api/v1/jobs/{id}/cancel")),
        (Method::POST, format!("/api/v1/jobs/{id}/retry")),
        (Method::GET, format!("/api/v1/jobs/{id}/result")),
        (Method::GET, format!("/api/v1/jobs/{id}/events")),
        (Method::GET, "/api/v1/workers".to_owned()),
    ]
}

#[tokio::test]
async fn every_route_needs_the_admin_token_before_anything_else() {
    let app = jobs_app(Backend::Memory).await;
    let job = app.start(json!({"kind": "export"})).await;
    // A bad id too: the token is checked first, so the answer says nothing about the id.
    for id in [id_of(&job), "not-an-id".to_owned()] {
        for (method, path) in every_route(&id) {
            let none = app
                .request(method.clone(), &path, &[], Body::Raw("{}".into()))
                .await;
            let message = error(&none, StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(
                message.contains("ADMIN_TOKEN"),
                "{method} {path}: {message}"
            );

            let wrong = app
                .request(
                    method.clone(),
                    &path,
                    &[("authorization", "Bearer not-the-token")],
                    Body::Raw("{}".into()),
                )
                .await;
            error(&wrong, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    // Nothing was queued by any of them.
    assert_eq!(
        app.listed("").await["jobs"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn without_an_admin_token_configured_every_route_is_403() {
    let app = jobs_app_with(Backend::Memory, |state| state.admin = None).await;
    let id = JobId::new().to_string();
    for (method, path) in every_route(&id) {
        let reply = app.request(method.clone(), &path, AUTH, Body::Empty).await;
        let message = error(&reply, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            message.contains("ADMIN_TOKEN is not set"),
            "{method} {path}: {message}"
        );
    }
}

async fn an_export_is_queued_with_the_document_of_the_design(backend: Backend) {
    let app = jobs_app(backend).await;
    let before = now_millis();
    let reply = app.post_job(json!({"kind": "export"})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let job = reply.json();
    let id = id_of(&job);
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/jobs/{id}").as_str())
    );
    let fields: Vec<&str> = job
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "id",
        "kind",
        "status",
        "progress",
        "attempts",
        "max_attempts",
        "error",
        "result",
        "worker",
        "created_at",
        "started_at",
        "finished_at",
        "params",
    ];
    expected.sort_unstable();
    let mut fields = fields;
    fields.sort_unstable();
    assert_eq!(fields, expected);
    assert_eq!(job["kind"], "export");
    assert_eq!(job["status"], "queued");
    assert_eq!(
        job["progress"],
        json!({"done": 0, "total": null, "message": ""})
    );
    assert_eq!(job["attempts"], 0);
    assert_eq!(job["max_attempts"], tally::jobs::MAX_ATTEMPTS);
    for empty in ["error", "result", "worker", "started_at", "finished_at"] {
        assert_eq!(job[empty], Value::Null, "{empty}");
    }
    assert_eq!(job["params"], json!({}));
    // RFC 3339 in UTC with milliseconds, at the time of the request.
    let created = job["created_at"].as_str().expect("a time");
    let created_ms = humantime::parse_rfc3339(created)
        .expect("RFC 3339")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    assert!(
        i64::try_from(created_ms).expect("fits") >= before - 1,
        "{created}"
    );

    // The same document from GET, and the job is in the queue.
    let shown = app.admin_get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.json(), job);
    assert_eq!(app.record(&id).await.status, JobStatus::Queued);
}

async fn a_copy_shows_its_target_without_the_password_and_maintenance_is_queued(backend: Backend) {
    let app = jobs_app(backend).await;
    let copy = app
        .start(json!({"kind": "copy", "target": "postgres://tally:hunter2@db:5432/tally"}))
        .await;
    assert_eq!(copy["kind"], "copy");
    assert_eq!(
        copy["params"],
        json!({"target": "postgres://tally:***@db:5432/tally"})
    );
    // The store keeps the real target, for the worker.
    let stored = app.record(&id_of(&copy)).await;
    assert_eq!(
        stored.params["target"],
        "postgres://tally:hunter2@db:5432/tally"
    );
    let listed = app.listed("").await.to_string();
    assert!(!listed.contains("hunter2"), "{listed}");

    let maintenance = app.start(json!({"kind": "maintenance"})).await;
    assert_eq!(maintenance["kind"], "maintenance");
    assert_eq!(maintenance["status"], "queued");
}

#[tokio::test]
async fn a_bad_request_is_400_at_once_and_queues_nothing() {
    let app = jobs_app(Backend::Memory).await;
    for (body, says) in [
        (json!({"kind": "bake"}), "export, import, copy, maintenance"),
        (json!({}), "`kind` is missing"),
        (json!(null), "JSON object"),
        (json!(["export"]), "JSON object"),
        (json!({"kind": 5}), "must be a string"),
        (json!({"kind": "copy"}), "needs `target`"),
        (
            json!({"kind": "copy", "target": "mysql://u:hunter2@db/x"}),
            "not a store URI",
        ),
        (
            json!({"kind": "export", "extra": 1}),
            "unknown field `extra`",
        ),
        (json!({"kind": "import"}), "POST /api/v1/jobs/import"),
    ] {
        let reply = app.post_job(body.clone()).await;
        let message = error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(says), "{body}: {message}");
        assert!(!message.contains("hunter2"), "{body}: {message}");
    }
    // Not JSON at all, or sent as something else.
    let reply = app
        .request(
            Method::POST,
            "/api/v1/jobs",
            &[
                ("authorization", BEARER),
                ("content-type", "application/json"),
            ],
            Body::Raw("{kind: export".into()),
        )
        .await;
    error(&reply, StatusCode::BAD_REQUEST, "bad_request");
    let reply = app
        .request(
            Method::POST,
            "/api/v1/jobs",
            &[("authorization", BEARER), ("content-type", "text/plain")],
            Body::Raw(r#"{"kind": "export"}"#.into()),
        )
        .await;
    error(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    // No body: the defaults of nothing, which is no kind.
    let reply = app
        .request(Method::POST, "/api/v1/jobs", AUTH, Body::Empty)
        .await;
    error(&reply, StatusCode::BAD_REQUEST, "bad_request");

    assert_eq!(
        app.listed("").await,
        json!({"jobs": [], "next_cursor": null})
    );
}

async fn a_job_is_found_by_its_id_and_a_bad_id_is_400(backend: Backend) {
    let app = jobs_app(backend).await;
    let unknown = JobId::new().to_string();
    for path in [
        format!("/api/v1/jobs/{unknown}"),
        format!("/api/v1/jobs/{unknown}/result"),
        format!("/api/v1/jobs/{unknown}/events"),
    ] {
        let message = error(
            &app.admin_get(&path).await,
            StatusCode::NOT_FOUND,
            "job_not_found",
        );
        assert!(message.contains(&unknown), "{message}");
    }
    for path in [
        format!("/api/v1/jobs/{unknown}/cancel"),
        format!("/api/v1/jobs/{unknown}/retry"),
    ] {
        error(
            &app.admin_post(&path).await,
            StatusCode::NOT_FOUND,
            "job_not_found",
        );
    }
    let simple = unknown.replace('-', "");
    for bad in [
        "nope",
        "12345",
        simple.as_str(),
        "0190c2a0-7d4e-7c3a-9f1e-2b8d5c6e7fzz",
    ] {
        for (method, path) in every_route(bad).into_iter().skip(3).take(5) {
            let reply = app.request(method.clone(), &path, AUTH, Body::Empty).await;
            let message = error(&reply, StatusCode::BAD_REQUEST, "bad_request");
            assert!(
                message.contains("not a job id"),
                "{method} {path}: {message}"
            );
        }
    }
}

async fn the_listing_is_newest_first_in_pages_with_a_status_filter(backend: Backend) {
    let app = jobs_app(backend).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id_of(&app.start(json!({"kind": "export"})).await));
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    // The default page holds them all, with no next page.
    let all = app.listed("").await;
    let shown: Vec<String> = all["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(shown, newest_first);
    assert_eq!(all["next_cursor"], Value::Null);

    // Pages of 2: 2, 2, 1, each cursor the last id of its page.
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("?limit=2&cursor={cursor}"),
            None => "?limit=2".to_owned(),
        };
        let page = app.listed(&query).await;
        let page_ids: Vec<String> = page["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(id_of)
            .collect();
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if let Some(cursor) = &cursor {
            assert_eq!(page_ids.last(), Some(cursor));
        }
        pages.push(page_ids);
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 5, "paging does not end: {pages:?}");
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), newest_first);
    // A full last page says there is no next one.
    let exact = app.listed("?limit=5").await;
    assert_eq!(exact["next_cursor"], Value::Null);

    // Cancel the oldest two: the filter shows them, and the others stay queued.
    for id in &ids[..2] {
        let reply = app.admin_post(&format!("/api/v1/jobs/{id}/cancel")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let cancelled = app.listed("?status=cancelled").await;
    let cancelled: Vec<String> = cancelled["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| {
            assert_eq!(job["status"], "cancelled");
            id_of(job)
        })
        .collect();
    assert_eq!(cancelled, [ids[1].clone(), ids[0].clone()]);
    let queued = app.listed("?status=queued&limit=1").await;
    assert_eq!(queued["jobs"][0]["id"], ids[4].as_str());
    assert_eq!(queued["next_cursor"], ids[4].as_str());
    let none = app.listed("?status=running").await;
    assert_eq!(none, json!({"jobs": [], "next_cursor": null}));
}

#[tokio::test]
async fn bad_listing_parameters_are_400() {
    let app = jobs_app(Backend::Memory).await;
    for (query, says) in [
        ("?status=done", "not a job status"),
        ("?status=", "not a job status"),
        ("?cursor=abc", "cursor"),
        ("?cursor=", "cursor"),
        ("?limit=0", "limit is 1 to 500"),
        ("?limit=501", "limit is 1 to 500"),
        ("?limit=ten", "limit is 1 to 500"),
        ("?limit=-1", "limit is 1 to 500"),
        ("?page=2", "page"),
    ] {
        let reply = app.admin_get(&format!("/api/v1/jobs{query}")).await;
        let message = error(&reply, StatusCode::BAD_REQUEST, "bad_request");
        assert!(message.contains(says), "{query}: {message}");
    }
    // The largest page is fine.
    app.listed("?limit=500").await;
}

async fn cancel_stops_a_queued_job_at_once_asks_a_running_one_and_refuses_a_finished_one(
    backend: Backend,
) {
    let app = jobs_app(backend).await;
    // Queued: cancelled at once.
    let queued = id_of(&app.start(json!({"kind": "export"})).await);
    let reply = app
        .admin_post(&format!("/api/v1/jobs/{queued}/cancel"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["status"], "cancelled");
    assert!(reply.json()["finished_at"].is_string());
    // Again: it has finished.
    let again = app
        .admin_post(&format!("/api/v1/jobs/{queued}/cancel"))
        .await;
    let message = error(&again, StatusCode::CONFLICT, "conflict");
    assert!(message.contains("finished already"), "{message}");

    // Running: asked to stop, which its worker sees at its next heartbeat.
    let running = id_of(&app.start(json!({"kind": "export"})).await);
    let (_, lease) = app.claim().await;
    let reply = app
        .admin_post(&format!("/api/v1/jobs/{running}/cancel"))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.json()["status"], "running");
    assert_eq!(reply.json()["worker"], "test-host:4242");
    assert!(app.record(&running).await.cancel_requested);
    assert_eq!(
        app.store
            .heartbeat(&lease, &Progress::default(), None, LEASE)
            .await
            .expect("heartbeat"),
        tally::store::job::Held::Yes {
            cancel_requested: true
        }
    );

    // Succeeded or failed: nothing to cancel.
    for end in [
        JobEnd::Succeeded {
            result: json!({}),
            progress: Progress::default(),
        },
        failed("broke"),
    ] {
        let id = id_of(&app.start(json!({"kind": "maintenance"})).await);
        // The running export is still claimed; the new job is the one runnable.
        app.run_to(&end).await;
        let reply = app.admin_post(&format!("/api/v1/jobs/{id}/cancel")).await;
        error(&reply, StatusCode::CONFLICT, "conflict");
        assert!(app.record(&id).await.status.is_finished());
    }
}

async fn retry_queues_a_failed_or_cancelled_job_again_and_refuses_the_others(backend: Backend) {
    let app = jobs_app(backend).await;
    // Queued: nothing to retry.
    let id = id_of(&app.start(json!({"kind": "export"})).await);
    let reply = app.admin_post(&format!("/api/v1/jobs/{id}/retry")).await;
    let message = error(&reply, StatusCode::CONFLICT, "conflict");
    assert!(message.contains("is queued"), "{message}");
    // Running: neither.
    app.claim().await;
    let reply = app.admin_post(&format!("/api/v1/jobs/{id}/retry")).await;
    let message = error(&reply, StatusCode::CONFLICT, "conflict");
    assert!(message.contains("is running"), "{message}");

    // Failed: queued again as new.
    let failing = id_of(&app.start(json!({"kind": "maintenance"})).await);
    let job = app.run_to(&failed("the disk is full")).await;
    assert_eq!(job.status, JobStatus::Failed);
    let shown = app
        .admin_get(&format!("/api/v1/jobs/{failing}"))
        .await
        .json();
    assert_eq!(shown["status"], "failed");
    assert_eq!(shown["error"], "the disk is full");
    assert_eq!(shown["attempts"], 1);
    let reply = app
        .admin_post(&format!("/api/v1/jobs/{failing}/retry"))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let retried = reply.json();
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["attempts"], 0);
    assert_eq!(retried["error"], Value::Null);
    assert_eq!(retried["finished_at"], Value::Null);
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/jobs/{failing}").as_str())
    );

    // Cancelled: the same.
    let cancelled = id_of(&app.start(json!({"kind": "maintenance"})).await);
    app.admin_post(&format!("/api/v1/jobs/{cancelled}/cancel"))
        .await;
    let reply = app
        .admin_post(&format!("/api/v1/jobs/{cancelled}/retry"))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.json()["status"], "queued");

    // Succeeded: nothing to retry.
    let done = id_of(&app.start(json!({"kind": "export"})).await);
    // Two runnable jobs now (the retried two) before it: run them first, in order.
    for _ in 0..2 {
        app.run_to(&failed("again")).await;
    }
    let job = app
        .run_to(&JobEnd::Succeeded {
            result: json!({}),
            progress: Progress::default(),
        })
        .await;
    assert_eq!(job.id.to_string(), done);
    let reply = app.admin_post(&format!("/api/v1/jobs/{done}/retry")).await;
    let message = error(&reply, StatusCode::CONFLICT, "conflict");
    assert!(message.contains("is succeeded"), "{message}");
}

async fn an_exports_result_is_409_until_it_succeeded_then_its_ndjson(backend: Backend) {
    let app = jobs_app(backend).await;
    let id = id_of(&app.start(json!({"kind": "export"})).await);
    let path = format!("/api/v1/jobs/{id}/result");
    let message = error(
        &app.admin_get(&path).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert!(message.contains("is queued and not done yet"), "{message}");

    let (job, lease) = app.claim().await;
    let message = error(
        &app.admin_get(&path).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert!(message.contains("is running"), "{message}");

    // The worker writes its result under its lease's part, in chunks, then succeeds.
    let part = format!("result-{}", lease.token);
    let first = "{\"namespace\":\"site\",\"key\":\"one\",\"value\":1}\n".repeat(10);
    let second = "{\"namespace\":\"site\",\"key\":\"two\",\"value\":2}\n";
    app.store
        .put_chunk(&job.id, &part, 0, first.as_bytes())
        .await
        .expect("chunk 0");
    app.store
        .put_chunk(&job.id, &part, 1, second.as_bytes())
        .await
        .expect("chunk 1");
    let bytes = first.len() + second.len();
    assert!(
        app.store
            .finish(
                &lease,
                &JobEnd::Succeeded {
                    result: json!({"counters": 11, "bytes": bytes, "part": part}),
                    progress: Progress {
                        done: 11,
                        total: Some(11),
                        message: "done".into(),
                    },
                },
            )
            .await
            .expect("finish")
    );

    let reply = app.admin_get(&path).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.header("content-disposition"),
        Some(format!("attachment; filename=\"tally-export-{id}.ndjson\"").as_str())
    );
    assert_eq!(reply.body, format!("{first}{second}"));
    let shown = app.admin_get(&format!("/api/v1/jobs/{id}")).await.json();
    assert_eq!(shown["status"], "succeeded");
    assert_eq!(shown["result"]["counters"], 11);
    assert_eq!(shown["progress"]["done"], 11);
}

async fn a_failed_export_and_other_kinds_have_no_result(backend: Backend) {
    let app = jobs_app(backend).await;
    let export = id_of(&app.start(json!({"kind": "export"})).await);
    app.run_to(&failed("the store went away")).await;
    let message = error(
        &app.admin_get(&format!("/api/v1/jobs/{export}/result"))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert!(message.contains("did not succeed"), "{message}");

    let maintenance = id_of(&app.start(json!({"kind": "maintenance"})).await);
    app.run_to(&JobEnd::Succeeded {
        result: json!({"purged": 0}),
        progress: Progress::default(),
    })
    .await;
    let message = error(
        &app.admin_get(&format!("/api/v1/jobs/{maintenance}/result"))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert!(message.contains("only an export"), "{message}");
}

async fn an_import_upload_is_stored_in_chunks_and_queued(backend: Backend) {
    let app = jobs_app(backend).await;
    // More than two chunks' worth, so the chunking is exercised.
    let line = "{\"namespace\":\"site\",\"key\":\"page\",\"value\":12345}\n";
    let body = line.repeat(CHUNK_SIZE * 5 / 2 / line.len());
    let reply = app.upload(&body).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let job = reply.json();
    assert_eq!(job["kind"], "import");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["params"], json!({"bytes": body.len()}));
    let id = JobId::parse(&id_of(&job)).expect("an id");
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/jobs/{id}").as_str())
    );

    let mut reader = ChunkReader::new(app.store.clone(), id, INPUT);
    let mut stored = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = reader.next().await.expect("read a chunk") {
        assert!(chunk.len() <= CHUNK_SIZE);
        stored.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert_eq!(chunks, 3);
    assert!(stored == body.as_bytes(), "the stored input is the body");
}

async fn an_empty_upload_is_400_and_one_over_the_limit_413_and_neither_is_queued(backend: Backend) {
    let app = jobs_app_with(backend, |state| state.import_limit = 1000).await;
    let message = error(
        &app.upload("").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    assert!(message.contains("empty"), "{message}");

    let line = "{\"namespace\":\"site\",\"key\":\"page\",\"value\":1}\n";
    let message = error(
        &app.upload(&line.repeat(100)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert!(message.contains("IMPORT_LIMIT (1000 bytes)"), "{message}");

    // Exactly the limit is fine.
    let exact = "x".repeat(1000);
    let reply = app.upload(&exact).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(reply.json()["params"]["bytes"], 1000);

    let jobs = app.listed("").await;
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(1), "{jobs}");
}

/// Reads the SSE stream until the next event, skipping comments; its `data` as JSON, or
/// `None` when the stream ended.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String) -> Option<Value> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if data.is_empty() {
                continue;
            }
            return Some(serde_json::from_str(&data.join("\n")).expect("data is JSON"));
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("an event within 5 s")
            .expect("the stream reads");
        match chunk {
            Some(bytes) => buffer.push_str(std::str::from_utf8(&bytes).expect("UTF-8")),
            None => return None,
        }
    }
}

async fn open_events(app: &JobsApp, id: &str) -> reqwest::Response {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/jobs/{id}/events")))
        .header("authorization", BEARER)
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(header("x-accel-buffering").as_deref(), Some("no"));
    response
}

async fn events_send_the_document_at_once_then_each_change_until_it_finished(backend: Backend) {
    let app = jobs_app(backend).await;
    let job = app.start(json!({"kind": "export"})).await;
    let id = id_of(&job);
    let mut response = open_events(&app, &id).await;
    let mut buffer = String::new();

    let first = next_event(&mut response, &mut buffer)
        .await
        .expect("an event");
    assert_eq!(first, job, "the first event is the document as it is");

    let (_, lease) = app.claim().await;
    let running = next_event(&mut response, &mut buffer)
        .await
        .expect("an event");
    assert_eq!(running["status"], "running");
    assert_eq!(running["worker"], "test-host:4242");

    let step = Progress {
        done: 2,
        total: Some(4),
        message: "exporting".into(),
    };
    app.store
        .heartbeat(&lease, &step, None, LEASE)
        .await
        .expect("heartbeat");
    let progressed = next_event(&mut response, &mut buffer)
        .await
        .expect("an event");
    assert_eq!(
        progressed["progress"],
        json!({"done": 2, "total": 4, "message": "exporting"})
    );

    app.store
        .finish(
            &lease,
            &JobEnd::Succeeded {
                result: json!({"counters": 4, "bytes": 0, "part": format!("result-{}", lease.token)}),
                progress: Progress {
                    done: 4,
                    total: Some(4),
                    message: "done".into(),
                },
            },
        )
        .await
        .expect("finish");
    let last = next_event(&mut response, &mut buffer)
        .await
        .expect("an event");
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["progress"]["done"], 4);
    // The stream ends after the event that shows the job finished.
    assert_eq!(next_event(&mut response, &mut buffer).await, None);
}

async fn events_of_a_finished_job_are_one_event(backend: Backend) {
    let app = jobs_app(backend).await;
    let id = id_of(&app.start(json!({"kind": "maintenance"})).await);
    app.admin_post(&format!("/api/v1/jobs/{id}/cancel")).await;
    let mut response = open_events(&app, &id).await;
    let mut buffer = String::new();
    let only = next_event(&mut response, &mut buffer)
        .await
        .expect("an event");
    assert_eq!(only["status"], "cancelled");
    assert_eq!(next_event(&mut response, &mut buffer).await, None);
}

#[tokio::test]
async fn events_end_when_the_server_stops() {
    let (app, _fixture) = spawn_app_for_with(Backend::Memory, |config: &mut Config| {
        config.admin_token = Some(TokenHash::of(ADMIN));
        config.rate_limit = None;
        // No in-process worker: the job stays queued, so only the shutdown ends the stream.
        config.jobs.workers = 0;
    })
    .await;
    let reply = app
        .request(
            Method::POST,
            "/api/v1/jobs",
            AUTH,
            Body::Json(json!({"kind": "maintenance"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let id = id_of(&reply.json());
    let mut response = app
        .client
        .get(app.url(&format!("/api/v1/jobs/{id}/events")))
        .header("authorization", BEARER)
        .send()
        .await
        .expect("the stream opens");
    let mut buffer = String::new();
    assert!(next_event(&mut response, &mut buffer).await.is_some());
    // The default SHUTDOWN_TIMEOUT is 8 s: well before it, the stream has ended and the
    // server has stopped.
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(app.stop());
    assert_eq!(next_event(&mut response, &mut buffer).await, None);
    tokio::time::timeout(Duration::from_secs(3), stopping)
        .await
        .expect("stopped within 3 s")
        .expect("join")
        .expect("stopped cleanly");
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn workers_seen_lately_are_listed_with_the_stale_ones_marked(backend: Backend) {
    let app = jobs_app_with(backend, |state| {
        state.job_lease = Duration::from_secs(30);
    })
    .await;
    let reply = app.admin_get("/api/v1/workers").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json(), json!({"workers": []}));

    let now = now_millis();
    for (name, started, seen) in [
        ("alive:1", now - 600_000, now - 1_000),
        ("quiet:2", now - 600_000, now - 120_000),
        ("gone:3", now - 9_000_000, now - 7_200_000),
    ] {
        app.store
            .worker_seen(&WorkerRecord {
                name: name.to_owned(),
                concurrency: 2,
                started_at: started,
                last_seen: seen,
            })
            .await
            .expect("worker_seen");
    }
    let workers = app.admin_get("/api/v1/workers").await.json();
    let workers = workers["workers"].as_array().expect("workers").clone();
    let names: Vec<&str> = workers
        .iter()
        .map(|worker| worker["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        names,
        ["alive:1", "quiet:2"],
        "the one gone for 2 h is left out"
    );
    assert_eq!(workers[0]["stale"], false);
    assert_eq!(workers[1]["stale"], true);
    assert_eq!(workers[0]["concurrency"], 2);
    for worker in &workers {
        for time in ["started_at", "last_seen"] {
            let text = worker[time].as_str().expect("a time");
            humantime::parse_rfc3339(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        }
    }
}

#[tokio::test]
async fn the_routes_are_measured_by_their_template() {
    let app = jobs_app(Backend::Memory).await;
    let id = id_of(&app.start(json!({"kind": "export"})).await);
    app.admin_get(&format!("/api/v1/jobs/{id}")).await;
    app.admin_get("/api/v1/workers").await;
    app.upload("x\n").await;
    let metrics = app.get("/metrics").await.body;
    for route in [
        "route=\"/api/v1/jobs\"",
        "route=\"/api/v1/jobs/{id}\"",
        "route=\"/api/v1/workers\"",
        "route=\"/api/v1/jobs/import\"",
    ] {
        assert!(metrics.contains(route), "{route} in\n{metrics}");
    }
    assert!(!metrics.contains(&id), "no job id becomes a label");
}

#[tokio::test]
async fn the_dashboard_is_served_and_the_main_page_links_to_it() {
    let app = jobs_app(Backend::Memory).await;
    let page = app.get("/jobs").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.body
            .contains(r#"<script src="/assets/jobs.js" defer></script>"#)
    );
    assert!(
        page.body
            .contains(r#"<label for="token">Admin token</label>"#)
    );
    // Nothing inline: the page works under a CSP without 'unsafe-inline'.
    assert!(!page.body.contains("<script>") && !page.body.contains("style="));

    let script = app.get("/assets/jobs.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.body.contains("/api/v1/jobs"));

    let main = app.get_with("/", &[("accept", "text/html")]).await;
    assert!(
        main.body.contains(r#"<a href="/jobs">Jobs</a>"#),
        "{}",
        main.body
    );
}

/// The tests whose answers come from the queue, on each backend listed: one module per
/// backend, one test per check.
macro_rules! jobs_api_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            jobs_api_suite!(@tests $kind;
                an_export_is_queued_with_the_document_of_the_design,
                a_copy_shows_its_target_without_the_password_and_maintenance_is_queued,
                a_job_is_found_by_its_id_and_a_bad_id_is_400,
                the_listing_is_newest_first_in_pages_with_a_status_filter,
                cancel_stops_a_queued_job_at_once_asks_a_running_one_and_refuses_a_finished_one,
                retry_queues_a_failed_or_cancelled_job_again_and_refuses_the_others,
                an_exports_result_is_409_until_it_succeeded_then_its_ndjson,
                a_failed_export_and_other_kinds_have_no_result,
                an_import_upload_is_stored_in_chunks_and_queued,
                an_empty_upload_is_400_and_one_over_the_limit_413_and_neither_is_queued,
                events_send_the_document_at_once_then_each_change_until_it_finished,
                events_of_a_finished_job_are_one_event,
                workers_seen_lately_are_listed_with_the_stale_ones_marked,
            );
        }
    )*};
    (@tests $kind:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            super::$check($kind).await;
        }
    )*};
}

jobs_api_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}
