//! [`Store`]: the one handle callers hold (the web layer, the commands, and later the jobs and
//! the live updates), around whichever backend was opened.
//!
//! Everything every store call needs is applied here, once, instead of in a wrapper per
//! concern that would have to repeat each method:
//!
//! - **input checks** (an increment of at least 1), so backends only store;
//! - **what a hit records**: its quarter-hour and day, and the visitor's keyed hash under the
//!   day's salt (fetched once a day per process, see [`super::visitor`]), handed to the
//!   backend's increment so that it records them in the same round trip;
//! - **the deadline**: no call waits longer than the store timeout. Backends bound their own
//!   waits too (pool acquire, connect, response), but those are per step, and a connect that
//!   succeeds just before its timeout followed by a slow query could still add up to more. A
//!   call that passes the deadline is [`StoreError::TimedOut`]; an increment abandoned this way
//!   may or may not have been applied, and is not retried (see [`crate::store`]);
//! - **observation**: the outcome and latency of every call go to a [`StoreObserver`] (the
//!   Prometheus metrics), so backends carry no instrumentation;
//! - **changes**: the value after every successful change (increment, create, set, add,
//!   delete, restore) goes to a [`ChangeSink`] (the live hub, `crate::live`), so this
//!   process's own streams show it at once, without waiting for the store's [`ChangeFeed`]
//!   to bring it back. The sink is a trait of this layer, so the store knows nothing of
//!   streams or HTTP.
//!
//! Later features add their steps here too (coalescing concurrent increments into one round
//! trip), and every caller gets them.
//!
//! A `Store` is cheap to clone: a few `Arc`s.

use std::{
    future::Future,
    ops::{Range, RangeInclusive},
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    AddOutcome, Backend, ChangeFeed, ChangeStream, CounterName, CounterRecord, CounterStore,
    DEFAULT_HISTORY_DAYS, History, HistoryStore, Hit, JobQueue, Lifecycle, Listed, Name,
    NewCounter, Salt, StoreError, Visitor, VisitorHash,
    coalesce::{Coalescer, RunBatch},
    history::{QUARTERS_PER_DAY, day_of},
    job::{
        Held, JobCount, JobEnd, JobId, JobRecord, JobStatus, Lease, NewJob, Progress, WorkerRecord,
    },
    now_millis,
    visitor::SaltCache,
};

/// Told the outcome of every bounded store call; implemented by the metrics.
pub trait StoreObserver: Send + Sync + 'static {
    fn observe(&self, call: &StoreCall<'_>);
}

/// Told the value of a counter after each change this process made through the facade, once
/// the store confirmed it; implemented by the live hub. Called on the caller's task, so it
/// must be quick and never wait.
pub trait ChangeSink: Send + Sync + 'static {
    /// `name` now holds `value` (0 once deleted), through a call sent to the store at `began`
    /// (so the sink can tell a report from news the store's feed brought since).
    fn changed(&self, name: &CounterName, value: i64, began: tokio::time::Instant);
}

/// One finished store call, as a [`StoreObserver`] sees it.
pub struct StoreCall<'a> {
    pub backend: Backend,
    /// The facade method: `increment`, `get`, `info`, `create`, `set`, `add`, `delete`,
    /// `list`, `scan`, `restore`, `restore_many`, `ping`, `follow_changes`, a history call
    /// (`daily_salt`, `history`, `add_visitors`, `trim_history`), or a job-queue call
    /// (`enqueue`, `claim`, `heartbeat`, `finish`, ...).
    pub operation: &'static str,
    pub elapsed: Duration,
    /// `None` on success.
    pub error: Option<&'a StoreError>,
}

/// The handle every caller holds: one `Arc`, so that cloning it (axum clones the app's state
/// for every request, several times) is one reference count, not one per part; a profile of
/// `/healthz` under load showed the part-by-part clone and drop at about a tenth of the CPU.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Shared>,
}

impl std::ops::Deref for Store {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.inner
    }
}

/// What a [`Store`] holds: the backend's parts and the facade's settings.
#[derive(Clone)]
pub struct Shared {
    backend: Backend,
    timeout: Duration,
    lifecycle: Arc<dyn Lifecycle>,
    counters: Arc<dyn CounterStore>,
    history: Arc<dyn HistoryStore>,
    queue: Arc<dyn JobQueue>,
    feed: Arc<dyn ChangeFeed>,
    observer: Option<Arc<dyn StoreObserver>>,
    /// `HISTORY_DAYS`.
    days_kept: u32,
    /// Group commit of the increments (none for the memory store, which needs none).
    coalescer: Option<Coalescer<HitKey, HitExtra>>,
    salts: Arc<SaltCache>,
    changes: Option<Arc<dyn ChangeSink>>,
}

