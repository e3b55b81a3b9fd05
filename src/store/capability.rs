//! The traits a backend implements: [`Lifecycle`], which every backend has, and one trait per
//! *capability*, each a slice of what tally keeps in a store.
//!
//! Today the one capability is [`CounterStore`]: named counters with atomic increments. The
//! features to come each bring their own trait here (owners' token hashes, per-period counts,
//! a job queue), implemented by every backend and checked by a contract suite of its own over
//! all four. Adding one means: the trait in this file, an `impl` in each backend module, a field
//! in `Parts` (in `store/mod.rs`, so that [`super::open`] hands it out), and its methods on the
//! [`super::Store`] facade, which applies the deadline and the metrics to every call.
//!
//! Backends implement these traits and nothing else: validation of input, the store timeout and
//! instrumentation live once, in the facade, not in each backend.

use async_trait::async_trait;

use super::{
    AddOutcome, Backend, CounterName, CounterRecord, Listed, Name, NewCounter, StoreError,
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
    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError>;

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

    /// Deletes `name` with everything stored about it; `false` when there was no such counter.
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
}
