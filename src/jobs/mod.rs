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
pub mod request;

pub use request::{JobRequest, MAX_ATTEMPTS, import_job, new_job, shown_params};
