//! The Redis job queue: a hash per job, indexes beside it, and one Lua script per change.
//!
//! # Key layout
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `tally:{jobs}:job:<id>` | hash | the job's fields (absent fields are `None`; `params` and `result` as JSON text) |
//! | `tally:{jobs}:ids` | sorted set | every id, score 0 |
//! | `tally:{jobs}:status:<status>` | sorted set | the ids with that status, score 0 |
//! | `tally:{jobs}:leases` | sorted set | the running ids, scored by `lease_until` |
//! | `tally:{jobs}:finished` | sorted set | the finished ids, scored by `finished_at` |
//! | `tally:{jobs}:counts` | hash | `kind status` → how many jobs |
//! | `tally:{jobs}:unique` | hash | `unique_key` → id |
//! | `tally:{jobs}:workers` | hash | worker name → `concurrency started_at last_seen` |
//! | `tally:{jobs}:chunk:<id>:<part>:<seq>` | string | one chunk of a job's byte stream |
//! | `tally:{jobs}:chunks:<id>` | set | the chunk keys of a job, for `drop_chunks` and `purge` |
//!
//! Ids are UUIDv7 text, which sorts by time, and a sorted set whose members all score 0 is
//! ordered by bytes: "newest first" and the listing cursor are a `ZREVRANGEBYLEX` below an id,
//! and "the oldest queued job" is the start of the `queued` set. The lease and finished sets
//! make the expired leases and the old finished jobs a range query, and the counts hash makes
//! `count_jobs` one read instead of a walk over every job.
//!
//! # One hash tag for everything
//!
//! Every key carries the tag `{jobs}`, so the whole queue is in one Redis Cluster slot. That is
//! what lets each operation be one script: a claim decides *which* job to take while it runs,
//! reading the queued set, the leases and the candidate jobs' hashes and then writing the job
//! and four indexes, which on a cluster is only allowed when all of them share the slot of
//! the script's declared key (each script declares the id set, and names the rest from the
//! same prefix, since the job it will touch is not known before it runs). The cost is that
//! the queue, chunks included, lives on one cluster node: fine for its volume, a few jobs a
//! day and the chunks of the exports and imports of the last week, next to counters that
//! spread over the whole cluster.
//!
//! # Atomic steps
//!
//! Every change that touches more than one key is a script (`queue_scripts.rs`): enqueue (the
//! unique key checked and taken in the same step), claim, heartbeat and finish (which check
//! `status == running` and the lease token before writing anything), settle, cancel, retry,
//! purge, and the chunk writes. Times are the caller's milliseconds, never Redis `TIME`, so
//! every backend compares the same clocks. Scripts are run through `redis::Script`, which
//! loads one that Redis forgot (`NOSCRIPT`, after a restart) and runs it again; that is safe
//! since a script Redis did not know ran not at all. Nothing else is retried.

use std::{collections::HashMap, str::FromStr};

use async_trait::async_trait;
use redis::{FromRedisValue, Script};
use serde_json::Value;

use super::{RedisStore, arg, garbled, keys};
use crate::store::{
    Backend, JobQueue, StoreError,
    job::{
        Held, JobCount, JobEnd, JobId, JobKind, JobRecord, JobStatus, Lease, NewJob, Progress,
        WorkerRecord,
    },
};

/// How many finished jobs one purge script deletes, so that a large purge does not block Redis
/// for long; the purge runs it until a batch comes back short.
const PURGE_BATCH: usize = 200;

impl RedisStore {
    /// Runs a queue script with the id set (and `set`, for a listing) as its keys.
    async fn run_queue<T: FromRedisValue>(
        &self,
        script: &Script,
        set: Option<&str>,
        args: &[Vec<u8>],
    ) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        invocation.key(keys::JOB_IDS);
        if let Some(set) = set {
            invocation.key(set);
        }
        for arg in args {
            invocation.arg(arg.as_slice());
        }
        let mut conn = self.connection();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))
    }

    /// Runs a plain command.
    async fn command<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.connection();
        cmd.query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))
    }
}

/// A script's reply about one job: its status word, then the job hash's field/value pairs.
struct JobReply {
    status: String,
    fields: Vec<Vec<u8>>,
}

impl JobReply {
    fn parse(mut raw: Vec<Vec<u8>>) -> Result<JobReply, StoreError> {
        if raw.is_empty() {
            return Err(garbled("a queue script answered without a status".into()));
        }
        let status = String::from_utf8(raw.remove(0))
            .map_err(|_| garbled("a queue script's status is not text".into()))?;
        Ok(JobReply {
            status,
            fields: raw,
        })
    }

