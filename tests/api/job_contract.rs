//! The job queue's contract, run through the `Store` facade against all four backends, like
//! `contract.rs` for counters: enqueue, the atomic claim with a lease, heartbeats, progress,
//! finish, retries with a delay, cancel, take-over of a dead worker's job, listings, purge,
//! the workers and the chunks.
//!
//! Each test has a store of its own, so the queue starts empty.

use std::{collections::BTreeSet, time::Duration};

use serde_json::json;
use tally::store::{
    Backend, Store, StoreErrorKind,
    job::{
        Held, JobCount, JobEnd, JobId, JobKind, JobRecord, JobStatus, Lease, NewJob, Progress,
        WorkerRecord,
    },
    now_millis,
};

use crate::helpers::StoreFixture;

const CONTRACT_TIMEOUT: Duration = Duration::from_secs(5);
const LEASE: Duration = Duration::from_secs(30);
/// A lease short enough to let run out in a test.
const SHORT: Duration = Duration::from_millis(150);

fn new_job(kind: JobKind) -> NewJob {
    NewJob {
        id: JobId::new(),
        kind,
        params: json!({"target": "redis://example:6379/2", "n": 1}),
        max_attempts: 3,
        unique_key: None,
        created_at: now_millis(),
    }
}

async fn enqueue(store: &Store, kind: JobKind) -> JobRecord {
    let (job, created) = store.enqueue(&new_job(kind)).await.expect("enqueue");
    assert!(created);
    job
}

async fn claim(store: &Store, worker: &str, lease: Duration) -> (JobRecord, Lease) {
    store
        .claim(worker, lease)
        .await
        .expect("claim")
        .expect("a job to claim")
}

async fn status_of(store: &Store, id: &JobId) -> JobRecord {
    store.job(id).await.expect("job").expect("the job exists")
}

fn progress(done: u64, total: u64, message: &str) -> Progress {
    Progress {
        done,
        total: Some(total),
        message: message.to_owned(),
    }
}

/// A new job is queued with its parameters, no attempts, no progress; reading it gives the same.
pub async fn enqueue_stores_a_queued_job(store: Store) {
    let new = new_job(JobKind::Copy);
    let (job, created) = store.enqueue(&new).await.expect("enqueue");
    assert!(created);
    assert_eq!(job.id, new.id);
    assert_eq!(job.kind, JobKind::Copy);
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.params, new.params);
    assert_eq!(job.progress, Progress::default());
    assert_eq!((job.attempts, job.max_attempts), (0, 3));
    assert_eq!((job.error.as_deref(), job.result.as_ref()), (None, None));
    assert_eq!((job.worker.as_deref(), job.lease_until), (None, None));
    assert_eq!(job.created_at, new.created_at);
    assert_eq!((job.started_at, job.finished_at), (None, None));
    assert!(!job.cancel_requested);
    assert_eq!(status_of(&store, &new.id).await, job);
    assert_eq!(store.job(&JobId::new()).await.expect("job"), None);
}

/// Jobs with one unique key are stored once, however often they are enqueued.
pub async fn a_unique_key_is_enqueued_once(store: Store) {
    let mut first = new_job(JobKind::Maintenance);
    first.unique_key = Some("maintenance:2026-12-01T17".into());
    let (stored, created) = store.enqueue(&first).await.expect("enqueue");
    assert!(created);
    for _ in 0..3 {
        let mut again = new_job(JobKind::Maintenance);
        again.unique_key = first.unique_key.clone();
        let (existing, created) = store.enqueue(&again).await.expect("enqueue again");
        assert!(!created);
        assert_eq!(existing.id, stored.id);
    }
    let all = store.jobs(None, None, 10).await.expect("jobs");
    assert_eq!(all.len(), 1);
}

