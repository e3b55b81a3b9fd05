//! The worker: `tally worker`, and the `WORKERS` that `tally serve` runs in-process.
//!
//! Each of its `concurrency` slots loops: claim the oldest runnable job (an atomic claim in the
//! store, so two workers never run one job), run it beside a heartbeat task, and end it:
//! succeeded, failed (retried with a growing delay while attempts remain), cancelled, or
//! handed back at shutdown. Nothing is held in memory that the queue does not also hold, so a
//! worker that is SIGKILLed loses nothing but its lease: after `JOB_LEASE` another worker
//! claims the job and resumes it from its last checkpoint.
//!
//! Beside the slots, one task keeps the worker's record fresh for the dashboard and enqueues
//! the periodic maintenance. Every worker enqueues it, under a key naming the period, and the
//! queue stores one job per key: it runs once per period however many workers there are.
//!
//! Idle slots poll the queue every half second (with jitter, so workers started together do
//! not poll together): simple, the same on every backend, and a claim is one indexed query.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{sync::watch, task::JoinSet};

use super::{
    JobError, JobObserver, kinds,
    request::new_job,
    running::{Running, Stop},
};
use crate::store::{
    Store,
    job::{JobEnd, JobKind, JobRecord, Lease, WorkerRecord},
    now_millis,
};

/// How often an idle slot asks for a job.
pub const POLL: Duration = Duration::from_millis(500);
/// How often the worker's record is refreshed.
const REGISTER_EVERY: Duration = Duration::from_secs(5);
/// The maintenance period: one maintenance job per hour, whatever the number of workers.
pub const MAINTENANCE_PERIOD: Duration = Duration::from_secs(3600);
/// The longest a failed job waits for its retry.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How a worker runs.
#[derive(Clone)]
pub struct WorkerOptions {
    /// `host:pid`, as jobs and the dashboard show it.
    pub name: String,
    /// Jobs run at once.
    pub concurrency: u32,
    /// `JOB_LEASE`.
    pub lease: Duration,
    pub observer: Option<Arc<dyn JobObserver>>,
}

impl WorkerOptions {
    pub fn new(concurrency: u32, lease: Duration) -> WorkerOptions {
        WorkerOptions {
            name: worker_name(),
            concurrency,
            lease,
            observer: None,
        }
    }
}

/// `host:pid` of this process.
pub fn worker_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, and gethostname writes at most that.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let host = if ok {
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    } else {
        "localhost".to_owned()
    };
    format!("{host}:{}", std::process::id())
}

/// Heartbeats come at least once a second, and at least three times per lease.
fn heartbeat_every(lease: Duration) -> Duration {
    (lease / 3).min(Duration::from_secs(1))
}

/// The delay before attempt `attempts + 1` of a job that failed: 2 s, 8 s, 32 s, … up to
/// five minutes.
pub fn backoff(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(8);
    (Duration::from_secs(2) * 4u32.pow(exponent)).min(MAX_BACKOFF)
}

/// Runs jobs until `shutdown` turns true: then stops claiming, hands back what it holds at the
/// jobs' next safe point, forgets its record and returns.
pub async fn run(store: Store, options: WorkerOptions, shutdown: watch::Receiver<bool>) {
    tracing::info!(
        worker = %options.name,
        concurrency = options.concurrency,
        lease = %humantime::format_duration(options.lease),
        "job worker started"
    );
    let registry = tokio::spawn(keep_registered(store.clone(), options.clone()));
    let mut slots = JoinSet::new();
    for _ in 0..options.concurrency {
        slots.spawn(slot(store.clone(), options.clone(), shutdown.clone()));
    }
    while slots.join_next().await.is_some() {}
    registry.abort();
    if let Err(err) = store.worker_gone(&options.name).await {
        tracing::debug!(error = %err, "cannot remove the worker's record");
    }
    tracing::info!(worker = %options.name, "job worker stopped");
}

/// One slot: claims and runs jobs one after the other.
async fn slot(store: Store, options: WorkerOptions, mut shutdown: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let wait = match store.claim(&options.name, options.lease).await {
            Ok(Some((job, lease))) => {
                failures = 0;
                run_job(&store, &options, job, lease, &shutdown).await;
                continue;
            }
            Ok(None) => {
                failures = 0;
                jittered(POLL)
            }
            Err(err) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(error = %err, failures, "cannot claim a job; trying again");
                }
                jittered(POLL * failures.min(20))
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// `base` give or take a fifth.
fn jittered(base: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let spread = match getrandom::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 0.5,
    };
    base.mul_f64(0.8 + 0.4 * spread)
}

