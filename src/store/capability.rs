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

use super::{Backend, CounterName, StoreError};

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

/// Named counters with atomic increments.
///
/// Counts are `i64` because that is what all three servers store natively (`BIGINT`, Redis
/// integers, SQLite `INTEGER`); a counter that has never been incremented reads as 0.
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Adds `by` (at least 1; the facade checks) to the counter `name`, creating it at 0 first
    /// if needed, and returns the new value. One atomic operation in the store; never retried.
    /// A count that would pass `i64::MAX` is [`StoreError::Overflow`] and changes nothing.
    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError>;

    /// The current value of `name`; 0 when it was never incremented.
    async fn get(&self, name: &CounterName) -> Result<i64, StoreError>;
}
