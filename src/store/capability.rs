//! The traits a backend implements: [`Lifecycle`], which every backend has, and one trait per
//! *capability*, each a slice of what tally keeps in a store.
//!
//! The capabilities: [`CounterStore`] (named counters with atomic increments),
//! [`HistoryStore`] (what the increments recorded: hits per quarter-hour, unique visitors per
//! day), [`JobQueue`] (background jobs) and [`ChangeFeed`] (every change to a counter, made by
//! any process on the store, for the live updates). Each is implemented by every backend and
//! checked by a contract suite of its own over all four. Adding one means: the trait in this file, an `impl` in each backend module, a field
//! in `Parts` (in `store/mod.rs`, so that [`super::open`] hands it out), and its methods on the
//! [`super::Store`] facade, which applies the deadline and the metrics to every call.
//!
//! Backends implement these traits and nothing else: validation of input, the store timeout and
//! instrumentation live once, in the facade, not in each backend.

use std::ops::{Range, RangeInclusive};

use async_trait::async_trait;

use super::{
    AddOutcome, Backend, CounterChange, CounterName, CounterRecord, History, Hit, Listed, Name,
    NewCounter, Salt, StoreError, VisitorHash,
    job::{
        Held, JobCount, JobEnd, JobId, JobRecord, JobStatus, Lease, NewJob, Progress, WorkerRecord,
    },
};

/// What every backend does whatever its capabilities: say which it is, answer a ping, apply its
/// schema and close its connections.
#[async_trait]
pub trait Lifecycle: Send + Sync + 'static {
    /// Which backend this is, for logs, metrics and `/readyz`.
    fn backend(&self) -> Backend;

    /// Checks that the store answers (and that its schema is in place).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies pending schema migrations now. Backends without a schema do nothing.
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Closes pools and connections; called once when the process shuts down.
    async fn close(&self) {}
}

