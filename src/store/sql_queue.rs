//! The job queue of both SQL backends: the `jobs`, `job_workers` and `job_chunks` tables
//! (`migrations/*/20261202000001_jobs.sql`), and [`JobQueue`] for [`PostgresStore`] and
//! [`SqliteStore`], written once.
//!
//! Written once because the statements are the same in both dialects: the tables have the
//! same columns, and SQLite (through sqlx) takes PostgreSQL's `$N` placeholders. What differs
//! is how the claim is made atomic, which is in each backend's [`QueueDialect`]:
//!
//! - **PostgreSQL** claims with `UPDATE … WHERE id = (SELECT id … ORDER BY id LIMIT 1 FOR
//!   UPDATE SKIP LOCKED) RETURNING …`: the sub-select locks the oldest claimable row, checking
//!   it again once locked, and skips rows that another claim holds, so parallel workers take
//!   different jobs without waiting on each other.
//! - **SQLite** claims with the same `UPDATE … RETURNING` without the lock clause: SQLite has
//!   one writer at a time, and a write statement takes the write lock before it reads, so the
//!   row it picks cannot change before it is updated.
//!
//! Every other change is one statement too, and a holder's writes (heartbeat, finish) carry
//! `WHERE id = $1 AND status = 'running' AND lease_token = $2`, so a worker whose lease ran out
//! writes nothing. `enqueue` with a unique key is `INSERT … ON CONFLICT (unique_key) DO
//! NOTHING` and then a read of the stored job, which the database keeps race-free: of two
//! inserts of one key, the second waits for the first and then does nothing. Only `purge`
//! (jobs and their chunks) takes a transaction on SQLite; PostgreSQL deletes both in one
//! statement.
//!
//! The semantics are those of the memory queue ([`super::memory_queue`]), the reference the
//! contract suite (`tests/api/job_contract.rs`) holds all four backends to.

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type, migrate::Migrate};

use super::{
    Backend, JobQueue, Lifecycle, StoreError,
    job::{
        Held, JobCount, JobEnd, JobId, JobKind, JobRecord, JobStatus, Lease, NewJob, Progress,
        WorkerRecord,
    },
    postgres::PostgresStore,
    sql::{SqlPool, page_limit},
    sqlite::SqliteStore,
};

/// Every column of `jobs`, as [`JobRow`] decodes them.
macro_rules! job_columns {
    () => {
        "id, kind, status, params, progress_done, progress_total, progress_message, attempts, \
         max_attempts, error, result, worker, lease_token, lease_until, run_after, \
         cancel_requested, checkpoint, unique_key, created_at, started_at, finished_at, \
         updated_at"
    };
}

/// The rows a claim may take at `$3` (now): queued ones whose backoff is over, and running ones
/// whose worker stopped answering and that may run again (the others are settled first).
macro_rules! claimable {
    () => {
        "(status = 'queued' AND run_after <= $3) \
         OR (status = 'running' AND lease_until < $3 AND NOT cancel_requested \
             AND attempts < max_attempts)"
    };
}

/// The claim: binds worker, lease token, now, lease end; `$lock` locks the row picked.
macro_rules! claim {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET status = 'running', worker = $1, lease_token = $2, \
                             lease_until = $4, attempts = attempts + 1, started_at = $3, \
                             updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE ",
            claimable!(),
            " ORDER BY id LIMIT 1",
            $lock,
            ") RETURNING ",
            job_columns!()
        )
    };
}

/// A holder's end of its hold: binds id, lease token, now, then `$set`'s own values (from `$4`).
/// Worker and lease are cleared; `RETURNING id` tells whether the lease still held the job.
macro_rules! finish {
    ($set:literal) => {
        concat!(
            "UPDATE jobs SET ",
            $set,
            ", worker = NULL, lease_token = NULL, lease_until = NULL, updated_at = $3 \
             WHERE id = $1 AND status = 'running' AND lease_token = $2 RETURNING id"
        )
    };
}

