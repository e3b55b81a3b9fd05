//! The in-memory store: counters live in a `BTreeMap` and die with the process.
//!
//! It is a real backend, not a mock: `COUNTER_STORE=memory` is useful for demos and for a
//! tally that must not touch the disk, and it passes the same contract suite as the others.
//! A `std::sync::Mutex` (not a tokio one) guards the map because every critical section is a
//! short map operation that never awaits; holding the lock for the whole operation is what
//! makes each one atomic. The map is ordered by namespace and key, which gives listings and
//! export pages their order for free.
//!
//! Its [`ChangeFeed`] is a broadcast channel in the process ("memory: local only"): each change
//! is sent while the lock is held, so the feed carries changes in the order they were applied,
//! as the servers' feeds do. Nothing is sent (and nothing cloned) while nobody follows.

use std::{
    collections::BTreeMap,
    ops::Bound,
    sync::{Mutex, MutexGuard, PoisonError},
};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{
    AddOutcome, Backend, ChangeFeed, ChangeStream, CounterChange, CounterName, CounterRecord,
    CounterStore, Lifecycle, Listed, Name, NewCounter, StoreError, UpdateRules, now_millis,
};

/// Changes the feed holds for a follower that has not read them yet; one that falls further
/// behind loses its subscription (and the live hub reads the values afresh).
const FEED_BUFFER: usize = 4096;

pub struct MemoryStore {
    counters: Mutex<BTreeMap<CounterName, CounterRecord>>,
    changes: broadcast::Sender<CounterChange>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            counters: Mutex::default(),
            changes: broadcast::Sender::new(FEED_BUFFER),
        }
    }
}

impl MemoryStore {
    /// Sends a change to the followers; called with the lock held, so in the order of the
    /// changes.
    fn announce(&self, name: &CounterName, value: i64) {
        if self.changes.receiver_count() > 0 {
            // Only fails when nobody follows any more.
            let _ = self.changes.send(CounterChange {
                name: name.clone(),
                value,
            });
        }
    }

    /// A panic while holding the lock cannot leave a half-updated counter (each change is one
    /// assignment after every check), so a poisoned lock is safe to keep using.
    fn counters(&self) -> MutexGuard<'_, BTreeMap<CounterName, CounterRecord>> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
        let now = now_millis();
        let mut counters = self.counters();
        let counter = counters
            .entry(name.clone())
            .or_insert_with(|| CounterRecord {
                name: name.clone(),
                value: 0,
                created_at: now,
                updated_at: now,
                owner: None,
                rules: UpdateRules::HIT_CREATED,
            });
        let Some(next) = counter.value.checked_add(by) else {
            // A counter this call created at 0 cannot overflow (by <= i64::MAX), so nothing
            // was created for a refused increment.
            return Err(StoreError::Overflow {
                name: name.to_string(),
                by,
            });
        };
        counter.value = next;
        counter.updated_at = now;
        self.announce(name, next);
        Ok(next)
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        Ok(self.counters().get(name).map_or(0, |counter| counter.value))
    }

    async fn info(&self, name: &CounterName) -> Result<Option<CounterRecord>, StoreError> {
        Ok(self.counters().get(name).cloned())
    }

    async fn create(&self, name: &CounterName, counter: &NewCounter) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut counters = self.counters();
        if counters.contains_key(name) {
            return Ok(false);
        }
        counters.insert(
            name.clone(),
            CounterRecord {
                name: name.clone(),
                value: counter.value,
                created_at: now,
                updated_at: now,
                owner: counter.owner,
                rules: counter.rules,
            },
        );
        self.announce(name, counter.value);
        Ok(true)
    }

    async fn set(&self, name: &CounterName, value: i64) -> Result<Option<i64>, StoreError> {
        let now = now_millis();
        let mut counters = self.counters();
        let old = counters.get_mut(name).map(|counter| {
            let old = counter.value;
            counter.value = value;
            counter.updated_at = now;
            old
        });
        if old.is_some() {
            self.announce(name, value);
        }
        Ok(old)
    }

    async fn add(&self, name: &CounterName, amount: i64) -> Result<AddOutcome, StoreError> {
        let now = now_millis();
        let mut counters = self.counters();
        let Some(counter) = counters.get_mut(name) else {
            return Ok(AddOutcome::Missing);
        };
        match counter.value.checked_add(amount).filter(|next| *next >= 0) {
            Some(next) => {
                counter.value = next;
                counter.updated_at = now;
                self.announce(name, next);
                Ok(AddOutcome::Added(next))
            }
            None => Ok(AddOutcome::OutOfRange {
                current: counter.value,
            }),
        }
    }

    async fn delete(&self, name: &CounterName) -> Result<bool, StoreError> {
        let mut counters = self.counters();
        let deleted = counters.remove(name).is_some();
        if deleted {
            self.announce(name, 0);
        }
        Ok(deleted)
    }

    async fn list(
        &self,
        namespace: &Name,
        after: Option<&Name>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let counters = self.counters();
        let from = match after {
            Some(after) => Bound::Excluded(CounterName::new(namespace.clone(), after.clone())),
            None => Bound::Excluded(CounterName::before_all_of(namespace)),
        };
        Ok(counters
            .range((from, Bound::Unbounded))
            .map(|(_, counter)| counter)
            .take_while(|counter| counter.name.namespace() == namespace)
            .take(limit)
            .map(|counter| Listed {
                key: counter.name.key().clone(),
                value: counter.value,
            })
            .collect())
    }

    async fn scan(
        &self,
        after: Option<&CounterName>,
        limit: usize,
    ) -> Result<Vec<CounterRecord>, StoreError> {
        let counters = self.counters();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(counters
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, counter)| counter.clone())
            .collect())
    }

    async fn restore(&self, record: &CounterRecord) -> Result<(), StoreError> {
        let mut counters = self.counters();
        counters.insert(record.name.clone(), record.clone());
        self.announce(&record.name, record.value);
        Ok(())
    }
}

#[async_trait]
impl ChangeFeed for MemoryStore {
    async fn follow(&self) -> Result<Box<dyn ChangeStream>, StoreError> {
        Ok(Box::new(MemoryFollower(self.changes.subscribe())))
    }
}

/// A follower of the memory store's changes.
struct MemoryFollower(broadcast::Receiver<CounterChange>);

#[async_trait]
impl ChangeStream for MemoryFollower {
    async fn next(&mut self) -> Result<Vec<CounterChange>, StoreError> {
        let first = match self.0.recv().await {
            Ok(change) => change,
            Err(err) => {
                // Lagged (the changes it missed are gone) or closed (the store is gone).
                return Err(StoreError::unavailable(
                    Backend::Memory,
                    format!("the change feed broke: {err}"),
                ));
            }
        };
        let mut changes = vec![first];
        // Whatever else is waiting, without waiting for more.
        while let Ok(change) = self.0.try_recv() {
            changes.push(change);
        }
        Ok(changes)
    }
}
