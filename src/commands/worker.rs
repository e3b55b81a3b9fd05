//! `tally worker`: runs background jobs until SIGTERM or Ctrl-C (README, "Background jobs").
//!
//! On SIGTERM it stops claiming, asks the jobs it holds to stop at their next safe point (a
//! page boundary, well under a second away), hands them back to the queue, and exits 0: within
//! [`STOP_WITHIN`], under Docker's 10 s grace period. A job stuck in a store call longer than
//! that is left to its lease: the process exits anyway, and another worker takes the job over
//! once `JOB_LEASE` has passed.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::{
    config::{Config, ConfigError},
    jobs::{WorkerOptions, worker},
    startup::shutdown_signal,
    store::{self, Backend},
};

/// The longest `tally worker` takes to exit after SIGTERM.
pub const STOP_WITHIN: Duration = Duration::from_secs(8);

/// The worker's own setting, checked before the runtime starts.
pub fn check(config: &Config, concurrency: Option<&str>) -> Result<u32, ConfigError> {
    if config.store.backend() == Backend::Memory {
        return Err(ConfigError::new(
            "COUNTER_STORE",
            "memory cannot be shared with a separate `tally worker`; use postgres, redis or sqlite, or run jobs inside `tally serve` (WORKERS)",
        ));
    }
    match concurrency {
        None => Ok(1),
        Some(value) => crate::config::parse_count("WORKER_CONCURRENCY", value, 1),
    }
}

pub async fn run(config: Config, concurrency: u32) -> anyhow::Result<()> {
    let stop = shutdown_signal();
    let store = store::open(&config.store, config.store_timeout)
        .with_context(|| format!("Failed to open the {} store", config.store.backend()))?
        .with_history_days(config.history_days);
    tracing::info!(store = %store.backend(), reason = %config.store_reason, "job store selected");
    if let Err(err) = store.migrate().await {
        tracing::warn!(error = %err, "store not reachable at start; claims will retry until it is");
    }
    let (stopping, shutdown) = watch::channel(false);
    let mut running = tokio::spawn(worker::run(
        store.clone(),
        WorkerOptions::new(concurrency, config.jobs.lease),
        shutdown,
    ));
    tokio::select! {
        () = stop => {}
        _ = &mut running => {}
    }
    let _ = stopping.send(true);
    if tokio::time::timeout(STOP_WITHIN, &mut running)
        .await
        .is_err()
    {
        tracing::warn!(
            "jobs did not stop in time; their leases will run out and other workers will take them over"
        );
        running.abort();
    }
    store.close().await;
    Ok(())
}