/// The error of a job settled because its worker stopped answering on its last attempt: the
/// text of [`super::memory_queue::expired_error`], which every backend writes (a unit test
/// below holds the two together).
macro_rules! expired_error {
    () => {
        "'its worker ' || COALESCE(worker, '(unknown)') \
         || ' stopped answering (lease expired) on attempt ' || attempts \
         || ' of ' || max_attempts"
    };
}

/// Old finished jobs: binds the time they must have finished before.
macro_rules! purgeable {
    () => {
        "status IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1"
    };
}

/// What differs between the dialects.
pub(super) struct QueueDialect {
    /// Takes the oldest claimable job: binds worker, lease token, now, lease end; returns the
    /// job's columns.
    claim: &'static str,
    /// Deletes the old finished jobs and their chunks, run in order in one transaction: binds
    /// the cut; the last returns the ids of the deleted jobs.
    purge: &'static [&'static str],
}

pub(super) const POSTGRES: QueueDialect = QueueDialect {
    claim: claim!(" FOR UPDATE SKIP LOCKED"),
    // Data-modifying CTEs all run, so the chunks go with exactly the jobs deleted.
    purge: &[concat!(
        "WITH gone AS (DELETE FROM jobs WHERE ",
        purgeable!(),
        " RETURNING id), \
         chunks AS (DELETE FROM job_chunks WHERE job_id IN (SELECT id FROM gone)) \
         SELECT id FROM gone"
    )],
};

pub(super) const SQLITE: QueueDialect = QueueDialect {
    claim: claim!(""),
    // The write transaction holds SQLite's one write lock, so both statements see one state.
    purge: &[
        concat!(
            "DELETE FROM job_chunks WHERE job_id IN (SELECT id FROM jobs WHERE ",
            purgeable!(),
            ")"
        ),
        concat!("DELETE FROM jobs WHERE ", purgeable!(), " RETURNING id"),
    ],
};

const ENQUEUE: &str = concat!(
    "INSERT INTO jobs (id, kind, status, params, progress_done, progress_total, \
                       progress_message, attempts, max_attempts, run_after, cancel_requested, \
                       unique_key, created_at, updated_at) \
     VALUES ($1, $2, 'queued', $3, 0, NULL, '', 0, $4, $5, FALSE, $6, $5, $5) \
     ON CONFLICT (unique_key) DO NOTHING RETURNING ",
    job_columns!()
);
const JOB_BY_KEY: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE unique_key = $1"
);
const JOB: &str = concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1");
const JOBS: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE id < $1 ORDER BY id DESC LIMIT $2"
);
const JOBS_WITH_STATUS: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM jobs WHERE status = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
);
/// The listing cursor when there is none: it sorts after every id (a UUID's text is hex
/// digits and hyphens) in byte order, which both tables' ids compare in.
const NO_CURSOR: &str = "~";

/// Binds now. The SET expressions read the row as it was, so the error names the worker that
/// the same statement clears.
const SETTLE_EXPIRED: &str = concat!(
    "UPDATE jobs SET \
         status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END, \
         error = CASE WHEN cancel_requested THEN error ELSE ",
    expired_error!(),
    " END, \
         worker = NULL, lease_token = NULL, lease_until = NULL, finished_at = $1, \
         updated_at = $1 \
     WHERE status = 'running' AND lease_until < $1 \
       AND (cancel_requested OR attempts >= max_attempts) \
     RETURNING id"
);

/// Binds id, lease token, done, total, message, checkpoint (NULL keeps the stored one), now,
/// lease end.
const HEARTBEAT: &str = "UPDATE jobs SET progress_done = $3, progress_total = $4, \
                                         progress_message = $5, \
                                         checkpoint = COALESCE($6, checkpoint), \
                                         updated_at = $7, lease_until = $8 \
                         WHERE id = $1 AND status = 'running' AND lease_token = $2 \
                         RETURNING cancel_requested";