    fn record(&self) -> Result<JobRecord, StoreError> {
        job_record(Fields::from_pairs(&self.fields)?)
    }

    fn unexpected(&self) -> StoreError {
        garbled(format!("unexpected queue script reply `{}`", self.status))
    }
}

/// A job hash, by field name.
struct Fields(HashMap<String, Vec<u8>>);

impl Fields {
    fn from_pairs(pairs: &[Vec<u8>]) -> Result<Fields, StoreError> {
        if !pairs.len().is_multiple_of(2) {
            return Err(garbled(
                "a job hash came back with an odd field count".into(),
            ));
        }
        let mut fields = HashMap::with_capacity(pairs.len() / 2);
        for pair in pairs.chunks_exact(2) {
            let name = String::from_utf8(pair[0].clone())
                .map_err(|_| garbled("a job hash has a field name that is not text".into()))?;
            fields.insert(name, pair[1].clone());
        }
        Ok(Fields(fields))
    }

    fn text(&self, name: &str) -> Result<Option<&str>, StoreError> {
        self.0
            .get(name)
            .map(|bytes| {
                std::str::from_utf8(bytes)
                    .map_err(|_| garbled(format!("job field `{name}` is not text")))
            })
            .transpose()
    }

    fn required(&self, name: &str) -> Result<&str, StoreError> {
        self.text(name)?
            .ok_or_else(|| garbled(format!("a job hash lacks `{name}`")))
    }

    fn number<T: FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.text(name)?
            .map(|text| {
                text.parse()
                    .map_err(|_| garbled(format!("job field `{name}` is {text:?}, not a number")))
            })
            .transpose()
    }

    fn required_number<T: FromStr>(&self, name: &str) -> Result<T, StoreError> {
        self.number(name)?
            .ok_or_else(|| garbled(format!("a job hash lacks `{name}`")))
    }

    fn json(&self, name: &str) -> Result<Option<Value>, StoreError> {
        self.text(name)?
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|err| garbled(format!("job field `{name}` is not JSON: {err}")))
            })
            .transpose()
    }
}

fn job_record(fields: Fields) -> Result<JobRecord, StoreError> {
    let owned = |text: Option<&str>| text.map(str::to_owned);
    let cancel_requested = match fields.required("cancel_requested")? {
        "0" => false,
        "1" => true,
        other => return Err(garbled(format!("cancel_requested is {other:?}"))),
    };
    Ok(JobRecord {
        id: JobId::parse(fields.required("id")?).map_err(|err| garbled(err.to_string()))?,
        kind: JobKind::parse(fields.required("kind")?).map_err(|err| garbled(err.to_string()))?,
        status: JobStatus::parse(fields.required("status")?)
            .map_err(|err| garbled(err.to_string()))?,
        params: fields
            .json("params")?
            .ok_or_else(|| garbled("a job hash lacks `params`".into()))?,
        progress: Progress {
            done: fields.required_number("done")?,
            total: fields.number("total")?,
            message: fields.required("message")?.to_owned(),
        },
        attempts: fields.required_number("attempts")?,
        max_attempts: fields.required_number("max_attempts")?,
        error: owned(fields.text("error")?),
        result: fields.json("result")?,
        worker: owned(fields.text("worker")?),
        lease_token: owned(fields.text("lease_token")?),
        lease_until: fields.number("lease_until")?,
        run_after: fields.required_number("run_after")?,
        cancel_requested,
        checkpoint: owned(fields.text("checkpoint")?),
        unique_key: owned(fields.text("unique_key")?),
        created_at: fields.required_number("created_at")?,
        started_at: fields.number("started_at")?,
        finished_at: fields.number("finished_at")?,
        updated_at: fields.required_number("updated_at")?,
    })
}

/// JSON text for the job hash.
fn json(value: &Value) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|err| StoreError::failed(Backend::Redis, err))
}

/// A flag and a value for an optional argument (`''` alone could not tell `Some("")` apart).
fn optional(value: Option<&str>) -> [Vec<u8>; 2] {
    match value {
        Some(value) => [arg(1), value.as_bytes().to_vec()],
        None => [arg(0), Vec::new()],
    }
}

/// A progress total: `''` while unknown.
fn total(progress: &Progress) -> Vec<u8> {
    progress.total.map_or_else(Vec::new, arg)
}

