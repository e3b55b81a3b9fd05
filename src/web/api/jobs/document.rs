//! What the job routes answer, as types (serialized by the handlers, described by the OpenAPI
//! document): the job document of the design (§9), the workers, and the listing's page.
//!
//! The document shows what a client can act on and nothing of the queue's machinery: no lease
//! token or lease time, no checkpoint, no unique key. `params` is shown with a copy target's
//! password hidden ([`shown_params`]), since the document goes to browsers and logs.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::super::counters::timestamp;
use crate::{
    jobs::shown_params,
    store::job::{JobRecord, WorkerRecord},
};

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobDocument {
    /// A UUIDv7: ids sort by creation time.
    #[schema(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub id: String,
    #[schema(value_type = JobKindName)]
    pub kind: &'static str,
    #[schema(value_type = JobStatusName)]
    pub status: &'static str,
    pub progress: ProgressDocument,
    /// Claims so far (a job taken over from a worker that died counts that attempt).
    #[schema(minimum = 0)]
    pub attempts: u32,
    #[schema(minimum = 1)]
    pub max_attempts: u32,
    /// The last failure's message (kept while a failed attempt waits for its retry).
    pub error: Option<String>,
    /// What the job gave, once it succeeded: for an export `{"counters", "bytes", "part"}`,
    /// its NDJSON downloadable from `/api/v1/jobs/{id}/result`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The worker holding the job, `host:pid`; null when none does.
    pub worker: Option<String>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The last claim; null until the job first runs.
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// Null until the job is finished (succeeded, failed or cancelled).
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// The job's input: a copy's `target` (its password shown as `***`), an import's `bytes`.
    #[schema(value_type = Object)]
    pub params: Value,
}

/// How far a job has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProgressDocument {
    #[schema(minimum = 0)]
    pub done: u64,
    /// Null until the job has counted its work.
    #[schema(minimum = 0)]
    pub total: Option<u64>,
    pub message: String,
}

impl JobDocument {
    pub fn of(job: &JobRecord) -> JobDocument {
        JobDocument {
            id: job.id.to_string(),
            kind: job.kind.as_str(),
            status: job.status.as_str(),
            progress: ProgressDocument {
                done: job.progress.done,
                total: job.progress.total,
                message: job.progress.message.clone(),
            },
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            error: job.error.clone(),
            result: job.result.clone(),
            worker: job.worker.clone(),
            created_at: timestamp(job.created_at),
            started_at: job.started_at.map(timestamp),
            finished_at: job.finished_at.map(timestamp),
            params: shown_params(&job.params),
        }
    }
}

// Documentation only, here and in the two types below: the document carries the store's own
// names (checked against these by a test), and the handler reads the body of
// `POST /api/v1/jobs` with `JobRequest::from_json`, whose errors say what is wrong.

/// What a job does.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum JobKindName {
    Export,
    Import,
    Copy,
    Maintenance,
}

/// Where a job is: `queued` and `running` are open, the other three final.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum JobStatusName {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// The body of `POST /api/v1/jobs`: the kind of job, and a copy's target.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[allow(dead_code)]
pub enum NewJobBody {
    /// Every counter as NDJSON, downloadable once the job has succeeded.
    Export,
    /// Every counter into another store.
    Copy {
        /// A store URI tally accepts: `postgres://…`, `sqlite://…` or `redis://…`.
        #[schema(pattern = "^(postgres|postgresql|sqlite|redis|rediss)://")]
        target: String,
    },
    /// History retention and the daily salt, now.
    Maintenance,
}

/// One page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobDocument>,
    /// The `cursor` of the next page (the last id of this one); null on the last page.
    #[schema(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub next_cursor: Option<String>,
}

/// A worker process (or `tally serve`'s in-process workers), as it last reported itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerDocument {
    /// `host:pid`.
    pub name: String,
    /// Jobs it runs at once.
    #[schema(minimum = 0)]
    pub concurrency: u32,
    #[schema(format = DateTime)]
    pub started_at: String,
    /// Its last heartbeat.
    #[schema(format = DateTime)]
    pub last_seen: String,
    /// Not seen for longer than `JOB_LEASE`: stopped or stuck; its jobs go to other workers.
    pub stale: bool,
}

impl WorkerDocument {
    /// `worker` as shown at `now` (ms), stale when not seen for `lease_ms`.
    pub fn of(worker: &WorkerRecord, now: i64, lease_ms: i64) -> WorkerDocument {
        WorkerDocument {
            name: worker.name.clone(),
            concurrency: worker.concurrency,
            started_at: timestamp(worker.started_at),
            last_seen: timestamp(worker.last_seen),
            stale: worker.last_seen < now.saturating_sub(lease_ms),
        }
    }
}

/// The workers seen lately.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerList {
    pub workers: Vec<WorkerDocument>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use utoipa::PartialSchema;

    use super::*;
    use crate::store::job::{JobId, JobKind, JobStatus, Progress};

    /// The documented names are the store's, so the two enums cannot drift apart unseen.
    #[test]
    fn the_documented_kinds_and_statuses_are_the_stores() {
        let names = |schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            let schema = serde_json::to_value(schema).expect("serialize");
            schema["enum"].clone()
        };
        let kinds: Vec<&str> = JobKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(names(JobKindName::schema()), json!(kinds));
        let statuses: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names(JobStatusName::schema()), json!(statuses));
    }

    #[test]
    fn the_document_hides_the_password_and_the_lease() {
        let record = JobRecord {
            id: JobId::new(),
            kind: JobKind::Copy,
            status: JobStatus::Running,
            params: json!({"target": "postgres://u:hunter2@db/x"}),
            progress: Progress {
                done: 3,
                total: Some(10),
                message: "copying".into(),
            },
            attempts: 1,
            max_attempts: 3,
            error: None,
            result: None,
            worker: Some("host:42".into()),
            lease_token: Some("secret-lease".into()),
            lease_until: Some(2_000),
            run_after: 0,
            cancel_requested: false,
            checkpoint: Some("ns/key".into()),
            unique_key: None,
            created_at: 0,
            started_at: Some(1_000),
            finished_at: None,
            updated_at: 1_000,
        };
        let shown = serde_json::to_value(JobDocument::of(&record)).expect("serialize");
        assert_eq!(shown["params"], json!({"target": "postgres://u:***@db/x"}));
        assert_eq!(shown["started_at"], "1970-01-01T00:00:01.000Z");
        assert_eq!(shown["finished_at"], Value::Null);
        assert_eq!(
            shown["progress"],
            json!({"done": 3, "total": 10, "message": "copying"})
        );
        let all = shown.to_string();
        assert!(
            !all.contains("hunter2") && !all.contains("secret-lease"),
            "{all}"
        );
        // The design's order (serde_json's `Value` sorts keys, so read the text).
        let text = serde_json::to_string(&JobDocument::of(&record)).expect("serialize");
        let order = [
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
        let at: Vec<usize> = order
            .iter()
            .map(|key| text.find(&format!("\"{key}\":")).expect(key))
            .collect();
        assert!(at.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
        assert_eq!(
            shown.as_object().map(|fields| fields.len()),
            Some(order.len())
        );
    }

    #[test]
    fn a_worker_is_stale_past_the_lease() {
        let worker = WorkerRecord {
            name: "host:1".into(),
            concurrency: 2,
            started_at: 0,
            last_seen: 10_000,
        };
        assert!(!WorkerDocument::of(&worker, 30_000, 30_000).stale);
        assert!(WorkerDocument::of(&worker, 40_001, 30_000).stale);
    }
}