/// Binds result, done, total, message.
const SUCCEEDED: &str = finish!(
    "status = 'succeeded', result = $4, progress_done = $5, progress_total = $6, \
     progress_message = $7, error = NULL, finished_at = $3"
);
/// Binds error, retry time.
const RETRY_LATER: &str = finish!("status = 'queued', error = $4, run_after = $5");
/// Binds error.
const FAILED: &str = finish!("status = 'failed', error = $4, finished_at = $3");
const CANCELLED: &str = finish!("status = 'cancelled', finished_at = $3");
/// Handed back: the attempt is not counted, the job runnable at once.
const RELEASED: &str = finish!(
    "status = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
     run_after = $3"
);

/// Binds id, now. One statement for both open statuses, so a job that changes between them
/// (a running job handed back) is cancelled by what it is when the statement runs. The CASEs
/// read the row as it was.
const CANCEL: &str = concat!(
    "UPDATE jobs SET \
         status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
         finished_at = CASE WHEN status = 'queued' THEN $2 ELSE finished_at END, \
         cancel_requested = CASE WHEN status = 'running' THEN TRUE ELSE cancel_requested END, \
         updated_at = $2 \
     WHERE id = $1 AND status IN ('queued', 'running') RETURNING ",
    job_columns!()
);

/// Binds id, now.
const RETRY: &str = concat!(
    "UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, result = NULL, \
                     checkpoint = NULL, cancel_requested = FALSE, progress_done = 0, \
                     progress_total = NULL, progress_message = '', run_after = $2, \
                     started_at = NULL, finished_at = NULL, updated_at = $2 \
     WHERE id = $1 AND status IN ('failed', 'cancelled') RETURNING ",
    job_columns!()
);

const COUNT_JOBS: &str = "SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status";

const WORKER_SEEN: &str = "INSERT INTO job_workers (name, concurrency, started_at, last_seen) \
                           VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (name) DO UPDATE \
                           SET concurrency = excluded.concurrency, \
                               started_at = excluded.started_at, \
                               last_seen = excluded.last_seen";
const WORKER_GONE: &str = "DELETE FROM job_workers WHERE name = $1";
const WORKERS: &str = "SELECT name, concurrency, started_at, last_seen FROM job_workers \
                       WHERE last_seen >= $1 ORDER BY name";

const PUT_CHUNK: &str = "INSERT INTO job_chunks (job_id, part, seq, data) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (job_id, part, seq) DO UPDATE SET data = excluded.data";
const CHUNK: &str = "SELECT data FROM job_chunks WHERE job_id = $1 AND part = $2 AND seq = $3";
const DROP_CHUNKS: &str = "DELETE FROM job_chunks WHERE job_id = $1 AND part = $2";

/// One row of `jobs`, as both backends decode it. Counts are BIGINT (u32 and u64 in tally).
#[derive(sqlx::FromRow)]
pub(super) struct JobRow {
    id: String,
    kind: String,
    status: String,
    params: String,
    progress_done: i64,
    progress_total: Option<i64>,
    progress_message: String,
    attempts: i64,
    max_attempts: i64,
    error: Option<String>,
    result: Option<String>,
    worker: Option<String>,
    lease_token: Option<String>,
    lease_until: Option<i64>,
    run_after: i64,
    cancel_requested: bool,
    checkpoint: Option<String>,
    unique_key: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    updated_at: i64,
}

