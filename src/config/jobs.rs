//! `WORKERS` and `JOB_LEASE`: how many jobs `tally serve` runs itself, and how long a worker
//! that stopped answering keeps its job (README, "Background jobs").
//!
//! `WORKERS` defaults to 1 so that `cargo run` alone runs the jobs its dashboard starts;
//! compose sets 0 on `web` and runs a `worker` service instead. `JOB_LEASE` is a duration of at
//! least 1 s: workers renew their lease every second, so anything shorter would let a healthy
//! worker lose its job to a slow heartbeat.

use std::time::Duration;

use super::{error::ConfigError, parse::parse_duration};
use crate::cli::Settings;

pub const DEFAULT_WORKERS: u32 = 1;
pub const MAX_WORKERS: u32 = 64;
pub const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(30);
const MIN_JOB_LEASE: Duration = Duration::from_secs(1);

/// What the job workers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// `WORKERS`: in-process workers of `tally serve` (0 ..= 64).
    pub workers: u32,
    /// `JOB_LEASE`.
    pub lease: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            workers: DEFAULT_WORKERS,
            lease: DEFAULT_JOB_LEASE,
        }
    }
}

pub(super) fn parse_jobs(settings: &Settings) -> Result<JobSettings, ConfigError> {
    let workers = match settings.workers.as_deref() {
        None => DEFAULT_WORKERS,
        Some(value) => parse_count("WORKERS", value, 0)?,
    };
    let lease = match settings.job_lease.as_deref() {
        None => DEFAULT_JOB_LEASE,
        Some(value) => {
            let lease = parse_duration("JOB_LEASE", value)?;
            if lease < MIN_JOB_LEASE {
                return Err(ConfigError::invalid(
                    "JOB_LEASE",
                    value,
                    "a duration of at least 1s, such as 30s or 2m",
                ));
            }
            lease
        }
    };
    Ok(JobSettings { workers, lease })
}

/// A number of workers from `min` to [`MAX_WORKERS`].
pub fn parse_count(variable: &'static str, value: &str, min: u32) -> Result<u32, ConfigError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|count| (min..=MAX_WORKERS).contains(count))
        .ok_or_else(|| {
            ConfigError::invalid(
                variable,
                value,
                &format!("a whole number from {min} to {MAX_WORKERS}"),
            )
        })
}