impl Store {
    pub(super) fn new(parts: super::Parts, timeout: Duration) -> Store {
        let coalescer = group_commit(
            parts.lifecycle.backend(),
            parts.counters.clone(),
            parts.history.clone(),
        );
        let inner = Shared {
            backend: parts.lifecycle.backend(),
            timeout,
            lifecycle: parts.lifecycle,
            counters: parts.counters,
            history: parts.history,
            queue: parts.queue,
            feed: parts.feed,
            observer: None,
            days_kept: DEFAULT_HISTORY_DAYS,
            coalescer,
            salts: Arc::default(),
            changes: None,
        };
        Store {
            inner: Arc::new(inner),
        }
    }

    /// The same store, keeping history for `days` days (`HISTORY_DAYS`, at least 1).
    pub fn with_history_days(mut self, days: u32) -> Store {
        Arc::make_mut(&mut self.inner).days_kept = days.max(1);
        self
    }

    /// `HISTORY_DAYS`: how many days of history this store keeps.
    pub fn history_days(&self) -> u32 {
        self.days_kept
    }

    /// The same store, reporting every call to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn StoreObserver>) -> Store {
        Arc::make_mut(&mut self.inner).observer = Some(observer);
        self
    }

    /// The same store, telling `sink` the value after every change made through it. The
    /// clones made before this call do not tell it.
    pub fn reporting_changes_to(mut self, sink: Arc<dyn ChangeSink>) -> Store {
        Arc::make_mut(&mut self.inner).changes = Some(sink);
        self
    }

    /// Which backend this is, for logs, metrics and `/readyz`.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The longest any call waits before it is [`StoreError::TimedOut`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Adds `by` (at least 1) to `name`, creating it at 0 first if needed; the new value.
    /// One atomic operation in the store; never retried. It is a hit: it records `by` hits
    /// now in the counter's history, from no one in particular (`tally tick`'s hits); the web
    /// layer's hits come with their visitor through [`Store::increment_from`].
    pub async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        self.increment_at(name, by, None, now_millis()).await
    }

    /// [`Store::increment`] from `visitor` (none when the client's address is unknown), who is
    /// added to today's unique visitors of `name` in the same round trip.
    pub async fn increment_from(
        &self,
        name: &CounterName,
        by: i64,
        visitor: Option<&Visitor>,
    ) -> Result<i64, StoreError> {
        self.increment_at(name, by, visitor, now_millis()).await
    }

    /// [`Store::increment_from`] recorded at `at` (ms since the epoch) instead of now: for
    /// tests of the history, which need hits on given days.
    pub async fn increment_at(
        &self,
        name: &CounterName,
        by: i64,
        visitor: Option<&Visitor>,
        at: i64,
    ) -> Result<i64, StoreError> {
        if by < 1 {
            return Err(StoreError::invalid_input(format!(
                "an increment must be at least 1, got {by}"
            )));
        }
        let day = day_of(at);
        let visitor = match visitor {
            Some(visitor) => Some(visitor.hash(&self.daily_salt(day).await?, name, day)),
            None => None,
        };
        let hit = Hit::at(at, visitor, self.days_kept);
        let began = tokio::time::Instant::now();
        let value = match &self.coalescer {
            Some(coalescer) => {
                let key = HitKey {
                    name: name.clone(),
                    quarter: hit.quarter,
                };
                self.bounded(
                    "increment",
                    coalescer.increment(key, by, (hit.visitor, self.days_kept)),
                )
                .await?
            }
            None => {
                self.bounded("increment", self.counters.increment(name, by, &hit))
                    .await?
            }
        };
        self.report(name, value, began);
        Ok(value)
    }

    /// The salt of UTC day `day`: this process's copy, or the store's (created if needed).
    async fn daily_salt(&self, day: i64) -> Result<Salt, StoreError> {
        self.salts
            .get(day, || async {
                let candidate = Salt::random().map_err(|err| {
                    StoreError::failed(self.backend, format!("no random salt: {err}"))
                })?;
                self.bounded("daily_salt", self.history.daily_salt(day, &candidate))
                    .await
            })
            .await
    }

    /// The hits of `name` in the quarter-hours `quarters` and its visitors on the UTC days
    /// `days` (see [`HistoryStore::history`]).
    pub async fn history(
        &self,
        name: &CounterName,
        quarters: Range<i64>,
        days: RangeInclusive<i64>,
    ) -> Result<History, StoreError> {
        if quarters.is_empty() || days.is_empty() {
            return Ok(History::default());
        }
        self.bounded("history", self.history.history(name, quarters, days))
            .await
    }

    /// Adds visitors to `name`'s on UTC day `day`, in one round trip, without hits.
    pub async fn add_visitors(
        &self,
        name: &CounterName,
        day: i64,
        visitors: &[VisitorHash],
    ) -> Result<(), StoreError> {
        if visitors.is_empty() {
            return Ok(());
        }
        self.bounded(
            "add_visitors",
            self.history
                .add_visitors(name, day, visitors, self.days_kept),
        )
        .await
    }

    /// Deletes what is older than `HISTORY_DAYS` days at `now` (ms), and past days' salts;
    /// how much it deleted.
    pub async fn trim_history(&self, now: i64) -> Result<u64, StoreError> {
        let today = day_of(now);
        let first_kept = today - i64::from(self.days_kept);
        self.bounded("trim_history", self.history.trim_history(first_kept, today))
            .await
    }

    /// The current value of `name`; 0 when it was never incremented.
    pub async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        self.bounded("get", self.counters.get(name)).await
    }

    /// Everything stored about `name`, or `None`.
    pub async fn info(&self, name: &CounterName) -> Result<Option<CounterRecord>, StoreError> {
        self.bounded("info", self.counters.info(name)).await
    }

    /// Creates `name` unless it exists: `true` if created, `false` (nothing changed) if not.
    /// tally's own counters ([`CounterName::is_reserved`]) always count as existing.
    pub async fn create(
        &self,
        name: &CounterName,
        counter: &NewCounter,
    ) -> Result<bool, StoreError> {
        check_value("a counter's value", counter.value)?;
        let rules = counter.rules;
        if rules.lower_bound > 0 || rules.upper_bound < 0 {
            return Err(StoreError::invalid_input(format!(
                "update bounds must include 0, got {} to {}",
                rules.lower_bound, rules.upper_bound
            )));
        }
        if name.is_reserved() {
            // tally's own counters count as existing: creating one would hand its value to
            // whoever asked first.
            return Ok(false);
        }
        let began = tokio::time::Instant::now();
        let created = self
            .bounded("create", self.counters.create(name, counter))
            .await?;
        if created {
            self.report(name, counter.value, began);
        }
        Ok(created)
    }

    /// Sets an existing counter to `value` (0 or more); the value before, or `None` when there
    /// is no such counter.
    pub async fn set(&self, name: &CounterName, value: i64) -> Result<Option<i64>, StoreError> {
        check_value("a counter's value", value)?;
        let began = tokio::time::Instant::now();
        let before = self.bounded("set", self.counters.set(name, value)).await?;
        if before.is_some() {
            self.report(name, value, began);
        }
        Ok(before)
    }

    /// Adds `amount` (not 0; negative subtracts) to an existing counter, unless the result
    /// would leave 0 ..= i64::MAX.
    pub async fn add(&self, name: &CounterName, amount: i64) -> Result<AddOutcome, StoreError> {
        if amount == 0 {
            return Err(StoreError::invalid_input(
                "an amount of 0 changes nothing; give a positive or negative amount",
            ));
        }
        let began = tokio::time::Instant::now();
        let outcome = self.bounded("add", self.counters.add(name, amount)).await?;
        if let AddOutcome::Added(value) = outcome {
            self.report(name, value, began);
        }
        Ok(outcome)
    }

    /// Deletes `name`; `false` when there was no such counter.
    pub async fn delete(&self, name: &CounterName) -> Result<bool, StoreError> {
        let began = tokio::time::Instant::now();
        let deleted = self.bounded("delete", self.counters.delete(name)).await?;
        if deleted {
            // What reading it now gives.
            self.report(name, 0, began);
        }
        Ok(deleted)
    }

    /// Up to `limit` (1 or more) counters of `namespace` after the key `after`, by key.
    pub async fn list(
        &self,
        namespace: &Name,
        after: Option<&Name>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        check_limit(limit)?;
        self.bounded("list", self.counters.list(namespace, after, limit))
            .await
    }

    /// Up to `limit` (1 or more) counters of every namespace after `after`, by namespace and
    /// key, with everything stored about them: a page of an export.
    pub async fn scan(
        &self,
        after: Option<&CounterName>,
        limit: usize,
    ) -> Result<Vec<CounterRecord>, StoreError> {
        check_limit(limit)?;
        self.bounded("scan", self.counters.scan(after, limit)).await
    }

    /// Writes `record` as given, creating or replacing the counter: an import.
    pub async fn restore(&self, record: &CounterRecord) -> Result<(), StoreError> {
        check_value("a counter's value", record.value)?;
        let began = tokio::time::Instant::now();
        self.bounded("restore", self.counters.restore(record))
            .await?;
        self.report(&record.name, record.value, began);
        Ok(())
    }

    /// [`Store::restore`] of every record in one round trip where the store allows: a page of
    /// an import or a copy.
    pub async fn restore_many(&self, records: &[CounterRecord]) -> Result<(), StoreError> {
        for record in records {
            check_value("a counter's value", record.value)?;
        }
        if records.is_empty() {
            return Ok(());
        }
        let began = tokio::time::Instant::now();
        self.bounded("restore_many", self.counters.restore_many(records))
            .await?;
        for record in records {
            self.report(&record.name, record.value, began);
        }
        Ok(())
    }

    /// Subscribes to every change made to the store's counters by any process, from now on
    /// (see [`ChangeFeed`]). Subscribing is bounded by the deadline; waiting for changes is
    /// not.
    pub async fn follow_changes(&self) -> Result<Box<dyn ChangeStream>, StoreError> {
        self.bounded("follow_changes", self.feed.follow()).await
    }

    /// Adds `job` to the queue; with a `unique_key` already stored, the stored job and `false`.
    pub async fn enqueue(&self, job: &NewJob) -> Result<(JobRecord, bool), StoreError> {
        if job.max_attempts == 0 {
            return Err(StoreError::invalid_input("a job needs at least 1 attempt"));
        }
        self.bounded("enqueue", self.queue.enqueue(job)).await
    }

    /// The job `id`, or `None`.
    pub async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        self.bounded("job", self.queue.job(id)).await
    }

    /// Up to `limit` jobs, newest first, with `status` if given, older than `before`.
    pub async fn jobs(
        &self,
        status: Option<JobStatus>,
        before: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        if limit == 0 {
            return Err(StoreError::invalid_input("a page holds at least 1 job"));
        }
        self.bounded("jobs", self.queue.jobs(status, before, limit))
            .await
    }

    /// Settles the jobs whose worker died and that must not run again, then takes the oldest
    /// runnable job for `worker`, held for `lease` under a fresh lease token.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<(JobRecord, Lease)>, StoreError> {
        let now = now_millis();
        self.bounded("settle_expired", self.queue.settle_expired(now))
            .await?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let claimed = self
            .bounded(
                "claim",
                self.queue.claim(worker, &token, now, until(now, lease)),
            )
            .await?;
        Ok(claimed.map(|job| {
            let lease = Lease { job: job.id, token };
            (job, lease)
        }))
    }

    /// The holder's report: progress, checkpoint, and its lease extended by `lease`.
    pub async fn heartbeat(
        &self,
        held: &Lease,
        progress: &Progress,
        checkpoint: Option<&str>,
        lease: Duration,
    ) -> Result<Held, StoreError> {
        let now = now_millis();
        self.bounded(
            "heartbeat",
            self.queue
                .heartbeat(held, progress, checkpoint, now, until(now, lease)),
        )
        .await
    }

    /// Ends the hold `lease` has on its job; `false` when it no longer held it.
    pub async fn finish(&self, lease: &Lease, end: &JobEnd) -> Result<bool, StoreError> {
        self.bounded("finish", self.queue.finish(lease, end, now_millis()))
            .await
    }

    /// Cancels a job (at once when queued, at its next heartbeat when running).
    pub async fn cancel(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        self.bounded("cancel", self.queue.cancel(id, now_millis()))
            .await
    }

    /// Queues a failed or cancelled job again.
    pub async fn retry(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        self.bounded("retry", self.queue.retry(id, now_millis()))
            .await
    }

    /// Deletes jobs finished before `finished_before` (ms), with their chunks.
    pub async fn purge(&self, finished_before: i64) -> Result<u64, StoreError> {
        self.bounded("purge", self.queue.purge(finished_before))
            .await
    }

    /// How many jobs each kind has in each status.
    pub async fn count_jobs(&self) -> Result<Vec<JobCount>, StoreError> {
        self.bounded("count_jobs", self.queue.count_jobs()).await
    }

    /// Records or refreshes a worker.
    pub async fn worker_seen(&self, worker: &WorkerRecord) -> Result<(), StoreError> {
        self.bounded("worker_seen", self.queue.worker_seen(worker))
            .await
    }

    /// Forgets a worker that stopped.
    pub async fn worker_gone(&self, name: &str) -> Result<(), StoreError> {
        self.bounded("worker_gone", self.queue.worker_gone(name))
            .await
    }

    /// The workers seen at or after `seen_since` (ms).
    pub async fn workers(&self, seen_since: i64) -> Result<Vec<WorkerRecord>, StoreError> {
        self.bounded("workers", self.queue.workers(seen_since))
            .await
    }

    /// Stores chunk `seq` of `part` of job `id`.
    pub async fn put_chunk(
        &self,
        id: &JobId,
        part: &str,
        seq: u32,
        data: &[u8],
    ) -> Result<(), StoreError> {
        self.bounded("put_chunk", self.queue.put_chunk(id, part, seq, data))
            .await
    }

    /// Chunk `seq` of `part` of job `id`, or `None` past its end.
    pub async fn chunk(
        &self,
        id: &JobId,
        part: &str,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.bounded("chunk", self.queue.chunk(id, part, seq)).await
    }

    /// Deletes every chunk of `part` of job `id`.
    pub async fn drop_chunks(&self, id: &JobId, part: &str) -> Result<(), StoreError> {
        self.bounded("drop_chunks", self.queue.drop_chunks(id, part))
            .await
    }

    /// Checks that the store answers and that its schema is in place.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded("ping", self.lifecycle.ping()).await
    }

    /// Applies pending migrations. Not bounded by the store timeout: on a slow disk they may
    /// legitimately take longer, and they run once, at start or from `tally migrate`.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.lifecycle.migrate().await
    }

    /// Closes pools and connections; called once when the process shuts down.
    pub async fn close(&self) {
        self.lifecycle.close().await;
    }

    /// Tells the change sink, if any, that `name` now holds `value`, through a call that began
    /// at `began`.
    fn report(&self, name: &CounterName, value: i64, began: tokio::time::Instant) {
        if let Some(changes) = &self.changes {
            changes.changed(name, value, began);
        }
    }

    /// Runs `call` under the deadline and reports its outcome.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_elapsed) => Err(StoreError::TimedOut {
                backend: self.backend,
                after: self.timeout,
            }),
        };
        if let Some(observer) = &self.observer {
            observer.observe(&StoreCall {
                backend: self.backend,
                operation,
                elapsed: started.elapsed(),
                error: result.as_ref().err(),
            });
        }
        result
    }
}