/// Listings are newest first, filtered by status, paged with the last id as the cursor.
pub async fn jobs_are_listed_newest_first_by_status(store: Store) {
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(enqueue(&store, JobKind::Export).await.id);
    }
    let (claimed, _) = claim(&store, "host:1", LEASE).await;
    assert_eq!(claimed.id, ids[0], "the oldest is claimed first");

    let newest: Vec<JobId> = ids.iter().rev().copied().collect();
    let page1 = store.jobs(None, None, 2).await.expect("page 1");
    assert_eq!(page1.iter().map(|j| j.id).collect::<Vec<_>>(), newest[..2]);
    let page2 = store
        .jobs(None, Some(&page1[1].id), 2)
        .await
        .expect("page 2");
    assert_eq!(page2.iter().map(|j| j.id).collect::<Vec<_>>(), newest[2..4]);
    let page3 = store
        .jobs(None, Some(&page2[1].id), 2)
        .await
        .expect("page 3");
    assert_eq!(page3.iter().map(|j| j.id).collect::<Vec<_>>(), newest[4..]);

    let running = store
        .jobs(Some(JobStatus::Running), None, 10)
        .await
        .expect("running");
    assert_eq!(running.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[0]]);
    let queued = store
        .jobs(Some(JobStatus::Queued), None, 10)
        .await
        .expect("queued");
    assert_eq!(queued.iter().map(|j| j.id).collect::<Vec<_>>(), newest[..4]);
    let err = store.jobs(None, None, 0).await.expect_err("limit 0");
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput);
}

/// A claim takes the oldest runnable job, marks it running for its worker with a lease, and
/// counts the attempt; with nothing runnable it answers `None`.
pub async fn claim_takes_the_oldest_job_with_a_lease(store: Store) {
    assert!(store.claim("host:1", LEASE).await.expect("claim").is_none());
    let first = enqueue(&store, JobKind::Import).await;
    let second = enqueue(&store, JobKind::Export).await;
    let before = now_millis();
    let (job, lease) = claim(&store, "host:1", LEASE).await;
    assert_eq!(job.id, first.id);
    assert_eq!(lease.job, first.id);
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.worker.as_deref(), Some("host:1"));
    assert_eq!(job.attempts, 1);
    assert_eq!(job.lease_token.as_deref(), Some(lease.token.as_str()));
    let until = job.lease_until.expect("a lease time");
    assert!(
        until >= before + 29_000,
        "lease until {until}, now {before}"
    );
    assert!(job.started_at.is_some_and(|at| at >= before));
    assert_eq!(status_of(&store, &first.id).await, job);

    let (next, other) = claim(&store, "host:2", LEASE).await;
    assert_eq!(next.id, second.id);
    assert_ne!(other.token, lease.token);
    assert!(store.claim("host:3", LEASE).await.expect("claim").is_none());
}

/// 40 workers claiming 20 jobs at once take each job exactly once.
pub async fn parallel_claims_take_each_job_once(store: Store) {
    let mut ids = BTreeSet::new();
    for _ in 0..20 {
        ids.insert(enqueue(&store, JobKind::Export).await.id);
    }
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.claim(&format!("host:{i}"), LEASE).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        if let Some((job, _)) = task.await.expect("task").expect("claim") {
            claimed.push(job.id);
        }
    }
    assert_eq!(claimed.len(), 20, "each job once: {claimed:?}");
    assert_eq!(claimed.into_iter().collect::<BTreeSet<_>>(), ids);
}

/// A heartbeat writes progress and checkpoint and extends the lease; one with a lease that no
/// longer holds the job writes nothing.
pub async fn heartbeats_report_progress_under_the_lease(store: Store) {
    let job = enqueue(&store, JobKind::Copy).await;
    let (_, lease) = claim(&store, "host:1", SHORT).await;
    let report = progress(10, 50, "copying");
    let held = store
        .heartbeat(&lease, &report, Some("ns/key-10"), LEASE)
        .await
        .expect("heartbeat");
    assert_eq!(
        held,
        Held::Yes {
            cancel_requested: false
        }
    );
    let stored = status_of(&store, &job.id).await;
    assert_eq!(stored.progress, report);
    assert_eq!(stored.checkpoint.as_deref(), Some("ns/key-10"));
    assert!(
        stored
            .lease_until
            .is_some_and(|until| until > now_millis() + 20_000)
    );

    // Without a checkpoint the stored one stays.
    store
        .heartbeat(&lease, &progress(11, 50, "copying"), None, LEASE)
        .await
        .expect("heartbeat");
    assert_eq!(
        status_of(&store, &job.id).await.checkpoint.as_deref(),
        Some("ns/key-10")
    );

    let stranger = Lease {
        job: job.id,
        token: "not-the-lease".into(),
    };
    let held = store
        .heartbeat(&stranger, &progress(49, 50, "forged"), Some("x"), LEASE)
        .await
        .expect("heartbeat");
    assert_eq!(held, Held::Lost);
    assert!(
        !store
            .finish(&stranger, &JobEnd::Cancelled)
            .await
            .expect("finish")
    );
    let stored = status_of(&store, &job.id).await;
    assert_eq!(stored.progress.done, 11);
    assert_eq!(stored.status, JobStatus::Running);
}

