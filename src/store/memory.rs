//! The in-memory store: counters live in a `BTreeMap` and die with the process.
//!
//! It is a real backend, not a mock: `COUNTER_STORE=memory` is useful for demos and for a
//! tally that must not touch the disk, and it passes the same contract suite as the others.
//! A `std::sync::Mutex` (not a tokio one) guards the map because every critical section is a
//! short map operation that never awaits; holding the lock for the whole operation is what
//! makes each one atomic. The map is ordered by namespace and key, which gives listings and
//! export pages their order for free.
//!
//! A counter's history sits beside it under the same lock, so a hit and what it records are
//! one step: hits per quarter-hour in a `BTreeMap`, and per UTC day a HyperLogLog sketch
//! ([`Registers`], 16 KiB, allocated on the day's first visitor).
//!
//! Its [`ChangeFeed`] is a broadcast channel in the process ("memory: local only"): each change
//! is sent while the lock is held, so the feed carries changes in the order they were applied,
//! as the servers' feeds do. Nothing is sent (and nothing cloned) while nobody follows.

use std::{
    collections::{BTreeMap, HashMap},
    ops::{Bound, Range, RangeInclusive},
    sync::{Mutex, MutexGuard, PoisonError},
};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{
    AddOutcome, Backend, ChangeFeed, ChangeStream, CounterChange, CounterName, CounterRecord,
    CounterStore, History, HistoryStore, Hit, Lifecycle, Listed, Name, NewCounter, Salt,
    StoreError, UpdateRules, VisitorHash, hll::Registers, now_millis,
};

/// Changes the feed holds for a follower that has not read them yet; one that falls further
/// behind loses its subscription (and the live hub reads the values afresh).
const FEED_BUFFER: usize = 4096;

pub struct MemoryStore {
    state: Mutex<State>,
    changes: broadcast::Sender<CounterChange>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            state: Mutex::default(),
            changes: broadcast::Sender::new(FEED_BUFFER),
        }
    }
}

#[derive(Default)]
struct State {
    counters: BTreeMap<CounterName, CounterRecord>,
    history: HashMap<CounterName, CounterHistory>,
    /// The salt of the current day, with its day.
    salt: Option<(i64, Salt)>,
}

#[derive(Default)]
struct CounterHistory {
    /// Quarter-hour → hits.
    quarters: BTreeMap<i64, i64>,
    /// UTC day → the sketch of its visitors.
    days: BTreeMap<i64, Registers>,
}

impl CounterHistory {
    fn add_visitors(&mut self, day: i64, visitors: impl IntoIterator<Item = VisitorHash>) {
        let registers = self.days.entry(day).or_default();
        for visitor in visitors {
            let (register, rank) = visitor.position();
            registers.offer(register, rank);
        }
    }
}

impl MemoryStore {
    /// A panic while holding the lock cannot leave a half-updated counter (each change is one
    /// assignment after every check), so a poisoned lock is safe to keep using.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

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
    async fn increment(&self, name: &CounterName, by: i64, hit: &Hit) -> Result<i64, StoreError> {
        let now = now_millis();
        let mut state = self.state();
        let counter = state
            .counters
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
        let history = state.history.entry(name.clone()).or_default();
        let hits = history.quarters.entry(hit.quarter).or_default();
        *hits = hits.saturating_add(by);
        if let Some(visitor) = hit.visitor {
            history.add_visitors(hit.day, [visitor]);
        }
        self.announce(name, next);
        Ok(next)
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        Ok(self
            .state()
            .counters
            .get(name)
            .map_or(0, |counter| counter.value))
    }

    async fn info(&self, name: &CounterName) -> Result<Option<CounterRecord>, StoreError> {
        Ok(self.state().counters.get(name).cloned())
    }

    async fn create(&self, name: &CounterName, counter: &NewCounter) -> Result<bool, StoreError> {
        let now = now_millis();
        let mut state = self.state();
        let counters = &mut state.counters;
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
        let mut state = self.state();
        let old = state.counters.get_mut(name).map(|counter| {
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
        let mut state = self.state();
        let Some(counter) = state.counters.get_mut(name) else {
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
        let mut state = self.state();
        state.history.remove(name);
        let deleted = state.counters.remove(name).is_some();
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
        let state = self.state();
        let from = match after {
            Some(after) => Bound::Excluded(CounterName::new(namespace.clone(), after.clone())),
            None => Bound::Excluded(CounterName::before_all_of(namespace)),
        };
        Ok(state
            .counters
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
        let state = self.state();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(state
            .counters
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, counter)| counter.clone())
            .collect())
    }

    async fn restore(&self, record: &CounterRecord) -> Result<(), StoreError> {
        let mut state = self.state();
        state.counters.insert(record.name.clone(), record.clone());
        self.announce(&record.name, record.value);
        Ok(())
    }
}

#[async_trait]
impl HistoryStore for MemoryStore {
    async fn daily_salt(&self, day: i64, candidate: &Salt) -> Result<Salt, StoreError> {
        let mut state = self.state();
        match state.salt {
            Some((stored, salt)) if stored == day => Ok(salt),
            // A salt of an earlier (or, from a test, later) day is replaced: one is kept.
            _ => {
                state.salt = Some((day, *candidate));
                Ok(*candidate)
            }
        }
    }

    async fn history(
        &self,
        name: &CounterName,
        quarters: Range<i64>,
        days: RangeInclusive<i64>,
    ) -> Result<History, StoreError> {
        let state = self.state();
        let Some(history) = state.history.get(name) else {
            return Ok(History::default());
        };
        Ok(History {
            quarters: history
                .quarters
                .range(quarters)
                .map(|(quarter, hits)| (*quarter, *hits))
                .collect(),
            uniques: history
                .days
                .range(days)
                .map(|(day, registers)| (*day, registers.histogram().estimate()))
                .filter(|(_, visitors)| *visitors > 0)
                .collect(),
        })
    }

    async fn add_visitors(
        &self,
        name: &CounterName,
        day: i64,
        visitors: &[VisitorHash],
        _days_kept: u32,
    ) -> Result<(), StoreError> {
        self.state()
            .history
            .entry(name.clone())
            .or_default()
            .add_visitors(day, visitors.iter().copied());
        Ok(())
    }

    async fn trim_history(&self, first_kept: i64, today: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let first_quarter = first_kept.saturating_mul(super::history::QUARTERS_PER_DAY);
        let mut deleted = 0;
        for history in state.history.values_mut() {
            let kept_quarters = history.quarters.split_off(&first_quarter);
            deleted += std::mem::replace(&mut history.quarters, kept_quarters).len() as u64;
            let kept_days = history.days.split_off(&first_kept);
            deleted += std::mem::replace(&mut history.days, kept_days).len() as u64;
        }
        state
            .history
            .retain(|_, history| !(history.quarters.is_empty() && history.days.is_empty()));
        if state.salt.is_some_and(|(day, _)| day < today) {
            state.salt = None;
            deleted += 1;
        }
        Ok(deleted)
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