/// `now` plus `lease`, in milliseconds.
fn until(now: i64, lease: Duration) -> i64 {
    now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

fn check_value(what: &str, value: i64) -> Result<(), StoreError> {
    if value < 0 {
        return Err(StoreError::invalid_input(format!(
            "{what} is 0 to {}, got {value}",
            i64::MAX
        )));
    }
    Ok(())
}

fn check_limit(limit: usize) -> Result<(), StoreError> {
    if limit == 0 {
        return Err(StoreError::invalid_input("a page holds at least 1 counter"));
    }
    Ok(())
}

/// What the increments of one batch share to be summed: the counter and the quarter-hour
/// their hits are recorded in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct HitKey {
    name: CounterName,
    quarter: i64,
}

impl std::fmt::Display for HitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.name.fmt(f)
    }
}

/// What each increment of a batch brings along: its visitor, and `HISTORY_DAYS`.
type HitExtra = (Option<VisitorHash>, u32);

/// The group commit of `backend` (see [`super::coalesce`]): how many batches may run at once,
/// and how a batch runs. Each counter of a batch is one `increment` by the sum of its requests
/// (one statement, transaction or script, recording the hits and the first visitor); the
/// batch's other visitors of that counter follow in one `add_visitors` (each visitor once), so
/// a batch costs at most two round trips per counter however many requests it serves. The counters of a batch
/// run side by side, each in its own statement: no transaction ever holds two counters' rows,
/// so batches running at once cannot deadlock.
///
/// Batches in flight at once: one, on every store that batches. A hot counter's row takes one writer at
/// a time anyway (SQLite has one writer for the whole file; PostgreSQL locks the row until the
/// commit's flush), so a second batch in flight would only wait for the first and split the
/// requests into smaller batches; with one, the next batch gathers everything that arrives
/// during the commit (measured: PostgreSQL `/count` at 50 connections went from 10,700 req/s
/// with 4 in flight to 15,500 with 1). The counters of a batch still run side by side, so
/// unrelated counters do not queue behind each other. Redis has no commit to wait for, but its
/// one thread runs the counting script (about 20 µs) once per batch, on the same cores as
/// tally: measured at 50 connections, `/count` went from 37,800 req/s with 8 in flight to
/// 40,700 with 4, 48,700 with 2 and 51,700 with 1 (and p99 from 2.9 ms to 2.1 ms), since
/// bigger batches mean fewer script runs per request. The memory store changes a map under a
/// lock and gains nothing.
fn group_commit(
    backend: Backend,
    counters: Arc<dyn CounterStore>,
    history: Arc<dyn HistoryStore>,
) -> Option<Coalescer<HitKey, HitExtra>> {
    let in_flight = match backend {
        Backend::Memory => return None,
        Backend::Sqlite => 1,
        Backend::Postgres => 1,
        Backend::Redis => 1,
    };
    let run: RunBatch<HitKey, HitExtra> = Arc::new(move |increments| {
        let counters = counters.clone();
        let history = history.clone();
        Box::pin(async move {
            let runs = increments.into_iter().map(|increment| {
                let counters = counters.clone();
                let history = history.clone();
                async move {
                    let days_kept = increment
                        .extras
                        .first()
                        .map_or(DEFAULT_HISTORY_DAYS, |extra| extra.1);
                    let mut visitors = increment.extras.iter().filter_map(|extra| extra.0);
                    let quarter = increment.key.quarter;
                    let hit = Hit {
                        quarter,
                        day: quarter.div_euclid(QUARTERS_PER_DAY),
                        visitor: visitors.next(),
                        days_kept,
                    };
                    let name = &increment.key.name;
                    let value = counters.increment(name, increment.by, &hit).await?;
                    let others = other_visitors(hit.visitor, visitors);
                    if !others.is_empty()
                        && let Err(err) = history
                            .add_visitors(name, hit.day, &others, days_kept)
                            .await
                    {
                        // The hits are counted; only these visitors' share of today's unique
                        // count is lost, and the log says so.
                        tracing::warn!(counter = %name, visitors = others.len(), error = %err, "cannot record a batch's visitors");
                    }
                    Ok(value)
                }
            });
            futures_util::future::join_all(runs).await
        })
    });
    Some(Coalescer::new(backend, in_flight, run))
}