/// Success stores the result and final progress; the lease is then spent.
pub async fn success_stores_the_result(store: Store) {
    let job = enqueue(&store, JobKind::Export).await;
    let (_, lease) = claim(&store, "host:1", LEASE).await;
    let end = JobEnd::Succeeded {
        result: json!({"counters": 3}),
        progress: progress(3, 3, "done"),
    };
    assert!(store.finish(&lease, &end).await.expect("finish"));
    let stored = status_of(&store, &job.id).await;
    assert_eq!(stored.status, JobStatus::Succeeded);
    assert_eq!(stored.result, Some(json!({"counters": 3})));
    assert_eq!(stored.progress, progress(3, 3, "done"));
    assert!(stored.finished_at.is_some());
    assert_eq!(
        (stored.worker, stored.lease_token, stored.lease_until),
        (None, None, None)
    );
    assert!(!store.finish(&lease, &end).await.expect("finish twice"));
    assert_eq!(
        store
            .heartbeat(&lease, &progress(4, 3, "late"), None, LEASE)
            .await
            .expect("heartbeat"),
        Held::Lost
    );
}

/// A failure with a retry time is queued again, not claimable before that time, and keeps its
/// error; one without is `failed` for good.
pub async fn failures_retry_after_their_delay_then_fail(store: Store) {
    let job = enqueue(&store, JobKind::Copy).await;
    let (_, lease) = claim(&store, "host:1", LEASE).await;
    let retry_at = now_millis() + 400;
    let end = JobEnd::Failed {
        error: "target unreachable".into(),
        retry_at: Some(retry_at),
    };
    assert!(store.finish(&lease, &end).await.expect("finish"));
    let stored = status_of(&store, &job.id).await;
    assert_eq!(stored.status, JobStatus::Queued);
    assert_eq!(stored.error.as_deref(), Some("target unreachable"));
    assert_eq!(stored.run_after, retry_at);
    assert_eq!(stored.finished_at, None);
    assert!(store.claim("host:1", LEASE).await.expect("claim").is_none());

    tokio::time::sleep(Duration::from_millis(500)).await;
    let (again, lease) = claim(&store, "host:2", LEASE).await;
    assert_eq!((again.id, again.attempts), (job.id, 2));
    let end = JobEnd::Failed {
        error: "still unreachable".into(),
        retry_at: None,
    };
    assert!(store.finish(&lease, &end).await.expect("finish"));
    let stored = status_of(&store, &job.id).await;
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(stored.error.as_deref(), Some("still unreachable"));
    assert!(stored.finished_at.is_some());
    assert!(store.claim("host:1", LEASE).await.expect("claim").is_none());
}

/// A job whose worker stops answering is taken over once its lease has run out; the old
/// holder can then write nothing.
pub async fn an_expired_lease_is_taken_over(store: Store) {
    let job = enqueue(&store, JobKind::Copy).await;
    let (_, dead) = claim(&store, "host:dead", SHORT).await;
    store
        .heartbeat(&dead, &progress(5, 10, "half"), Some("ns/k5"), SHORT)
        .await
        .expect("heartbeat");
    assert!(store.claim("host:2", LEASE).await.expect("claim").is_none());

    tokio::time::sleep(SHORT * 2).await;
    let (taken, lease) = claim(&store, "host:2", LEASE).await;
    assert_eq!(taken.id, job.id);
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.worker.as_deref(), Some("host:2"));
    assert_eq!(taken.checkpoint.as_deref(), Some("ns/k5"), "resumes there");
    assert_ne!(lease.token, dead.token);
    assert_eq!(
        store
            .heartbeat(&dead, &progress(9, 10, "zombie"), None, LEASE)
            .await
            .expect("heartbeat"),
        Held::Lost
    );
    assert!(
        !store
            .finish(&dead, &JobEnd::Cancelled)
            .await
            .expect("finish")
    );
    assert_eq!(status_of(&store, &job.id).await.status, JobStatus::Running);
}

