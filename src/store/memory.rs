//! The in-memory store: counts live in a `HashMap` and die with the process.
//!
//! It is a real backend, not a mock: `COUNTER_STORE=memory` is useful for demos and for a
//! tally that must not touch the disk, and it passes the same contract suite as the others.
//! A `std::sync::Mutex` (not a tokio one) guards the map because the critical section is a
//! single hash-map update that never awaits.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use async_trait::async_trait;

use super::{Backend, CounterName, CounterStore, Lifecycle, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    counts: Mutex<HashMap<CounterName, i64>>,
}

#[async_trait]
impl Lifecycle for MemoryStore {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        // A panic while holding the lock cannot leave a half-updated count (the update is one
        // assignment), so a poisoned lock is safe to keep using.
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(name.clone()).or_insert(0);
        let next = count.checked_add(by).ok_or_else(|| StoreError::Overflow {
            name: name.to_string(),
            by,
        })?;
        *count = next;
        Ok(next)
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(counts.get(name).copied().unwrap_or(0))
    }
}