/// Runs one claimed job to its end.
async fn run_job(
    store: &Store,
    options: &WorkerOptions,
    job: JobRecord,
    lease: Lease,
    shutdown: &watch::Receiver<bool>,
) {
    let started = Instant::now();
    tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, "job started");
    let running = Running::new(job.clone(), lease.clone());
    let heartbeat = tokio::spawn(running.clone().heartbeat(
        store.clone(),
        options.lease,
        heartbeat_every(options.lease),
    ));
    let forward_shutdown = {
        let running = running.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            if shutdown.wait_for(|stop| *stop).await.is_ok() {
                running.stop(Stop::Shutdown);
            }
        })
    };
    // A task of its own, so that a panic in a job's code fails the job, not the worker.
    let outcome = match tokio::spawn(kinds::run(store.clone(), running.clone())).await {
        Ok(outcome) => outcome,
        Err(err) => Err(JobError::failed(format!("the job's code panicked: {err}"))),
    };
    heartbeat.abort();
    forward_shutdown.abort();

    let (end, label) = match (outcome, running.stop_reason()) {
        (_, Some(Stop::LeaseLost)) => {
            tracing::warn!(job = %job.id, "lost the job's lease: another worker holds it now");
            observe(options, job.kind, "lease_lost", started);
            return;
        }
        (Ok(result), _) => (
            JobEnd::Succeeded {
                result,
                progress: running.progress(),
            },
            "succeeded",
        ),
        (Err(JobError::Stopped), Some(Stop::Cancelled)) => (JobEnd::Cancelled, "cancelled"),
        (Err(JobError::Stopped), _) => (JobEnd::Released, "released"),
        (Err(JobError::Failed { message, retry }), _) => {
            if retry && job.attempts < job.max_attempts {
                let delay = backoff(job.attempts);
                tracing::warn!(job = %job.id, error = %message, retry_in = %humantime::format_duration(delay), "job failed; it will be retried");
                let retry_at = now_millis()
                    .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                (
                    JobEnd::Failed {
                        error: message,
                        retry_at: Some(retry_at),
                    },
                    "retried",
                )
            } else {
                tracing::warn!(job = %job.id, error = %message, "job failed");
                (
                    JobEnd::Failed {
                        error: message,
                        retry_at: None,
                    },
                    "failed",
                )
            }
        }
    };
    if !matches!(end, JobEnd::Succeeded { .. }) {
        // The last step's progress and checkpoint, so that the next holder resumes there.
        let _ = running.beat(store, options.lease).await;
    }
    finish(store, options, &running, &end).await;
    tracing::info!(job = %job.id, kind = %job.kind, outcome = label, elapsed = ?started.elapsed(), "job ended");
    observe(options, job.kind, label, started);
}

/// Ends the hold on the job, trying again for as long as the lease lasts if the store does
/// not answer; after that the job is another worker's to take over.
async fn finish(store: &Store, options: &WorkerOptions, running: &Running, end: &JobEnd) {
    let deadline = Instant::now() + options.lease;
    loop {
        match store.finish(&running.lease, end).await {
            Ok(true) => return,
            Ok(false) => {
                tracing::warn!(job = %running.job.id, "the job was taken over before it could be ended");
                return;
            }
            Err(err) if Instant::now() < deadline => {
                tracing::warn!(job = %running.job.id, error = %err, "cannot end the job; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => {
                tracing::error!(job = %running.job.id, error = %err, "cannot end the job; its lease will run out and another worker will take it over");
                return;
            }
        }
    }
}

fn observe(options: &WorkerOptions, kind: JobKind, outcome: &str, started: Instant) {
    if let Some(observer) = &options.observer {
        observer.job_ended(kind, outcome, started.elapsed());
    }
}

/// Refreshes the worker's record and enqueues the period's maintenance, until aborted.
async fn keep_registered(store: Store, options: WorkerOptions) {
    let started_at = now_millis();
    let mut ticks = tokio::time::interval(REGISTER_EVERY);
    let mut last_period = None;
    loop {
        ticks.tick().await;
        let now = now_millis();
        let record = WorkerRecord {
            name: options.name.clone(),
            concurrency: options.concurrency,
            started_at,
            last_seen: now,
        };
        if let Err(err) = store.worker_seen(&record).await {
            tracing::debug!(error = %err, "cannot refresh the worker's record");
            continue;
        }
        let period = maintenance_period(now);
        if last_period != Some(period) {
            match enqueue_maintenance(&store, period).await {
                Ok(()) => last_period = Some(period),
                Err(err) => tracing::debug!(error = %err, "cannot enqueue the maintenance"),
            }
        }
    }
}

/// The number of the maintenance period `now` (ms) falls in.
pub fn maintenance_period(now: i64) -> i64 {
    now.div_euclid(i64::try_from(MAINTENANCE_PERIOD.as_millis()).unwrap_or(i64::MAX))
}

/// Enqueues the maintenance of `period`, unless some worker already did.
pub async fn enqueue_maintenance(
    store: &Store,
    period: i64,
) -> Result<(), crate::store::StoreError> {
    let mut job = new_job(JobKind::Maintenance, json!({ "scheduled": true }));
    job.unique_key = Some(format!("maintenance:{period}"));
    let (stored, created) = store.enqueue(&job).await?;
    if created {
        tracing::info!(job = %stored.id, "maintenance scheduled");
    }
    Ok(())
}