/// A `found` job, or `None` for `missing`.
fn found(reply: JobReply) -> Result<Option<JobRecord>, StoreError> {
    match reply.status.as_str() {
        "found" => reply.record().map(Some),
        "missing" => Ok(None),
        _ => Err(reply.unexpected()),
    }
}

/// A worker from its name and stored `concurrency started_at last_seen`.
fn worker_record(name: String, stored: &str) -> Result<WorkerRecord, StoreError> {
    let bad = || garbled(format!("worker {name} is stored as {stored:?}"));
    let mut parts = stored.split(' ');
    let mut next = || parts.next().ok_or_else(bad);
    let concurrency = next()?.parse().map_err(|_| bad())?;
    let started_at = next()?.parse().map_err(|_| bad())?;
    let last_seen = next()?.parse().map_err(|_| bad())?;
    Ok(WorkerRecord {
        name,
        concurrency,
        started_at,
        last_seen,
    })
}

#[async_trait]
impl JobQueue for RedisStore {
    async fn enqueue(&self, job: &NewJob) -> Result<(JobRecord, bool), StoreError> {
        let [has_unique, unique] = optional(job.unique_key.as_deref());
        let args = [
            arg(job.id),
            arg(job.kind),
            json(&job.params)?,
            arg(job.max_attempts),
            arg(job.created_at),
            has_unique,
            unique,
        ];
        let raw = self
            .run_queue(&self.queue_scripts.enqueue, None, &args)
            .await?;
        let reply = JobReply::parse(raw)?;
        match reply.status.as_str() {
            "created" => Ok((reply.record()?, true)),
            "exists" => Ok((reply.record()?, false)),
            _ => Err(reply.unexpected()),
        }
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let stored: HashMap<String, Vec<u8>> = self
            .command(redis::cmd("HGETALL").arg(keys::job_key(id)))
            .await?;
        if stored.is_empty() {
            return Ok(None);
        }
        job_record(Fields(stored)).map(Some)
    }

    async fn jobs(
        &self,
        status: Option<JobStatus>,
        before: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let set = status.map_or_else(|| keys::JOB_IDS.to_owned(), keys::job_status_key);
        let max = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        let pages: Vec<Vec<Vec<u8>>> = self
            .run_queue(
                &self.queue_scripts.list,
                Some(&set),
                &[arg(max), arg(limit)],
            )
            .await?;
        pages
            .iter()
            // An id whose hash is gone would be a bug; skipping it keeps the listing usable.
            .filter(|pairs| !pairs.is_empty())
            .map(|pairs| job_record(Fields::from_pairs(pairs)?))
            .collect()
    }

    async fn settle_expired(&self, now: i64) -> Result<u64, StoreError> {
        let settled: u64 = self
            .run_queue(&self.queue_scripts.settle_expired, None, &[arg(now)])
            .await?;
        Ok(settled)
    }

    async fn claim(
        &self,
        worker: &str,
        token: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let args = [arg(worker), arg(token), arg(now), arg(lease_until)];
        let raw = self
            .run_queue(&self.queue_scripts.claim, None, &args)
            .await?;
        let reply = JobReply::parse(raw)?;
        match reply.status.as_str() {
            "claimed" => reply.record().map(Some),
            "none" => Ok(None),
            _ => Err(reply.unexpected()),
        }
    }

    async fn heartbeat(
        &self,
        lease: &Lease,
        progress: &Progress,
        checkpoint: Option<&str>,
        now: i64,
        lease_until: i64,
    ) -> Result<Held, StoreError> {
        let [has_checkpoint, checkpoint] = optional(checkpoint);
        let args = [
            arg(lease.job),
            arg(&lease.token),
            arg(progress.done),
            total(progress),
            arg(&progress.message),
            has_checkpoint,
            checkpoint,
            arg(now),
            arg(lease_until),
        ];
        let raw: Vec<Vec<u8>> = self
            .run_queue(&self.queue_scripts.heartbeat, None, &args)
            .await?;
        match raw.iter().map(Vec::as_slice).collect::<Vec<_>>().as_slice() {
            [b"held", flag] => Ok(Held::Yes {
                cancel_requested: *flag == b"1",
            }),
            [b"lost"] => Ok(Held::Lost),
            _ => Err(garbled("unexpected heartbeat reply".into())),
        }
    }