/// A job whose worker dies on its last attempt ends `failed`, naming the worker.
pub async fn an_expired_last_attempt_fails(store: Store) {
    let mut new = new_job(JobKind::Copy);
    new.max_attempts = 1;
    store.enqueue(&new).await.expect("enqueue");
    let _ = claim(&store, "host:gone", SHORT).await;
    tokio::time::sleep(SHORT * 2).await;
    assert!(store.claim("host:2", LEASE).await.expect("claim").is_none());
    let stored = status_of(&store, &new.id).await;
    assert_eq!(stored.status, JobStatus::Failed);
    let error = stored.error.expect("an error");
    assert!(
        error.contains("stopped answering") && error.contains("host:gone"),
        "{error}"
    );
    assert!(stored.finished_at.is_some());
    assert_eq!(stored.worker, None);
}

/// Cancel: a queued job at once; a running one asks its holder (told by the heartbeat), or is
/// cancelled when its lease runs out; a finished one is left alone; an unknown id is `None`.
pub async fn cancel_stops_queued_and_running_jobs(store: Store) {
    let running = enqueue(&store, JobKind::Export).await;
    let queued = enqueue(&store, JobKind::Export).await;
    let (_, lease) = claim(&store, "host:1", LEASE).await;

    let cancelled = store
        .cancel(&queued.id)
        .await
        .expect("cancel")
        .expect("exists");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());

    let asked = store
        .cancel(&running.id)
        .await
        .expect("cancel")
        .expect("exists");
    assert_eq!(asked.status, JobStatus::Running);
    assert!(asked.cancel_requested);
    assert_eq!(
        store
            .heartbeat(&lease, &progress(1, 2, "x"), None, LEASE)
            .await
            .expect("heartbeat"),
        Held::Yes {
            cancel_requested: true
        }
    );
    assert!(
        store
            .finish(&lease, &JobEnd::Cancelled)
            .await
            .expect("finish")
    );
    let stored = status_of(&store, &running.id).await;
    assert_eq!(stored.status, JobStatus::Cancelled);
    assert!(stored.finished_at.is_some());

    let again = store
        .cancel(&stored.id)
        .await
        .expect("cancel")
        .expect("exists");
    assert_eq!(again, stored, "a finished job is left as it is");
    assert_eq!(store.cancel(&JobId::new()).await.expect("cancel"), None);

    // A holder that died after a cancel was asked: cancelled when its lease runs out.
    let orphan = enqueue(&store, JobKind::Copy).await;
    let _ = claim(&store, "host:dead", SHORT).await;
    store.cancel(&orphan.id).await.expect("cancel");
    tokio::time::sleep(SHORT * 2).await;
    assert!(store.claim("host:2", LEASE).await.expect("claim").is_none());
    assert_eq!(
        status_of(&store, &orphan.id).await.status,
        JobStatus::Cancelled
    );
}

/// Retry queues a failed or cancelled job again as new; other jobs are left alone.
pub async fn retry_requeues_failed_and_cancelled_jobs(store: Store) {
    let job = enqueue(&store, JobKind::Copy).await;
    let (_, lease) = claim(&store, "host:1", LEASE).await;
    store
        .heartbeat(&lease, &progress(3, 9, "x"), Some("cp"), LEASE)
        .await
        .expect("heartbeat");
    let running = store.retry(&job.id).await.expect("retry").expect("exists");
    assert_eq!(running.status, JobStatus::Running, "left alone");
    let end = JobEnd::Failed {
        error: "boom".into(),
        retry_at: None,
    };
    assert!(store.finish(&lease, &end).await.expect("finish"));

    let again = store.retry(&job.id).await.expect("retry").expect("exists");
    assert_eq!(again.status, JobStatus::Queued);
    assert_eq!(again.attempts, 0);
    assert_eq!(again.error, None);
    assert_eq!(again.checkpoint, None);
    assert_eq!(again.progress, Progress::default());
    assert_eq!(again.finished_at, None);
    let (claimed, _) = claim(&store, "host:2", LEASE).await;
    assert_eq!((claimed.id, claimed.attempts), (job.id, 1));

    let cancelled = enqueue(&store, JobKind::Export).await;
    store.cancel(&cancelled.id).await.expect("cancel");
    let requeued = store
        .retry(&cancelled.id)
        .await
        .expect("retry")
        .expect("exists");
    assert_eq!(requeued.status, JobStatus::Queued);
    assert_eq!(store.retry(&JobId::new()).await.expect("retry"), None);
}