impl JobRow {
    /// The record, or `Failed` for a row that no tally could have written (the table's checks
    /// keep kinds, statuses and counts valid, so this means someone edited it by hand).
    fn into_record(self, backend: Backend) -> Result<JobRecord, StoreError> {
        let id = self.id;
        let garbage = |what: &str, err: &dyn std::fmt::Display| {
            StoreError::failed(
                backend,
                format!("the stored job {id} has an invalid {what}: {err}"),
            )
        };
        let json =
            |what: &str, text: &str| serde_json::from_str(text).map_err(|err| garbage(what, &err));
        let count =
            |what: &str, value: i64| u32::try_from(value).map_err(|err| garbage(what, &err));
        let amount =
            |what: &str, value: i64| u64::try_from(value).map_err(|err| garbage(what, &err));
        Ok(JobRecord {
            id: JobId::parse(&id).map_err(|err| garbage("id", &err))?,
            kind: JobKind::parse(&self.kind).map_err(|err| garbage("kind", &err))?,
            status: JobStatus::parse(&self.status).map_err(|err| garbage("status", &err))?,
            params: json("params", &self.params)?,
            progress: Progress {
                done: amount("progress", self.progress_done)?,
                total: self
                    .progress_total
                    .map(|total| amount("progress total", total))
                    .transpose()?,
                message: self.progress_message,
            },
            attempts: count("attempts", self.attempts)?,
            max_attempts: count("max_attempts", self.max_attempts)?,
            error: self.error,
            result: self.result.map(|text| json("result", &text)).transpose()?,
            worker: self.worker,
            lease_token: self.lease_token,
            lease_until: self.lease_until,
            run_after: self.run_after,
            cancel_requested: self.cancel_requested,
            checkpoint: self.checkpoint,
            unique_key: self.unique_key,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            updated_at: self.updated_at,
        })
    }
}

/// One row of `job_workers`.
#[derive(sqlx::FromRow)]
pub(super) struct WorkerRow {
    name: String,
    concurrency: i64,
    started_at: i64,
    last_seen: i64,
}

impl WorkerRow {
    fn into_record(self, backend: Backend) -> Result<WorkerRecord, StoreError> {
        let concurrency = u32::try_from(self.concurrency).map_err(|err| {
            StoreError::failed(
                backend,
                format!("worker {} has an invalid concurrency: {err}", self.name),
            )
        })?;
        Ok(WorkerRecord {
            name: self.name,
            concurrency,
            started_at: self.started_at,
            last_seen: self.last_seen,
        })
    }
}

/// A progress count as BIGINT; one past i64::MAX is refused, not wrapped.
fn stored_amount(what: &str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::invalid_input(format!("a job's {what} is at most {}", i64::MAX)))
}

