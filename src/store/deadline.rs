//! A hard upper bound on every store call.
//!
//! Backends bound their own waits (pool acquire, connect and response timeouts), but those are
//! per step: a connect that succeeds just before its timeout followed by a slow query could
//! still add up to more. [`Deadline`] wraps any store and turns "no answer within the store
//! timeout" into [`StoreError::TimedOut`], so no request ever waits longer than configured.
//!
//! A timed-out increment may or may not have been applied: the caller is told it failed and it
//! is not retried (see the module doc of [`crate::store`]).

use std::{future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;

use super::{Backend, CounterName, CounterStore, StoreError};

pub struct Deadline {
    inner: Arc<dyn CounterStore>,
    timeout: Duration,
}

impl Deadline {
    pub fn new(inner: Arc<dyn CounterStore>, timeout: Duration) -> Self {
        Deadline { inner, timeout }
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_elapsed) => Err(StoreError::TimedOut {
                backend: self.inner.backend(),
                after: self.timeout,
            }),
        }
    }
}

#[async_trait]
impl CounterStore for Deadline {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        self.bounded(self.inner.increment(name, by)).await
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        self.bounded(self.inner.get(name)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(self.inner.ping()).await
    }

    // Migrations are not bounded by the request timeout: on a slow disk they may legitimately
    // take longer, and they run once, at start or from `tally migrate`.
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