/// A job handed back (SIGTERM) is queued again at once with its checkpoint, and the attempt
/// does not count.
pub async fn a_released_job_keeps_its_checkpoint(store: Store) {
    let job = enqueue(&store, JobKind::Copy).await;
    let (_, lease) = claim(&store, "host:1", LEASE).await;
    store
        .heartbeat(&lease, &progress(4, 8, "x"), Some("ns/k4"), LEASE)
        .await
        .expect("heartbeat");
    assert!(
        store
            .finish(&lease, &JobEnd::Released)
            .await
            .expect("release")
    );
    let stored = status_of(&store, &job.id).await;
    assert_eq!(stored.status, JobStatus::Queued);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.worker, None);
    let (again, _) = claim(&store, "host:2", LEASE).await;
    assert_eq!(again.id, job.id);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.checkpoint.as_deref(), Some("ns/k4"));
    assert_eq!(again.progress.done, 4);
}

/// Purge deletes finished jobs older than the cut, with their chunks, and nothing else; a
/// purged unique key can be enqueued again.
pub async fn purge_deletes_old_finished_jobs_and_their_chunks(store: Store) {
    let mut unique = new_job(JobKind::Maintenance);
    unique.unique_key = Some("maintenance:old".into());
    store.enqueue(&unique).await.expect("enqueue");
    let (_, lease) = claim(&store, "host:1", LEASE).await;
    let done = JobEnd::Succeeded {
        result: json!({}),
        progress: Progress::default(),
    };
    assert!(store.finish(&lease, &done).await.expect("finish"));
    store
        .put_chunk(&unique.id, "result", 0, b"old")
        .await
        .expect("chunk");

    let queued = enqueue(&store, JobKind::Export).await;
    let cancelled = enqueue(&store, JobKind::Export).await;
    store.cancel(&cancelled.id).await.expect("cancel");
    store
        .put_chunk(&queued.id, "input", 0, b"keep")
        .await
        .expect("chunk");

    assert_eq!(store.purge(now_millis() - 60_000).await.expect("purge"), 0);
    assert_eq!(store.purge(now_millis() + 1_000).await.expect("purge"), 2);
    assert_eq!(store.job(&unique.id).await.expect("job"), None);
    assert_eq!(store.job(&cancelled.id).await.expect("job"), None);
    assert_eq!(
        status_of(&store, &queued.id).await.status,
        JobStatus::Queued
    );
    assert_eq!(
        store.chunk(&unique.id, "result", 0).await.expect("chunk"),
        None
    );
    assert_eq!(
        store.chunk(&queued.id, "input", 0).await.expect("chunk"),
        Some(b"keep".to_vec())
    );
    let mut again = new_job(JobKind::Maintenance);
    again.unique_key = unique.unique_key.clone();
    assert!(store.enqueue(&again).await.expect("enqueue").1);
}

/// Counts by kind and status.
pub async fn jobs_are_counted_by_kind_and_status(store: Store) {
    enqueue(&store, JobKind::Export).await;
    enqueue(&store, JobKind::Export).await;
    enqueue(&store, JobKind::Copy).await;
    let (_, _lease) = claim(&store, "host:1", LEASE).await;
    let mut counts: Vec<JobCount> = store
        .count_jobs()
        .await
        .expect("count")
        .into_iter()
        .filter(|count| count.count > 0)
        .collect();
    counts.sort_by_key(|count| (count.kind, count.status));
    let expected = vec![
        JobCount {
            kind: JobKind::Export,
            status: JobStatus::Queued,
            count: 1,
        },
        JobCount {
            kind: JobKind::Export,
            status: JobStatus::Running,
            count: 1,
        },
        JobCount {
            kind: JobKind::Copy,
            status: JobStatus::Queued,
            count: 1,
        },
    ];
    let mut expected = expected;
    expected.sort_by_key(|count| (count.kind, count.status));
    assert_eq!(counts, expected);
}

