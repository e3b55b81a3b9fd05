//! `tally worker` as a process: SIGKILLed halfway through a copy of 50,000 counters, its job is
//! taken over once `JOB_LEASE` has passed and the result is identical to an uninterrupted run;
//! SIGTERM hands the job back and exits 0 within 10 s; settings it cannot use exit 2.

use std::{
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;
use tally::{
    jobs::JobRequest,
    store::{
        Backend, Store,
        job::{JobId, JobRecord, JobStatus},
    },
};

use crate::{
    helpers::{StoreFixture, tally_command},
    jobs_worker::{Workers, everything, fill, finished},
    servers::process::{send_signal, wait_for_exit},
};

const TIMEOUT: Duration = Duration::from_secs(5);
const COUNTERS: usize = 50_000;

/// `tally worker` on the store at `uri`, with a 2 s lease.
fn start_worker(dir: &Path, uri: &str) -> Child {
    tally_command(dir)
        .arg("worker")
        .env("DATABASE_URI", uri)
        .env("JOB_LEASE", "2s")
        .spawn()
        .expect("spawn tally worker")
}

async fn copy_job(store: &Store, target: &str) -> JobRecord {
    let job = JobRequest::from_json(&json!({"kind": "copy", "target": target}))
        .expect("valid")
        .into_job();
    store.enqueue(&job).await.expect("enqueue").0
}

/// Waits until `check` holds for job `id`.
async fn until(
    store: &Store,
    id: &JobId,
    what: &str,
    check: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = store.job(id).await.expect("job").expect("exists");
        if check(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "never {what}: {job:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_workers_copy_is_finished_by_another_with_the_same_result() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = StoreFixture::new(Backend::Sqlite).await;
    let store = source.open(TIMEOUT);
    fill(&store, "crash", COUNTERS).await;
    let source_uri = source.url.clone().expect("uri");

    // The uninterrupted run, for comparison.
    let reference = StoreFixture::new(Backend::Postgres).await;
    let workers = Workers::start(&store, 1, "test:reference");
    let job = copy_job(&store, reference.url.as_deref().expect("uri")).await;
    let done = finished(&store, &job.id, Duration::from_secs(120)).await;
    workers.stop().await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");

    let target = StoreFixture::new(Backend::Postgres).await;
    let job = copy_job(&store, target.url.as_deref().expect("uri")).await;
    let mut first = start_worker(dir.path(), &source_uri);
    let halfway = until(&store, &job.id, "halfway", |job| {
        job.status.is_finished() || job.progress.done >= (COUNTERS / 4) as u64
    })
    .await;
    assert_eq!(
        halfway.status,
        JobStatus::Running,
        "the copy ended before the worker could be killed: {halfway:?}"
    );
    send_signal(&first, libc::SIGKILL);
    let _ = first.wait();
    let killed_at = Instant::now();
    let orphan = store.job(&job.id).await.expect("job").expect("exists");
    assert_eq!(orphan.status, JobStatus::Running);
    assert!(
        orphan.progress.done < COUNTERS as u64,
        "killed before the end: {orphan:?}"
    );

    let mut second = start_worker(dir.path(), &source_uri);
    let taken = until(&store, &job.id, "taken over", |job| job.attempts == 2).await;
    assert!(
        killed_at.elapsed() >= Duration::from_millis(1500),
        "taken over before the lease ran out"
    );
    assert_ne!(taken.worker, orphan.worker);
    let done = finished(&store, &job.id, Duration::from_secs(120)).await;
    send_signal(&second, libc::SIGTERM);
    assert!(wait_for_exit(&mut second, Duration::from_secs(10)).success());
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_eq!(done.attempts, 2);
    assert_eq!(
        done.result.as_ref().expect("result")["counters"],
        json!(COUNTERS),
        "the resumed run counts every counter once"
    );

    let copied = everything(&target.open(TIMEOUT)).await;
    assert_eq!(copied.len(), COUNTERS);
    assert!(copied == everything(&reference.open(TIMEOUT)).await);
    assert!(copied == everything(&store).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_hands_the_job_back_and_exits_0_within_10_s() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = StoreFixture::new(Backend::Sqlite).await;
    let store = source.open(TIMEOUT);
    fill(&store, "term", 30_000).await;
    let target = StoreFixture::new(Backend::Sqlite).await;
    let job = copy_job(&store, target.url.as_deref().expect("uri")).await;
    let mut worker = start_worker(dir.path(), source.url.as_deref().expect("uri"));
    let running = until(&store, &job.id, "running", |job| {
        job.status != JobStatus::Queued
    })
    .await;
    assert_eq!(running.status, JobStatus::Running, "{running:?}");
    let stopping = Instant::now();
    send_signal(&worker, libc::SIGTERM);
    let status = wait_for_exit(&mut worker, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(stopping.elapsed() < Duration::from_secs(10));
    let handed = store.job(&job.id).await.expect("job").expect("exists");
    if handed.status != JobStatus::Succeeded {
        assert_eq!(handed.status, JobStatus::Queued, "{handed:?}");
        assert_eq!(handed.attempts, 0, "a hand-back is not an attempt");
        assert_eq!(handed.worker, None);
    }
    assert!(
        store.workers(0).await.expect("workers").is_empty(),
        "the worker removed its record"
    );
}

#[test]
fn settings_the_worker_cannot_use_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (envs, says) in [
        (
            &[("COUNTER_STORE", "memory")][..],
            "memory cannot be shared",
        ),
        (&[("WORKER_CONCURRENCY", "0")][..], "WORKER_CONCURRENCY"),
        (&[("JOB_LEASE", "10ms")][..], "JOB_LEASE"),
    ] {
        let out = tally_command(dir.path())
            .arg("worker")
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .output()
            .expect("run tally worker");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{envs:?}: {stderr}");
        assert!(stderr.contains(says), "{envs:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}
