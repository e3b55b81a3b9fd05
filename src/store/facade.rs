//! [`Store`]: the one handle callers hold (the web layer, the commands, and later the jobs and
//! the live updates), around whichever backend was opened.
//!
//! Everything every store call needs is applied here, once, instead of in a wrapper per
//! concern that would have to repeat each method:
//!
//! - **input checks** (an increment of at least 1), so backends only store;
//! - **the deadline**: no call waits longer than the store timeout. Backends bound their own
//!   waits too (pool acquire, connect, response), but those are per step, and a connect that
//!   succeeds just before its timeout followed by a slow query could still add up to more. A
//!   call that passes the deadline is [`StoreError::TimedOut`]; an increment abandoned this way
//!   may or may not have been applied, and is not retried (see [`crate::store`]);
//! - **observation**: the outcome and latency of every call go to a [`StoreObserver`] (the
//!   Prometheus metrics), so backends carry no instrumentation.
//!
//! Later features add their steps here too (publishing live events after a change, coalescing
//! concurrent increments into one round trip), and every caller gets them.
//!
//! A `Store` is cheap to clone: a few `Arc`s.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    AddOutcome, Backend, CounterName, CounterRecord, CounterStore, Lifecycle, Listed, Name,
    NewCounter, StoreError,
};

/// Told the outcome of every bounded store call; implemented by the metrics.
pub trait StoreObserver: Send + Sync + 'static {
    fn observe(&self, call: &StoreCall<'_>);
}

/// One finished store call, as a [`StoreObserver`] sees it.
pub struct StoreCall<'a> {
    pub backend: Backend,
    /// The facade method: `increment`, `get`, `info`, `create`, `set`, `add`, `delete`,
    /// `list`, `scan`, `restore`, `ping`.
    pub operation: &'static str,
    pub elapsed: Duration,
    /// `None` on success.
    pub error: Option<&'a StoreError>,
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    timeout: Duration,
    lifecycle: Arc<dyn Lifecycle>,
    counters: Arc<dyn CounterStore>,
    observer: Option<Arc<dyn StoreObserver>>,
}

impl Store {
    pub(super) fn new(parts: super::Parts, timeout: Duration) -> Store {
        Store {
            backend: parts.lifecycle.backend(),
            timeout,
            lifecycle: parts.lifecycle,
            counters: parts.counters,
            observer: None,
        }
    }

    /// The same store, reporting every call to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn StoreObserver>) -> Store {
        self.observer = Some(observer);
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
    /// One atomic operation in the store; never retried.
    pub async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        if by < 1 {
            return Err(StoreError::invalid_input(format!(
                "an increment must be at least 1, got {by}"
            )));
        }
        self.bounded("increment", self.counters.increment(name, by))
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
        self.bounded("create", self.counters.create(name, counter))
            .await
    }

    /// Sets an existing counter to `value` (0 or more); the value before, or `None` when there
    /// is no such counter.
    pub async fn set(&self, name: &CounterName, value: i64) -> Result<Option<i64>, StoreError> {
        check_value("a counter's value", value)?;
        self.bounded("set", self.counters.set(name, value)).await
    }

    /// Adds `amount` (not 0; negative subtracts) to an existing counter, unless the result
    /// would leave 0 ..= i64::MAX.
    pub async fn add(&self, name: &CounterName, amount: i64) -> Result<AddOutcome, StoreError> {
        if amount == 0 {
            return Err(StoreError::invalid_input(
                "an amount of 0 changes nothing; give a positive or negative amount",
            ));
        }
        self.bounded("add", self.counters.add(name, amount)).await
    }

    /// Deletes `name`; `false` when there was no such counter.
    pub async fn delete(&self, name: &CounterName) -> Result<bool, StoreError> {
        self.bounded("delete", self.counters.delete(name)).await
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
        self.bounded("restore", self.counters.restore(record)).await
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
