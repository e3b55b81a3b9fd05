//! What the job queue stores: a [`JobRecord`] per job, the workers that run them and the byte
//! chunks of an import's input and an export's result.
//!
//! These types know nothing of what a job *does* (that is [`crate::jobs`]); they are the
//! queue's rows. Times are milliseconds since the Unix epoch, from the clock of the process
//! that made the call: a queue shared by several hosts relies on their clocks agreeing to well
//! within a lease (30 s by default), which NTP gives.
//!
//! Ids are UUIDv7: their text sorts by creation time, so "newest first" and the listing cursor
//! are plain comparisons of the id in every backend.

use std::fmt;

use serde_json::Value;
use uuid::Uuid;

use super::StoreError;

/// A job's id: a UUIDv7 in its hyphenated lowercase form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(Uuid);

impl JobId {
    /// A fresh id, later than every id made before it by this process.
    pub fn new() -> JobId {
        JobId(Uuid::now_v7())
    }

    /// Parses an id as the API shows it; anything else is invalid input.
    pub fn parse(text: &str) -> Result<JobId, StoreError> {
        Uuid::try_parse(text)
            .map(JobId)
            .map_err(|_| StoreError::invalid_input(format!("`{text}` is not a job id (a UUID)")))
    }
}

impl Default for JobId {
    fn default() -> Self {
        JobId::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Parses the text form; anything else is invalid input naming the accepted values.
            pub fn parse(text: &str) -> Result<$name, StoreError> {
                match text {
                    $($text => Ok($name::$variant),)*
                    other => Err(StoreError::invalid_input(format!(
                        concat!("`{}` is not a ", $what, "; one of: {}"),
                        other,
                        [$($text),*].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// What a job does; [`crate::jobs`] has one module per kind.
    JobKind, "job kind" {
        Export => "export",
        Import => "import",
        Copy => "copy",
        Maintenance => "maintenance",
    }
);

text_enum!(
    /// Where a job is in its life. `Queued` and `Running` are open; the other three are final.
    JobStatus, "job status" {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl JobStatus {
    /// True for the statuses a job never leaves by itself.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// How far a job has got: `done` of `total` units (counters, lines), and what it is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    /// Unknown until the job has counted its work.
    pub total: Option<u64>,
    pub message: String,
}

/// A job to add to the queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub kind: JobKind,
    /// The kind's own input (a copy's target, an import's size), as JSON.
    pub params: Value,
    pub max_attempts: u32,
    /// Jobs with the same key are one job: the periodic maintenance uses the start of its
    /// period, so that however many workers enqueue it, it is stored (and runs) once.
    pub unique_key: Option<String>,
    pub created_at: i64,
}

/// Everything the queue stores about one job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: JobKind,
    pub status: JobStatus,
    pub params: Value,
    pub progress: Progress,
    /// Claims so far: a job taken over after its worker died counts that attempt; one handed
    /// back at SIGTERM does not.
    pub attempts: u32,
    pub max_attempts: u32,
    /// The last failure's message (kept while a job waits for its retry).
    pub error: Option<String>,
    pub result: Option<Value>,
    /// The holder, `host:pid`, while running.
    pub worker: Option<String>,
    /// The holder's lease: changes at every claim, so a worker that lost its lease cannot
    /// write over the next holder's work.
    pub lease_token: Option<String>,
    pub lease_until: Option<i64>,
    /// A queued job is not claimed before this time (the backoff of a retry).
    pub run_after: i64,
    /// Set by a cancel while running; the holder stops at its next heartbeat.
    pub cancel_requested: bool,
    /// Where a job that is taken over resumes (the last counter a copy wrote).
    pub checkpoint: Option<String>,
    pub unique_key: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

/// A claimed job, as its worker holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job: JobId,
    pub token: String,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Still ours; `cancel_requested` says the job should stop.
    Yes { cancel_requested: bool },
    /// Someone else holds it now (or it was finished by a cancel): stop, write nothing.
    Lost,
}

/// How a holder ends its hold on a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    Succeeded {
        result: Value,
        progress: Progress,
    },
    /// With `retry_at`, back to `queued` until then (the error kept); without, `failed`.
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
    Cancelled,
    /// Handed back unfinished (SIGTERM): `queued` again at once, the attempt not counted,
    /// the checkpoint kept.
    Released,
}

/// A worker process (or `tally serve`'s in-process workers), as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRecord {
    /// `host:pid`.
    pub name: String,
    pub concurrency: u32,
    pub started_at: i64,
    pub last_seen: i64,
}

/// How many jobs of one kind have one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCount {
    pub kind: JobKind,
    pub status: JobStatus,
    pub count: u64,
}