/// The queue's operations, generic over the two databases (like the listings in
/// [`super::sql`]); the [`JobQueue`] impls below only pass the dialect along.
impl<DB> SqlPool<DB>
where
    DB: Database,
    DB::Connection: Migrate,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    JobRow: for<'r> FromRow<'r, DB::Row>,
    WorkerRow: for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    (bool,): for<'r> FromRow<'r, DB::Row>,
    (Vec<u8>,): for<'r> FromRow<'r, DB::Row>,
    (String, String, i64): for<'r> FromRow<'r, DB::Row>,
{
    fn record(&self, row: JobRow) -> Result<JobRecord, StoreError> {
        row.into_record(self.backend())
    }

    fn records(&self, rows: Vec<JobRow>) -> Result<Vec<JobRecord>, StoreError> {
        rows.into_iter().map(|row| self.record(row)).collect()
    }

    /// The job `id` as stored, for the operations that change nothing when the job is not in
    /// the state they change.
    async fn job_now(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let pool = self.ready().await?;
        let row: Option<JobRow> = sqlx::query_as(JOB)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(|err| self.error(err))?;
        row.map(|row| self.record(row)).transpose()
    }

    async fn enqueue(&self, job: &NewJob) -> Result<(JobRecord, bool), StoreError> {
        let pool = self.ready().await?;
        let id = job.id.to_string();
        // The stored job of the key can be purged between the insert and the read; the next
        // insert then succeeds. A few rounds, not a loop: that race needs a purge each time.
        for _ in 0..3 {
            let inserted: Option<JobRow> = sqlx::query_as(ENQUEUE)
                .bind(id.as_str())
                .bind(job.kind.as_str())
                .bind(job.params.to_string())
                .bind(i64::from(job.max_attempts))
                .bind(job.created_at)
                .bind(job.unique_key.as_deref())
                .fetch_optional(pool)
                .await
                .map_err(|err| self.error(err))?;
            if let Some(row) = inserted {
                return Ok((self.record(row)?, true));
            }
            // Only a unique key can conflict without an error (a clashing id raises one).
            let Some(key) = job.unique_key.as_deref() else {
                break;
            };
            let stored: Option<JobRow> = sqlx::query_as(JOB_BY_KEY)
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(|err| self.error(err))?;
            if let Some(row) = stored {
                return Ok((self.record(row)?, false));
            }
        }
        Err(StoreError::failed(
            self.backend(),
            format!("job {id} was neither added nor found under its unique key"),
        ))
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        self.job_now(&id.to_string()).await
    }

    async fn jobs(
        &self,
        status: Option<JobStatus>,
        before: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let pool = self.ready().await?;
        let before = before.map_or_else(|| NO_CURSOR.to_owned(), JobId::to_string);
        // Two statements rather than `$1 IS NULL OR status = $1`, so that each uses its index.
        let query = match status {
            Some(status) => sqlx::query_as(JOBS_WITH_STATUS).bind(status.as_str()),
            None => sqlx::query_as(JOBS),
        };
        let rows: Vec<JobRow> = query
            .bind(before)
            .bind(page_limit(limit))
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        self.records(rows)
    }

    async fn settle_expired(&self, now: i64) -> Result<u64, StoreError> {
        let pool = self.ready().await?;
        let settled: Vec<(String,)> = sqlx::query_as(SETTLE_EXPIRED)
            .bind(now)
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(settled.len() as u64)
    }

    async fn claim(
        &self,
        dialect: &QueueDialect,
        worker: &str,
        token: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let pool = self.ready().await?;
        let row: Option<JobRow> = sqlx::query_as(dialect.claim)
            .bind(worker)
            .bind(token)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(pool)
            .await
            .map_err(|err| self.error(err))?;
        row.map(|row| self.record(row)).transpose()
    }

    async fn heartbeat(
        &self,
        lease: &Lease,
        progress: &Progress,
        checkpoint: Option<&str>,
        now: i64,
        lease_until: i64,
    ) -> Result<Held, StoreError> {
        let total = progress
            .total
            .map(|total| stored_amount("progress total", total))
            .transpose()?;
        let pool = self.ready().await?;
        let held: Option<(bool,)> = sqlx::query_as(HEARTBEAT)
            .bind(lease.job.to_string())
            .bind(lease.token.as_str())
            .bind(stored_amount("progress", progress.done)?)
            .bind(total)
            .bind(progress.message.as_str())
            .bind(checkpoint)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(match held {
            Some((cancel_requested,)) => Held::Yes { cancel_requested },
            None => Held::Lost,
        })
    }

    async fn finish(&self, lease: &Lease, end: &JobEnd, now: i64) -> Result<bool, StoreError> {
        let held = |sql| {
            sqlx::query_as(sql)
                .bind(lease.job.to_string())
                .bind(lease.token.as_str())
                .bind(now)
        };
        let query = match end {
            JobEnd::Succeeded { result, progress } => held(SUCCEEDED)
                .bind(result.to_string())
                .bind(stored_amount("progress", progress.done)?)
                .bind(
                    progress
                        .total
                        .map(|total| stored_amount("progress total", total))
                        .transpose()?,
                )
                .bind(progress.message.as_str()),
            JobEnd::Failed {
                error,
                retry_at: Some(retry_at),
            } => held(RETRY_LATER).bind(error.as_str()).bind(*retry_at),
            JobEnd::Failed {
                error,
                retry_at: None,
            } => held(FAILED).bind(error.as_str()),
            JobEnd::Cancelled => held(CANCELLED),
            JobEnd::Released => held(RELEASED),
        };
        let pool = self.ready().await?;
        let finished: Option<(String,)> = query
            .fetch_optional(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(finished.is_some())
    }

    /// `sql` (binding id and now) changes the job when it is in a state it applies to; the
    /// job as it is afterwards either way.
    async fn change_or_read(
        &self,
        sql: &'static str,
        id: &JobId,
        now: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let pool = self.ready().await?;
        let id = id.to_string();
        let changed: Option<JobRow> = sqlx::query_as(sql)
            .bind(id.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(|err| self.error(err))?;
        match changed {
            Some(row) => self.record(row).map(Some),
            None => self.job_now(&id).await,
        }
    }

    async fn purge(&self, dialect: &QueueDialect, finished_before: i64) -> Result<u64, StoreError> {
        let Some((last, before)) = dialect.purge.split_last() else {
            return Ok(0);
        };
        let mut tx = self.write_transaction().await?;
        for sql in before {
            sqlx::query(*sql)
                .bind(finished_before)
                .execute(&mut *tx)
                .await
                .map_err(|err| self.error(err))?;
        }
        let gone: Vec<(String,)> = sqlx::query_as(*last)
            .bind(finished_before)
            .fetch_all(&mut *tx)
            .await
            .map_err(|err| self.error(err))?;
        tx.commit().await.map_err(|err| self.error(err))?;
        Ok(gone.len() as u64)
    }

    async fn count_jobs(&self) -> Result<Vec<JobCount>, StoreError> {
        let pool = self.ready().await?;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(COUNT_JOBS)
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        let backend = self.backend();
        let garbage = |err: StoreError| {
            StoreError::failed(backend, format!("a stored job is invalid: {err}"))
        };
        rows.into_iter()
            .map(|(kind, status, count)| {
                Ok(JobCount {
                    kind: JobKind::parse(&kind).map_err(garbage)?,
                    status: JobStatus::parse(&status).map_err(garbage)?,
                    count: u64::try_from(count).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn worker_seen(&self, worker: &WorkerRecord) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        sqlx::query(WORKER_SEEN)
            .bind(worker.name.as_str())
            .bind(i64::from(worker.concurrency))
            .bind(worker.started_at)
            .bind(worker.last_seen)
            .execute(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    async fn worker_gone(&self, name: &str) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        sqlx::query(WORKER_GONE)
            .bind(name)
            .execute(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    async fn workers(&self, seen_since: i64) -> Result<Vec<WorkerRecord>, StoreError> {
        let pool = self.ready().await?;
        let rows: Vec<WorkerRow> = sqlx::query_as(WORKERS)
            .bind(seen_since)
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        rows.into_iter()
            .map(|row| row.into_record(self.backend()))
            .collect()
    }

    async fn put_chunk(
        &self,
        id: &JobId,
        part: &str,
        seq: u32,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        sqlx::query(PUT_CHUNK)
            .bind(id.to_string())
            .bind(part)
            .bind(i64::from(seq))
            .bind(data)
            .execute(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    async fn chunk(&self, id: &JobId, part: &str, seq: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let pool = self.ready().await?;
        let data: Option<(Vec<u8>,)> = sqlx::query_as(CHUNK)
            .bind(id.to_string())
            .bind(part)
            .bind(i64::from(seq))
            .fetch_optional(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(data.map(|(data,)| data))
    }

    async fn drop_chunks(&self, id: &JobId, part: &str) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        sqlx::query(DROP_CHUNKS)
            .bind(id.to_string())
            .bind(part)
            .execute(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }
}

/// [`JobQueue`] for a SQL store (whose `sql` field is its [`SqlPool`]) in `$dialect`.
macro_rules! sql_job_queue {
    ($store:ty, $dialect:expr) => {
        #[async_trait]
        impl JobQueue for $store {
            async fn enqueue(&self, job: &NewJob) -> Result<(JobRecord, bool), StoreError> {
                self.sql.enqueue(job).await
            }

            async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
                self.sql.job(id).await
            }

            async fn jobs(
                &self,
                status: Option<JobStatus>,
                before: Option<&JobId>,
                limit: usize,
            ) -> Result<Vec<JobRecord>, StoreError> {
                self.sql.jobs(status, before, limit).await
            }

            async fn settle_expired(&self, now: i64) -> Result<u64, StoreError> {
                self.sql.settle_expired(now).await
            }

            async fn claim(
                &self,
                worker: &str,
                token: &str,
                now: i64,
                lease_until: i64,
            ) -> Result<Option<JobRecord>, StoreError> {
                self.sql
                    .claim(&$dialect, worker, token, now, lease_until)
                    .await
            }

            async fn heartbeat(
                &self,
                lease: &Lease,
                progress: &Progress,
                checkpoint: Option<&str>,
                now: i64,
                lease_until: i64,
            ) -> Result<Held, StoreError> {
                self.sql
                    .heartbeat(lease, progress, checkpoint, now, lease_until)
                    .await
            }

            async fn finish(
                &self,
                lease: &Lease,
                end: &JobEnd,
                now: i64,
            ) -> Result<bool, StoreError> {
                self.sql.finish(lease, end, now).await
            }

            async fn cancel(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError> {
                self.sql.change_or_read(CANCEL, id, now).await
            }

            async fn retry(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError> {
                self.sql.change_or_read(RETRY, id, now).await
            }

            async fn purge(&self, finished_before: i64) -> Result<u64, StoreError> {
                self.sql.purge(&$dialect, finished_before).await
            }

            async fn count_jobs(&self) -> Result<Vec<JobCount>, StoreError> {
                self.sql.count_jobs().await
            }

            async fn worker_seen(&self, worker: &WorkerRecord) -> Result<(), StoreError> {
                self.sql.worker_seen(worker).await
            }

            async fn worker_gone(&self, name: &str) -> Result<(), StoreError> {
                self.sql.worker_gone(name).await
            }

            async fn workers(&self, seen_since: i64) -> Result<Vec<WorkerRecord>, StoreError> {
                self.sql.workers(seen_since).await
            }

            async fn put_chunk(
                &self,
                id: &JobId,
                part: &str,
                seq: u32,
                data: &[u8],
            ) -> Result<(), StoreError> {
                self.sql.put_chunk(id, part, seq, data).await
            }

            async fn chunk(
                &self,
                id: &JobId,
                part: &str,
                seq: u32,
            ) -> Result<Option<Vec<u8>>, StoreError> {
                self.sql.chunk(id, part, seq).await
            }

            async fn drop_chunks(&self, id: &JobId, part: &str) -> Result<(), StoreError> {
                self.sql.drop_chunks(id, part).await
            }
        }
    };
}

sql_job_queue!(PostgresStore, POSTGRES);
sql_job_queue!(SqliteStore, SQLITE);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::super::{StoreSpec, job::NewJob, memory_queue::expired_error, open};
    use super::*;

    /// The SQL text of a lapsed last attempt's error is the memory queue's, to the character.
    #[tokio::test]
    async fn an_expired_last_attempt_has_the_memory_queues_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let options = SqliteConnectOptions::new().filename(dir.path().join("jobs.db"));
        let store = open(&StoreSpec::Sqlite(options), Duration::from_secs(5)).expect("open");
        let job = NewJob {
            id: JobId::new(),
            kind: JobKind::Copy,
            params: json!({}),
            max_attempts: 1,
            unique_key: None,
            created_at: 1,
        };
        store.enqueue(&job).await.expect("enqueue");
        let (claimed, _) = store
            .claim("host:7", Duration::from_millis(1))
            .await
            .expect("claim")
            .expect("a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            store
                .claim("host:8", Duration::from_secs(1))
                .await
                .expect("claim")
                .is_none()
        );
        let settled = store.job(&job.id).await.expect("job").expect("stored");
        assert_eq!(settled.status, JobStatus::Failed);
        assert_eq!(settled.error, Some(expired_error(&claimed)));
        store.close().await;
    }
}