/// Workers are recorded, refreshed, listed by when they were last seen, and forgotten.
pub async fn workers_are_recorded_and_forgotten(store: Store) {
    let now = now_millis();
    let worker = |name: &str, last_seen: i64| WorkerRecord {
        name: name.into(),
        concurrency: 2,
        started_at: now - 10_000,
        last_seen,
    };
    store
        .worker_seen(&worker("a:1", now - 5_000))
        .await
        .expect("seen");
    store
        .worker_seen(&worker("b:2", now - 60_000))
        .await
        .expect("seen");
    store
        .worker_seen(&worker("a:1", now))
        .await
        .expect("seen again");
    assert_eq!(
        store.workers(now - 120_000).await.expect("workers"),
        vec![worker("a:1", now), worker("b:2", now - 60_000)]
    );
    assert_eq!(
        store.workers(now - 30_000).await.expect("workers"),
        vec![worker("a:1", now)]
    );
    store.worker_gone("a:1").await.expect("gone");
    assert_eq!(
        store.workers(now - 120_000).await.expect("workers"),
        vec![worker("b:2", now - 60_000)]
    );
}

/// Chunks are stored by job, part and number, replaced by number, and dropped by part.
pub async fn chunks_are_stored_by_job_and_part(store: Store) {
    let job = enqueue(&store, JobKind::Import).await;
    let other = enqueue(&store, JobKind::Import).await;
    let big = vec![7u8; 1 << 20];
    store
        .put_chunk(&job.id, "input", 0, b"first")
        .await
        .expect("put");
    store
        .put_chunk(&job.id, "input", 1, &big)
        .await
        .expect("put");
    store
        .put_chunk(&job.id, "result-a", 0, b"r")
        .await
        .expect("put");
    store
        .put_chunk(&other.id, "input", 0, b"other")
        .await
        .expect("put");
    assert_eq!(
        store.chunk(&job.id, "input", 0).await.expect("chunk"),
        Some(b"first".to_vec())
    );
    assert_eq!(
        store.chunk(&job.id, "input", 1).await.expect("chunk"),
        Some(big)
    );
    assert_eq!(store.chunk(&job.id, "input", 2).await.expect("chunk"), None);
    store
        .put_chunk(&job.id, "input", 0, b"again")
        .await
        .expect("put");
    assert_eq!(
        store.chunk(&job.id, "input", 0).await.expect("chunk"),
        Some(b"again".to_vec())
    );
    store.drop_chunks(&job.id, "input").await.expect("drop");
    assert_eq!(store.chunk(&job.id, "input", 0).await.expect("chunk"), None);
    assert_eq!(store.chunk(&job.id, "input", 1).await.expect("chunk"), None);
    assert_eq!(
        store.chunk(&job.id, "result-a", 0).await.expect("chunk"),
        Some(b"r".to_vec())
    );
    assert_eq!(
        store.chunk(&other.id, "input", 0).await.expect("chunk"),
        Some(b"other".to_vec())
    );
}

macro_rules! job_contract_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            job_contract_suite!(@tests $kind;
                enqueue_stores_a_queued_job,
                a_unique_key_is_enqueued_once,
                jobs_are_listed_newest_first_by_status,
                claim_takes_the_oldest_job_with_a_lease,
                parallel_claims_take_each_job_once,
                heartbeats_report_progress_under_the_lease,
                success_stores_the_result,
                failures_retry_after_their_delay_then_fail,
                an_expired_lease_is_taken_over,
                an_expired_last_attempt_fails,
                cancel_stops_queued_and_running_jobs,
                retry_requeues_failed_and_cancelled_jobs,
                a_released_job_keeps_its_checkpoint,
                purge_deletes_old_finished_jobs_and_their_chunks,
                jobs_are_counted_by_kind_and_status,
                workers_are_recorded_and_forgotten,
                chunks_are_stored_by_job_and_part,
            );
        }
    )*};
    (@tests $kind:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let fixture = StoreFixture::new($kind).await;
            let store = fixture.open(CONTRACT_TIMEOUT);
            super::$check(store.clone()).await;
            store.close().await;
        }
    )*};
}

job_contract_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}
