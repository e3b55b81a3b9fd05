//! Background jobs: the long work of exporting, importing and copying every counter, and the
//! periodic maintenance, run by `tally worker` processes or by `tally serve`'s in-process
//! workers (README, "Background jobs").
//!
//! The queue itself is a store capability ([`crate::store::JobQueue`]), so jobs live in the
//! store tally already uses and need no broker of their own. This module is what runs on top
//! of it: checking requests ([`request`]), the byte streams of imports and exports
//! ([`chunks`]), the worker loop with its leases and heartbeats ([`worker`]), and one module
//! per kind of job.
//!
//! Why our own queue and not apalis: apalis 1.0 has PostgreSQL, SQLite and Redis backends,
//! but no progress field, no in-memory backend that passes the same contract, and its own
//! schema and worker model beside ours; tally's jobs need progress, a checkpoint to resume a
//! copy from, cancellation at a heartbeat and leases fenced by a token, on all four stores.
//! Those are some sixteen small queue operations per backend, checked by one contract suite
//! (`tests/api/job_contract.rs`), cheaper to own than to bend a framework to.

pub mod chunks;
mod copy;
mod export;
mod import;
mod kinds;
mod maintenance;
pub mod request;
pub mod running;
pub mod worker;

use std::time::Duration;

pub use maintenance::JOB_RETENTION;
pub use request::{JobRequest, MAX_ATTEMPTS, import_job, new_job, shown_params};
pub use worker::{WorkerOptions, worker_name};

use crate::store::{StoreError, StoreErrorKind, job::JobKind};

/// Why a job's code stopped without a result.
#[derive(Debug)]
pub enum JobError {
    /// It was asked to stop (cancel, shutdown, lost lease) and did, at a safe point.
    Stopped,
    /// It failed; `retry` says whether trying again may help (a store that was down) or not
    /// (a malformed import line).
    Failed { message: String, retry: bool },
}

impl JobError {
    /// A failure that trying again cannot fix.
    pub fn failed(message: impl Into<String>) -> JobError {
        JobError::Failed {
            message: message.into(),
            retry: false,
        }
    }

    /// A failure that may go away (a server that is down).
    pub fn transient(message: impl Into<String>) -> JobError {
        JobError::Failed {
            message: message.into(),
            retry: true,
        }
    }
}

impl From<StoreError> for JobError {
    fn from(err: StoreError) -> JobError {
        let retry = !matches!(
            err.kind(),
            StoreErrorKind::InvalidInput | StoreErrorKind::Overflow
        );
        JobError::Failed {
            message: err.to_string(),
            retry,
        }
    }
}

/// Told how every job run ended; implemented by the metrics.
pub trait JobObserver: Send + Sync + 'static {
    /// `outcome`: `succeeded`, `failed`, `retried` (failed, to run again), `cancelled`,
    /// `released` (handed back at shutdown) or `lease_lost`.
    fn job_ended(&self, kind: JobKind, outcome: &str, elapsed: Duration);
}