/// Named counters: atomic hits, create, set, add, delete, info and listings.
///
/// Counts are `i64` because that is what all three servers store natively (`BIGINT`, Redis
/// integers, SQLite `INTEGER`), and a value stays within 0 ..= `i64::MAX`. Every method that
/// changes a counter is one atomic statement or script in the store, never a read-modify-write
/// in Rust, so two replicas on one store never lose an update. The facade has already checked
/// the input (amounts, values, limits), so backends only store.
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Adds `by` (at least 1) to `name`, creating it at 0 first if needed (with no owner and
    /// [`super::UpdateRules::HIT_CREATED`]), and returns the new value. Never retried. A value
    /// that would pass `i64::MAX` is [`StoreError::Overflow`] and changes nothing.
    ///
    /// In the same statement, transaction or script (no extra round trip), it records `hit`
    /// for the [`HistoryStore`]: `by` more hits in `hit.quarter`, and `hit.visitor`, if any,
    /// among the visitors of `hit.day`. All of it happens, or (on an error) none of it.
    async fn increment(&self, name: &CounterName, by: i64, hit: &Hit) -> Result<i64, StoreError>;

    /// The current value of `name`; 0 when it does not exist.
    async fn get(&self, name: &CounterName) -> Result<i64, StoreError>;

    /// Everything stored about `name`, or `None`.
    async fn info(&self, name: &CounterName) -> Result<Option<CounterRecord>, StoreError>;

    /// Creates `name` unless it exists: `true` if created, `false` (and nothing changed) if it
    /// was there already.
    async fn create(&self, name: &CounterName, counter: &NewCounter) -> Result<bool, StoreError>;

    /// Sets the value (0 ..= i64::MAX) of an existing counter; the value before, or `None` (and
    /// nothing created) when there is no such counter.
    async fn set(&self, name: &CounterName, value: i64) -> Result<Option<i64>, StoreError>;

    /// Adds `amount` (positive or negative, not 0) to an existing counter, unless the result
    /// would leave 0 ..= i64::MAX.
    async fn add(&self, name: &CounterName, amount: i64) -> Result<AddOutcome, StoreError>;

    /// Deletes `name` with everything stored about it, its history included; `false` when
    /// there was no such counter.
    async fn delete(&self, name: &CounterName) -> Result<bool, StoreError>;

    /// Up to `limit` (at least 1) counters of `namespace` whose key comes after `after`, in
    /// byte order of their keys.
    async fn list(
        &self,
        namespace: &Name,
        after: Option<&Name>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError>;

    /// Up to `limit` (at least 1) counters of every namespace that come after `after`, ordered
    /// by namespace and then key (byte order), with everything stored about them: a page of an
    /// export.
    async fn scan(
        &self,
        after: Option<&CounterName>,
        limit: usize,
    ) -> Result<Vec<CounterRecord>, StoreError>;

    /// Writes `record` as given (value, times, owner, rules), creating or replacing the
    /// counter: an import. Applying the same record twice leaves the same state.
    async fn restore(&self, record: &CounterRecord) -> Result<(), StoreError>;

    /// [`CounterStore::restore`] of every record, in one round trip where the store allows
    /// (one transaction, one pipeline): a page of an import or a copy. All or nothing where
    /// the store has transactions; on Redis a failure may leave a prefix of the records
    /// written, which is harmless because restoring is idempotent.
    async fn restore_many(&self, records: &[CounterRecord]) -> Result<(), StoreError> {
        for record in records {
            self.restore(record).await?;
        }
        Ok(())
    }
}

/// What [`CounterStore::increment`] recorded: hits per UTC quarter-hour and unique visitors
/// per UTC day (see [`super::history`]), the salts that make visitors' hashes, and their
/// retention.
///
/// Only increments write history; `set`, `add`, `restore` and the copy between stores do
/// not (history is not part of an export). Deleting a counter deletes its history.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// The salt of UTC day `day`, shared by every process on this store: the stored one, or
    /// `candidate`, stored now, when there is none (atomically, so two processes asking at
    /// once get the same one). Salts of earlier days are deleted (or expire): a day's salt
    /// is gone once the day is over.
    async fn daily_salt(&self, day: i64, candidate: &Salt) -> Result<Salt, StoreError>;

    /// The hits of `name` in the quarter-hours `quarters` and its estimated visitors on the
    /// UTC days `days`; spans with nothing recorded are left out. A counter that does not
    /// exist has no history.
    async fn history(
        &self,
        name: &CounterName,
        quarters: Range<i64>,
        days: RangeInclusive<i64>,
    ) -> Result<History, StoreError>;

    /// Adds `visitors` to the visitors of `name` on UTC day `day` without counting hits: the
    /// visitor part of many hits in one round trip (the contract suite feeds 100,000 visitors
    /// this way). `days_kept` as in [`Hit::days_kept`]. Adding one twice counts it once.
    async fn add_visitors(
        &self,
        name: &CounterName,
        day: i64,
        visitors: &[VisitorHash],
        days_kept: u32,
    ) -> Result<(), StoreError>;

    /// Deletes the hits and visitors recorded before UTC day `first_kept`, and the salts of
    /// days before `today`; how many rows or entries it deleted. Stores that expire what they
    /// keep (Redis) have nothing to do and answer 0.
    async fn trim_history(&self, first_kept: i64, today: i64) -> Result<u64, StoreError>;
}