    async fn finish(&self, lease: &Lease, end: &JobEnd, now: i64) -> Result<bool, StoreError> {
        let mut args = vec![arg(lease.job), arg(&lease.token), arg(now)];
        match end {
            JobEnd::Succeeded { result, progress } => args.extend([
                arg("succeeded"),
                json(result)?,
                arg(progress.done),
                total(progress),
                arg(&progress.message),
            ]),
            JobEnd::Failed { error, retry_at } => args.extend([
                arg("failed"),
                arg(error),
                retry_at.map_or_else(Vec::new, arg),
            ]),
            JobEnd::Cancelled => args.push(arg("cancelled")),
            JobEnd::Released => args.push(arg("released")),
        }
        let done: i64 = self
            .run_queue(&self.queue_scripts.finish, None, &args)
            .await?;
        Ok(done == 1)
    }

    async fn cancel(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError> {
        let raw = self
            .run_queue(&self.queue_scripts.cancel, None, &[arg(id), arg(now)])
            .await?;
        found(JobReply::parse(raw)?)
    }

    async fn retry(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError> {
        let raw = self
            .run_queue(&self.queue_scripts.retry, None, &[arg(id), arg(now)])
            .await?;
        found(JobReply::parse(raw)?)
    }

    async fn purge(&self, finished_before: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let args = [arg(finished_before), arg(PURGE_BATCH)];
            let (looked, gone): (usize, u64) = self
                .run_queue(&self.queue_scripts.purge, None, &args)
                .await?;
            deleted += gone;
            if looked < PURGE_BATCH {
                return Ok(deleted);
            }
        }
    }

    async fn count_jobs(&self) -> Result<Vec<JobCount>, StoreError> {
        let stored: HashMap<String, i64> = self
            .command(redis::cmd("HGETALL").arg(keys::JOB_COUNTS))
            .await?;
        let mut counts = Vec::with_capacity(stored.len());
        for (pair, count) in stored {
            let bad = || garbled(format!("job count {pair:?} is not `kind status`"));
            let (kind, status) = pair.split_once(' ').ok_or_else(bad)?;
            let (kind, status) = (
                JobKind::parse(kind).map_err(|_| bad())?,
                JobStatus::parse(status).map_err(|_| bad())?,
            );
            // A count falls to 0 and is removed in the same script; skip one that did not.
            if let Ok(count @ 1..) = u64::try_from(count) {
                counts.push(JobCount {
                    kind,
                    status,
                    count,
                });
            }
        }
        counts.sort_by_key(|count| (count.kind, count.status));
        Ok(counts)
    }

    async fn worker_seen(&self, worker: &WorkerRecord) -> Result<(), StoreError> {
        let stored = format!(
            "{} {} {}",
            worker.concurrency, worker.started_at, worker.last_seen
        );
        self.command::<()>(
            redis::cmd("HSET")
                .arg(keys::JOB_WORKERS)
                .arg(&worker.name)
                .arg(stored),
        )
        .await
    }

    async fn worker_gone(&self, name: &str) -> Result<(), StoreError> {
        self.command::<()>(redis::cmd("HDEL").arg(keys::JOB_WORKERS).arg(name))
            .await
    }

    async fn workers(&self, seen_since: i64) -> Result<Vec<WorkerRecord>, StoreError> {
        let stored: HashMap<String, String> = self
            .command(redis::cmd("HGETALL").arg(keys::JOB_WORKERS))
            .await?;
        let mut workers = Vec::with_capacity(stored.len());
        for (name, stored) in stored {
            let worker = worker_record(name, &stored)?;
            if worker.last_seen >= seen_since {
                workers.push(worker);
            }
        }
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(workers)
    }

    async fn put_chunk(
        &self,
        id: &JobId,
        part: &str,
        seq: u32,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let args = [arg(id), arg(keys::chunk_key(id, part, seq)), data.to_vec()];
        self.run_queue::<()>(&self.queue_scripts.put_chunk, None, &args)
            .await
    }

    async fn chunk(&self, id: &JobId, part: &str, seq: u32) -> Result<Option<Vec<u8>>, StoreError> {
        self.command(redis::cmd("GET").arg(keys::chunk_key(id, part, seq)))
            .await
    }

    async fn drop_chunks(&self, id: &JobId, part: &str) -> Result<(), StoreError> {
        self.run_queue::<()>(&self.queue_scripts.drop_chunks, None, &[arg(id), arg(part)])
            .await
    }
}