/// The visitors of a batch still to add once `first` was recorded with the hits: each one
/// once. Adding a visitor twice changes no unique count, and one visitor's requests often come
/// together (a reload, a page and its badge), so a batch sends each of its visitors once.
fn other_visitors(
    first: Option<VisitorHash>,
    rest: impl Iterator<Item = VisitorHash>,
) -> Vec<VisitorHash> {
    let mut others: Vec<VisitorHash> = rest.filter(|visitor| Some(*visitor) != first).collect();
    others.sort_unstable_by_key(|visitor| visitor.0);
    others.dedup();
    others
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor(n: u8) -> VisitorHash {
        VisitorHash([n; 32])
    }

    #[test]
    fn a_batch_sends_each_of_its_other_visitors_once() {
        let batch = [3, 1, 2, 3, 1, 1, 4].map(visitor);
        let mut others = other_visitors(Some(visitor(1)), batch.into_iter());
        others.sort_unstable_by_key(|visitor| visitor.0);
        assert!(
            others == [2, 3, 4].map(visitor),
            "the first (recorded with the hits) is left out, the rest once each"
        );
        // Without a first visitor, every one is still sent, once.
        let others = other_visitors(None, batch.into_iter());
        assert_eq!(others.len(), 4);
        // A batch of one visitor's requests sends nothing more.
        assert!(other_visitors(Some(visitor(7)), [7, 7, 7].map(visitor).into_iter()).is_empty());
    }
}