/// The job queue (§ "Background jobs" of the README): jobs, their leases, the workers that
/// hold them, and the chunks of an import's input and an export's result.
///
/// Every change is one atomic statement, transaction or script, so two workers can never both
/// claim a job, and a worker whose lease ran out can no longer write to the job: every write
/// of a holder names its [`Lease`] and changes nothing (answering [`Held::Lost`] or `false`)
/// when the job's lease token is no longer that one. Times are milliseconds, given by the
/// caller (see [`super::job`]). The facade has checked the input.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Adds `job` as `queued`, runnable at once: `(record, true)`. When its `unique_key` is
    /// already stored, nothing is added and the stored job is returned: `(stored, false)`.
    async fn enqueue(&self, job: &NewJob) -> Result<(JobRecord, bool), StoreError>;

    /// The job `id`, or `None`.
    async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError>;

    /// Up to `limit` (at least 1) jobs, newest first (by id), only those with `status` if
    /// given, and only those older than `before` (the cursor: the last id of the page before).
    async fn jobs(
        &self,
        status: Option<JobStatus>,
        before: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError>;

    /// Settles the `running` jobs whose lease ended before `now` and that must not run again:
    /// a cancel was asked (→ `cancelled`), or `attempts` reached `max_attempts` (→ `failed`,
    /// the error saying that its worker stopped answering). Both get `finished_at = now` and
    /// lose worker and lease. Returns how many it settled.
    async fn settle_expired(&self, now: i64) -> Result<u64, StoreError>;

    /// Atomically takes the oldest job (smallest id) that is `queued` with `run_after <= now`,
    /// or `running` with `lease_until < now`, no cancel asked and `attempts < max_attempts` (a
    /// job whose worker died): it becomes `running`, held by `worker` with lease `token` until
    /// `lease_until`, `attempts + 1`, `started_at = updated_at = now`. `None` when there is none.
    async fn claim(
        &self,
        worker: &str,
        token: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<JobRecord>, StoreError>;

    /// The holder reports: writes `progress`, the `checkpoint` when given, `updated_at = now`,
    /// `lease_until`. [`Held::Lost`] (and nothing written) when `lease` no longer holds it.
    async fn heartbeat(
        &self,
        lease: &Lease,
        progress: &Progress,
        checkpoint: Option<&str>,
        now: i64,
        lease_until: i64,
    ) -> Result<Held, StoreError>;

    /// The holder ends its hold as `end` says (see [`JobEnd`]); worker, lease and lease time
    /// are cleared, `updated_at = now`, and `finished_at = now` when the job is finished.
    /// `false` (and nothing written) when `lease` no longer holds it.
    async fn finish(&self, lease: &Lease, end: &JobEnd, now: i64) -> Result<bool, StoreError>;

    /// Cancels `id`: a `queued` job becomes `cancelled` (finished now); a `running` one gets
    /// `cancel_requested` (its holder stops at its next heartbeat); a finished one is left as
    /// it is. The job as it is afterwards, or `None` when there is no such job.
    async fn cancel(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError>;

    /// Queues a `failed` or `cancelled` job again as new: `attempts` 0, no error, result,
    /// checkpoint, cancel or finish time, progress reset, runnable at once. Other statuses are
    /// left as they are. The job as it is afterwards, or `None` when there is no such job.
    async fn retry(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError>;

    /// Deletes the finished jobs whose `finished_at` is before `finished_before`, with their
    /// chunks; how many jobs it deleted.
    async fn purge(&self, finished_before: i64) -> Result<u64, StoreError>;

    /// How many jobs each (kind, status) pair has; pairs with none may be left out.
    async fn count_jobs(&self) -> Result<Vec<JobCount>, StoreError>;

    /// Records (or refreshes) a worker.
    async fn worker_seen(&self, worker: &WorkerRecord) -> Result<(), StoreError>;

    /// Forgets a worker that stopped.
    async fn worker_gone(&self, name: &str) -> Result<(), StoreError>;

    /// The workers last seen at or after `seen_since`, by name.
    async fn workers(&self, seen_since: i64) -> Result<Vec<WorkerRecord>, StoreError>;

    /// Stores chunk `seq` of the byte stream `part` of job `id` (an import's `input`, an
    /// export attempt's result), replacing one stored under the same numbers.
    async fn put_chunk(
        &self,
        id: &JobId,
        part: &str,
        seq: u32,
        data: &[u8],
    ) -> Result<(), StoreError>;

    /// Chunk `seq` of `part` of job `id`, or `None` past its end.
    async fn chunk(&self, id: &JobId, part: &str, seq: u32) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes every chunk of `part` of job `id`.
    async fn drop_chunks(&self, id: &JobId, part: &str) -> Result<(), StoreError>;
}

/// Every change to every counter, whichever process made it: how a change made through one
/// tally replica reaches the live streams of the others (README, "Live counts").
///
/// One subscription per process (the live hub's), never one per stream. Each backend uses what
/// its server offers: PostgreSQL `LISTEN/NOTIFY` (a trigger on `counters` notifies), Redis
/// pub/sub (each script that changes a counter publishes), SQLite a change table read every
/// 250 ms (SQLite has no notifications across processes), memory a channel in the process.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Subscribes. Once this returns, every change applied to the store afterwards, by any
    /// process (this one included), comes out of the [`ChangeStream`], in the order the store
    /// applied them; changes before it are not delivered. A backend that reads changes
    /// periodically (SQLite) may fold a counter's changes between two reads into the last of
    /// them, so what is promised is that, for each counter, the values come in order and the
    /// last one to come is its value after its last change. Fails while the store is down.
    async fn follow(&self) -> Result<Box<dyn ChangeStream>, StoreError>;
}

/// A subscription of [`ChangeFeed::follow`].
#[async_trait]
pub trait ChangeStream: Send + 'static {
    /// The next changes, in order; waits as long as there are none. An error means the
    /// subscription broke (the server restarted, the link dropped, the reader fell behind):
    /// changes after it may be missed, and a new [`ChangeFeed::follow`] is needed.
    async fn next(&mut self) -> Result<Vec<CounterChange>, StoreError>;
}
