//! The job worker and the jobs it runs, in-process against every backend: export, import
//! (twice = once, a malformed line), copy between stores (the target equals the source), an
//! unreachable target, cancel, retries, the maintenance scheduled once however many workers
//! run, and progress reported at least once a second. `jobs_crash.rs` has the tests that need
//! the `tally worker` process itself (SIGKILL, SIGTERM).

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tally::{
    jobs::{
        JobRequest, WorkerOptions,
        chunks::{ChunkReader, ChunkWriter, INPUT},
        import_job,
        worker::{self, enqueue_maintenance, maintenance_period},
    },
    store::{
        Backend, CounterName, CounterRecord, Store, TokenHash, UpdateRules,
        job::{JobId, JobKind, JobRecord, JobStatus, NewJob},
        now_millis,
    },
};
use tokio::sync::watch;

use crate::helpers::StoreFixture;

const TIMEOUT: Duration = Duration::from_secs(5);
const LEASE: Duration = Duration::from_secs(3);

/// In-process workers over a store; stopped (jobs handed back) when dropped or stopped.
pub struct Workers {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Workers {
    pub fn start(store: &Store, concurrency: u32, name: &str) -> Workers {
        let (stop, shutdown) = watch::channel(false);
        let options = WorkerOptions {
            name: name.to_owned(),
            ..WorkerOptions::new(concurrency, LEASE)
        };
        let task = tokio::spawn(worker::run(store.clone(), options, shutdown));
        Workers { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the workers stop within 10 s")
            .expect("the worker task");
    }
}

/// Waits until job `id` is finished; panics after `limit`.
pub async fn finished(store: &Store, id: &JobId, limit: Duration) -> JobRecord {
    let deadline = Instant::now() + limit;
    loop {
        let job = store.job(id).await.expect("job").expect("the job exists");
        if job.status.is_finished() {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job not finished within {limit:?}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` counters in `ns`, with owners and rules on some, written with `restore_many`.
pub async fn fill(store: &Store, ns: &str, n: usize) -> Vec<CounterRecord> {
    let records: Vec<CounterRecord> = (0..n)
        .map(|i| CounterRecord {
            name: CounterName::parts(ns, &format!("key-{i:06}")).expect("valid name"),
            value: (i as i64) * 7 + 1,
            created_at: 1_700_000_000_000 + i as i64,
            updated_at: 1_700_000_500_000 + i as i64,
            owner: (i % 3 == 0).then_some(TokenHash([(i % 251) as u8; 32])),
            rules: if i % 2 == 0 {
                UpdateRules::CREATED
            } else {
                UpdateRules::HIT_CREATED
            },
        })
        .collect();
    for page in records.chunks(500) {
        store.restore_many(page).await.expect("fill");
    }
    records
}

/// Every counter of `store`, in order.
pub async fn everything(store: &Store) -> Vec<CounterRecord> {
    let mut all = Vec::new();
    let mut after: Option<CounterName> = None;
    loop {
        let page = store.scan(after.as_ref(), 1000).await.expect("scan");
        let Some(last) = page.last() else {
            return all;
        };
        after = Some(last.name.clone());
        all.extend(page);
    }
}

async fn submit(store: &Store, request: Value) -> JobRecord {
    let job = JobRequest::from_json(&request)
        .expect("a valid request")
        .into_job();
    store.enqueue(&job).await.expect("enqueue").0
}

async fn upload_import(store: &Store, body: &[u8]) -> JobRecord {
    let id = JobId::new();
    let mut writer = ChunkWriter::new(store.clone(), id, INPUT);
    writer.write(body).await.expect("upload");
    let bytes = writer.finish().await.expect("upload");
    store
        .enqueue(&import_job(id, bytes))
        .await
        .expect("enqueue")
        .0
}

async fn result_bytes(store: &Store, job: &JobRecord) -> Vec<u8> {
    let part = job
        .result
        .as_ref()
        .and_then(|result| result["part"].as_str())
        .expect("the export names its result part");
    let mut reader = ChunkReader::new(store.clone(), job.id, part);
    let mut bytes = Vec::new();
    while let Some(chunk) = reader.next().await.expect("chunk") {
        bytes.extend(chunk);
    }
    bytes
}

/// An export writes one line per counter, in the export format, and reports its progress.
pub async fn export_writes_every_counter(store: Store) {
    let records = fill(&store, "exp", 1234).await;
    let workers = Workers::start(&store, 1, "test:1");
    let job = submit(&store, json!({"kind": "export"})).await;
    let done = finished(&store, &job.id, Duration::from_secs(30)).await;
    workers.stop().await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_eq!(done.result.as_ref().expect("result")["counters"], 1234);
    assert_eq!(
        (done.progress.done, done.progress.total),
        (1234, Some(1234))
    );
    let bytes = result_bytes(&store, &done).await;
    assert_eq!(done.result.as_ref().expect("result")["bytes"], bytes.len());
    let lines: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), records.len());
    assert_eq!(lines[0]["namespace"], "exp");
    assert_eq!(lines[0]["key"], "key-000000");
    assert_eq!(lines[0]["value"], 1);
    assert_eq!(lines[1233]["value"], 1233 * 7 + 1);
    assert!(lines[0]["owner_hash"].is_string());
    assert!(lines[1]["owner_hash"].is_null());
}

/// An import sets values; running the same input again changes nothing more.
pub async fn import_sets_values_and_twice_is_once(store: Store) {
    let workers = Workers::start(&store, 1, "test:1");
    let body = b"{\"namespace\":\"imp\",\"key\":\"one\",\"value\":5}\n\n{\"namespace\":\"imp\",\"key\":\"two\",\"value\":7,\"created_at\":\"2024-05-01T12:00:00.000Z\"}\n{\"namespace\":\"imp\",\"key\":\"three\",\"value\":9}";
    let first = upload_import(&store, body).await;
    let first = finished(&store, &first.id, Duration::from_secs(20)).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{first:?}");
    assert_eq!(first.result, Some(json!({"imported": 3})));
    let after_first = everything(&store).await;
    assert_eq!(
        after_first.iter().map(|r| r.value).collect::<Vec<_>>(),
        [5, 9, 7]
    );

    let second = upload_import(&store, body).await;
    let second = finished(&store, &second.id, Duration::from_secs(20)).await;
    workers.stop().await;
    assert_eq!(second.status, JobStatus::Succeeded);
    let after_second = everything(&store).await;
    assert_eq!(
        after_second
            .iter()
            .map(|r| (r.name.to_string(), r.value))
            .collect::<Vec<_>>(),
        after_first
            .iter()
            .map(|r| (r.name.to_string(), r.value))
            .collect::<Vec<_>>()
    );
    assert_eq!(after_second[2].created_at, 1_714_564_800_000);
}

/// A malformed line fails the import at once (no retry), naming the line and how many
/// counters before it were applied; those are applied, nothing after.
pub async fn a_malformed_import_line_fails_naming_it(store: Store) {
    let workers = Workers::start(&store, 1, "test:1");
    let body = b"{\"namespace\":\"bad\",\"key\":\"one\",\"value\":1}\n{\"namespace\":\"bad\",\"key\":\"two\",\"value\":2}\n{\"namespace\":\"bad\",\"key\":\"three\",\"value\":-3}\n{\"namespace\":\"bad\",\"key\":\"four\",\"value\":4}\n";
    let job = upload_import(&store, body).await;
    let job = finished(&store, &job.id, Duration::from_secs(20)).await;
    workers.stop().await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempts, 1, "bad input is not retried");
    let error = job.error.expect("an error");
    assert!(error.contains("line 3"), "{error}");
    assert!(
        error.contains("2 counters before it were imported"),
        "{error}"
    );
    let names: Vec<String> = everything(&store)
        .await
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names, ["bad/one", "bad/two"]);
}

/// A copy writes every counter, with its metadata, into the target: the target then holds
/// exactly what the source holds.
pub async fn copy_makes_the_target_equal_the_source(source: Store, target: StoreFixture) {
    fill(&source, "cpy", 1500).await;
    source
        .increment(&CounterName::default_counter(), 3)
        .await
        .expect("count visits");
    let uri = target.url.clone().expect("the target has a URI");
    let workers = Workers::start(&source, 2, "test:1");
    let job = submit(&source, json!({"kind": "copy", "target": uri})).await;
    let job = finished(&source, &job.id, Duration::from_secs(60)).await;
    workers.stop().await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_eq!(job.result.as_ref().expect("result")["counters"], 1501);
    let target = target.open(TIMEOUT);
    assert_eq!(everything(&target).await, everything(&source).await);
    assert_eq!(
        target
            .get(&CounterName::default_counter())
            .await
            .expect("get"),
        3
    );
}

macro_rules! job_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            job_suite!(@tests $kind;
                export_writes_every_counter,
                import_sets_values_and_twice_is_once,
                a_malformed_import_line_fails_naming_it,
            );
        }
    )*};
    (@tests $kind:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let fixture = StoreFixture::new($kind).await;
            let store = fixture.open(TIMEOUT);
            super::$check(store.clone()).await;
            store.close().await;
        }
    )*};
}

job_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}

/// Copies between every pair of different persistent stores, and from memory.
macro_rules! copy_pairs {
    ($($name:ident: $from:expr => $to:expr),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let source = StoreFixture::new($from).await;
            let target = StoreFixture::new($to).await;
            let store = source.open(TIMEOUT);
            copy_makes_the_target_equal_the_source(store.clone(), target).await;
            store.close().await;
        }
    )*};
}

copy_pairs! {
    copy_redis_to_postgres: Backend::Redis => Backend::Postgres,
    copy_postgres_to_redis: Backend::Postgres => Backend::Redis,
    copy_sqlite_to_postgres: Backend::Sqlite => Backend::Postgres,
    copy_postgres_to_sqlite: Backend::Postgres => Backend::Sqlite,
    copy_memory_to_redis: Backend::Memory => Backend::Redis,
}

/// A target that cannot be reached fails the job after its retries, with an error naming the
/// target (its password hidden).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_target_fails_after_retries_naming_it() {
    let fixture = StoreFixture::new(Backend::Sqlite).await;
    let store = fixture.open(TIMEOUT);
    let port = crate::servers::process::free_port();
    let mut job: NewJob = JobRequest::from_json(&json!({
        "kind": "copy",
        "target": format!("postgres://tally:hunter2@127.0.0.1:{port}/nowhere"),
    }))
    .expect("valid")
    .into_job();
    job.max_attempts = 2;
    store.enqueue(&job).await.expect("enqueue");
    let workers = Workers::start(&store, 1, "test:1");
    let done = finished(&store, &job.id, Duration::from_secs(40)).await;
    workers.stop().await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.attempts, 2, "retried once, then failed");
    let error = done.error.expect("an error");
    assert!(
        error.contains(&format!("127.0.0.1:{port}/nowhere")),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

/// A running job that is cancelled stops at its next safe point and ends `cancelled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_job_stops_when_cancelled() {
    let fixture = StoreFixture::new(Backend::Sqlite).await;
    let store = fixture.open(TIMEOUT);
    fill(&store, "cancel", 30_000).await;
    let target = StoreFixture::new(Backend::Sqlite).await;
    let workers = Workers::start(&store, 1, "test:1");
    let job = submit(
        &store,
        json!({"kind": "copy", "target": target.url.clone().expect("uri")}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = store.job(&job.id).await.expect("job").expect("exists");
        if now.status == JobStatus::Running {
            break;
        }
        assert!(Instant::now() < deadline, "never started: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.cancel(&job.id).await.expect("cancel");
    let done = finished(&store, &job.id, Duration::from_secs(20)).await;
    workers.stop().await;
    assert_eq!(done.status, JobStatus::Cancelled, "{done:?}");
    assert!(
        done.progress.done < 30_000,
        "stopped early: {:?}",
        done.progress
    );
}

/// While a job runs, its progress is written at least once a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn progress_is_reported_at_least_once_a_second() {
    let fixture = StoreFixture::new(Backend::Postgres).await;
    let store = fixture.open(TIMEOUT);
    fill(&store, "slow", 40_000).await;
    let target = StoreFixture::new(Backend::Postgres).await;
    let workers = Workers::start(&store, 1, "test:1");
    let job = submit(
        &store,
        json!({"kind": "copy", "target": target.url.clone().expect("uri")}),
    )
    .await;
    let mut updates = BTreeSet::new();
    let mut gaps = Vec::new();
    let mut last_change: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = store.job(&job.id).await.expect("job").expect("exists");
        if now.status.is_finished() {
            assert_eq!(now.status, JobStatus::Succeeded, "{now:?}");
            break;
        }
        if now.status == JobStatus::Running && updates.insert(now.updated_at) {
            if let Some(last) = last_change {
                gaps.push(last.elapsed());
            }
            last_change = Some(Instant::now());
        }
        assert!(Instant::now() < deadline, "the copy did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers.stop().await;
    // At least a few reports while it ran, so the gaps below are a measurement, not nothing.
    assert!(
        gaps.len() >= 2,
        "too few progress reports to judge: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|gap| *gap <= Duration::from_millis(1500)),
        "updates further apart than a second (+ polling): {gaps:?}"
    );
}

/// However many workers run, the maintenance of a period is one job, and it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn maintenance_runs_once_per_period_with_many_workers() {
    let fixture = StoreFixture::new(Backend::Redis).await;
    let store = fixture.open(TIMEOUT);
    let period = maintenance_period(now_millis());
    let all: Vec<_> = (0..5)
        .map(|i| Workers::start(&fixture.open(TIMEOUT), 1, &format!("test:{i}")))
        .collect();
    // The workers enqueue it themselves at start; a late call changes nothing.
    let deadline = Instant::now() + Duration::from_secs(20);
    let job = loop {
        let jobs = store
            .jobs(Some(JobStatus::Succeeded), None, 10)
            .await
            .expect("jobs");
        if let Some(job) = jobs.into_iter().find(|j| j.kind == JobKind::Maintenance) {
            break job;
        }
        assert!(Instant::now() < deadline, "no maintenance ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    enqueue_maintenance(&store, period).await.expect("enqueue");
    for workers in all {
        workers.stop().await;
    }
    let maintenance: Vec<JobRecord> = store
        .jobs(None, None, 100)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.kind == JobKind::Maintenance)
        .collect();
    assert_eq!(maintenance.len(), 1, "{maintenance:?}");
    assert_eq!(
        job.result,
        Some(json!({"jobs_purged": 0, "workers_forgotten": 0}))
    );
}

/// Stopping a worker hands its job back: queued again with its checkpoint, the attempt not
/// counted; another worker then finishes it with the same result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_worker_hands_its_job_back() {
    let fixture = StoreFixture::new(Backend::Sqlite).await;
    let store = fixture.open(TIMEOUT);
    fill(&store, "handback", 30_000).await;
    let target = StoreFixture::new(Backend::Sqlite).await;
    let first = Workers::start(&store, 1, "test:first");
    let job = submit(
        &store,
        json!({"kind": "copy", "target": target.url.clone().expect("uri")}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = store.job(&job.id).await.expect("job").expect("exists");
        if now.checkpoint.is_some() {
            break;
        }
        assert!(
            !now.status.is_finished(),
            "finished before a checkpoint: {now:?}"
        );
        assert!(Instant::now() < deadline, "no checkpoint: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.stop().await;
    let handed = store.job(&job.id).await.expect("job").expect("exists");
    if handed.status == JobStatus::Queued {
        assert_eq!(handed.attempts, 0);
        assert!(handed.checkpoint.is_some());
        assert_eq!(handed.worker, None);
    } else {
        // It finished between the checkpoint and the stop: nothing was handed back.
        assert_eq!(handed.status, JobStatus::Succeeded, "{handed:?}");
    }
    let second = Workers::start(&store, 1, "test:second");
    let done = finished(&store, &job.id, Duration::from_secs(60)).await;
    second.stop().await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    let target = target.open(TIMEOUT);
    assert_eq!(everything(&target).await, everything(&store).await);
}

/// `tally serve` with `WORKERS=1` runs a job queued over HTTP by itself, and `/metrics` shows
/// the queue by kind and status, its depth, and the run with its duration.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_runs_jobs_in_process_and_reports_them_in_metrics() {
    use reqwest::{Method, StatusCode};
    let (app, _fixture) = crate::helpers::spawn_app_for_with(Backend::Sqlite, |config| {
        config.jobs.workers = 1;
        config.admin_token = Some(TokenHash::of("the-metrics-admin-token"));
    })
    .await;
    let reply = app
        .request(
            Method::POST,
            "/api/v1/jobs",
            &[("authorization", "Bearer the-metrics-admin-token")],
            crate::client::Body::Json(json!({"kind": "export"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let id = reply.json()["id"].as_str().expect("an id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app
            .get_with(
                &format!("/api/v1/jobs/{id}"),
                &[("authorization", "Bearer the-metrics-admin-token")],
            )
            .await;
        if reply.json()["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "not run: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = app.get("/metrics").await.body;
    for line in [
        "jobs{kind=\"export\",status=\"succeeded\"} 1",
        "jobs{kind=\"export\",status=\"queued\"} 0",
        "job_runs_total{kind=\"export\",outcome=\"succeeded\"} 1",
        "job_duration_seconds_count{kind=\"export\"} 1",
    ] {
        assert!(metrics.contains(line), "no `{line}` in\n{metrics}");
    }
    // The maintenance the worker scheduled at start may still be queued or done: the depth
    // counts queued jobs of every kind, and the export is not one of them.
    let depth: i64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("job_queue_depth "))
        .and_then(|value| value.trim().parse().ok())
        .expect("job_queue_depth");
    assert!((0..=1).contains(&depth), "{depth}");
    app.stop().await.expect("graceful stop");
}
