//! [`Hub`]: the followed counters, their latest values, and the slots for streams.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures_util::{StreamExt, stream};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinHandle,
    time::Instant,
};

use super::{COALESCE, DEFAULT_MAX_STREAMS, KEEP_ALIVE, feed};
use crate::store::{ChangeSink, CounterChange, CounterName, Store};

/// Reads of the store at once when the feed has to catch up (after it broke).
const CATCH_UP_READS: usize = 8;

/// The pause before a failed catch-up read is tried again.
const CATCH_UP_PAUSE: Duration = Duration::from_millis(250);

/// What a hub is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveOptions {
    /// `MAX_STREAMS`: streams served at once.
    pub max_streams: usize,
    /// A stream silent this long sends a comment line ([`KEEP_ALIVE`]; shorter in tests).
    pub keep_alive: Duration,
    /// The shortest time between two events of a stream ([`COALESCE`]).
    pub coalesce: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            max_streams: DEFAULT_MAX_STREAMS,
            keep_alive: KEEP_ALIVE,
            coalesce: COALESCE,
        }
    }
}

/// Told when a stream opens or ends and when a counter starts or stops being followed; the
/// metrics. Told changes, not totals, so that two streams opening at once cannot report their
/// totals in the wrong order.
pub trait LiveObserver: Send + Sync + 'static {
    /// `+1` when a stream takes a slot, `-1` when it gives it back.
    fn streams_changed(&self, by: i64);
    /// `+1` when a counter is followed, `-1` when its last follower left.
    fn watched_changed(&self, by: i64);
}

/// The live counts of one process. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// For reading values; a clone without this hub as its change sink (which would make a
    /// cycle of `Arc`s).
    pub(super) store: Store,
    options: LiveOptions,
    slots: Arc<Semaphore>,
    state: Mutex<State>,
    /// How many counters are followed, read without the lock by every change report.
    watched: AtomicUsize,
    /// Whether the feed follows changes now, and for which run of the feed task.
    following: watch::Sender<bool>,
    observer: Option<Arc<dyn LiveObserver>>,
}

struct State {
    counters: HashMap<CounterName, Watched>,
    /// The feed task while anyone follows a counter, with its run number.
    feed: Option<(u64, JoinHandle<()>)>,
    /// The number of the last feed task started.
    runs: u64,
}

/// One followed counter.
struct Watched {
    value: watch::Sender<Option<i64>>,
    /// The [`Watch`]es of it.
    followers: usize,
    /// Counts the values applied, so a read from the store can tell whether one came since it
    /// began.
    version: u64,
    /// When the feed last delivered a value of it.
    fed_at: Option<Instant>,
}

impl Watched {
    fn new() -> Watched {
        Watched {
            value: watch::Sender::new(None),
            followers: 0,
            version: 0,
            fed_at: None,
        }
    }

    fn apply(&mut self, value: i64) {
        self.version += 1;
        self.value.send_if_modified(|held| {
            let changed = *held != Some(value);
            *held = Some(value);
            changed
        });
    }
}

impl Hub {
    /// A hub reading values from `store`; pass `store` before it reports changes to this hub.
    pub fn new(store: Store, options: LiveOptions, observer: Option<Arc<dyn LiveObserver>>) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                store,
                options,
                slots: Arc::new(Semaphore::new(options.max_streams)),
                state: Mutex::new(State {
                    counters: HashMap::new(),
                    feed: None,
                    runs: 0,
                }),
                watched: AtomicUsize::new(0),
                following: watch::Sender::new(false),
                observer,
            }),
        }
    }

    /// The hub as the store's change sink: `store.reporting_changes_to(hub.sink())`.
    pub fn sink(&self) -> Arc<dyn ChangeSink> {
        self.inner.clone()
    }

    pub fn options(&self) -> LiveOptions {
        self.inner.options
    }

    /// A slot for one more stream, held as long as the stream lasts; `None` when
    /// `MAX_STREAMS` are open.
    pub fn admit(&self) -> Option<StreamSlot> {
        let permit = self.inner.slots.clone().try_acquire_owned().ok()?;
        if let Some(observer) = &self.inner.observer {
            observer.streams_changed(1);
        }
        Some(StreamSlot {
            _permit: permit,
            inner: self.inner.clone(),
        })
    }

    /// Follows `name`: its latest value from now on. The feed is started if it is not
    /// running, and this waits (at most the store timeout) until it follows changes, so that
    /// a value read from the store after this cannot miss a change that the feed does not
    /// bring. A feed that cannot follow yet reads every followed counter afresh once it does.
    pub async fn watch(&self, name: CounterName) -> Watch {
        let receiver = {
            let mut state = self.inner.lock();
            let watched = state.counters.entry(name.clone()).or_insert_with(|| {
                if let Some(observer) = &self.inner.observer {
                    observer.watched_changed(1);
                }
                Watched::new()
            });
            watched.followers += 1;
            let receiver = watched.value.subscribe();
            if state.feed.is_none() {
                state.runs += 1;
                let run = state.runs;
                let task = tokio::spawn(feed::follow(Arc::downgrade(&self.inner), run));
                state.feed = Some((run, task));
            }
            self.inner.counted(&state);
            receiver
        };
        // From here on, dropping the watch (this future cancelled, say) unregisters it.
        let watch = Watch {
            inner: self.inner.clone(),
            name,
            receiver,
        };
        let mut following = self.inner.following.subscribe();
        let _ = tokio::time::timeout(
            self.inner.store.timeout(),
            following.wait_for(|following| *following),
        )
        .await;
        watch
    }

    /// How many counters are followed now.
    pub fn watched(&self) -> usize {
        self.inner.watched.load(Ordering::Relaxed)
    }

    /// How many streams are open now.
    pub fn streams(&self) -> usize {
        self.inner.streams()
    }
}

impl Inner {
    /// A panic while holding the lock cannot leave the map half-changed in a way that matters
    /// (each change is a few field writes), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn streams(&self) -> usize {
        self.options
            .max_streams
            .saturating_sub(self.slots.available_permits())
    }

    /// Updates the count of followed counters after `state` changed.
    fn counted(&self, state: &State) {
        self.watched.store(state.counters.len(), Ordering::Relaxed);
    }

    /// A watch of `name` ended; the last one frees the counter, and the last counter stops
    /// the feed.
    fn unwatch(&self, name: &CounterName) {
        let mut state = self.lock();
        let Some(watched) = state.counters.get_mut(name) else {
            return;
        };
        watched.followers -= 1;
        if watched.followers == 0 {
            state.counters.remove(name);
            if let Some(observer) = &self.observer {
                observer.watched_changed(-1);
            }
            if state.counters.is_empty()
                && let Some((_, task)) = state.feed.take()
            {
                task.abort();
                self.following.send_replace(false);
            }
        }
        self.counted(&state);
    }

    /// The feed task of run `run` follows changes (or stopped following). A task that was
    /// replaced meanwhile changes nothing.
    pub(super) fn set_following(&self, run: u64, following: bool) {
        let state = self.lock();
        if state.feed.as_ref().map(|(current, _)| *current) != Some(run) {
            return;
        }
        self.following.send_replace(following);
    }

    /// Changes the feed delivered, in the order the store applied them.
    pub(super) fn delivered(&self, changes: Vec<CounterChange>) {
        let now = Instant::now();
        let mut state = self.lock();
        for CounterChange { name, value } in changes {
            if let Some(watched) = state.counters.get_mut(&name) {
                watched.fed_at = Some(now);
                watched.apply(value);
            }
        }
    }

    /// Reads every followed counter from the store, after the feed (re)started following:
    /// changes made while it did not were not announced. A read that fails (the first call
    /// after a restart may meet a connection the restart cut) is tried again after a pause,
    /// until every counter was read or the feed breaks again (which starts a new catch-up).
    pub(super) async fn catch_up(&self) {
        let mut names: Vec<CounterName> = self.lock().counters.keys().cloned().collect();
        while !names.is_empty() {
            let tickets: Vec<(CounterName, Ticket)> = {
                let state = self.lock();
                names
                    .into_iter()
                    .filter_map(|name| {
                        let version = state.counters.get(&name)?.version;
                        Some((name, Ticket(version)))
                    })
                    .collect()
            };
            names = stream::iter(tickets)
                .map(|(name, ticket)| async move {
                    match self.store.get(&name).await {
                        Ok(value) => {
                            self.seed(&name, ticket, value);
                            None
                        }
                        Err(err) => {
                            tracing::debug!(counter = %name, error = %err, "could not read a followed counter afresh; trying again");
                            Some(name)
                        }
                    }
                })
                .buffer_unordered(CATCH_UP_READS)
                .filter_map(std::future::ready)
                .collect()
                .await;
            if !names.is_empty() {
                tokio::time::sleep(CATCH_UP_PAUSE).await;
            }
        }
    }

    /// Applies `value`, read from the store, unless a value was applied since `ticket`.
    fn seed(&self, name: &CounterName, Ticket(version): Ticket, value: i64) {
        let mut state = self.lock();
        if let Some(watched) = state.counters.get_mut(name)
            && watched.version == version
        {
            watched.apply(value);
        }
    }
}

impl ChangeSink for Inner {
    fn changed(&self, name: &CounterName, value: i64, began: Instant) {
        // Every hit of the process comes here: no lock while nobody follows anything.
        if self.watched.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut state = self.lock();
        let Some(watched) = state.counters.get_mut(name) else {
            return;
        };
        // The feed delivered this counter since the change was sent: what it delivered is
        // newer than the change, or older and the change (or something newer) follows it
        // through the feed. Either way the report could only step back.
        if watched.fed_at.is_some_and(|fed_at| fed_at >= began) {
            return;
        }
        watched.apply(value);
    }
}

/// One of the `MAX_STREAMS` slots, given back when dropped.
pub struct StreamSlot {
    _permit: OwnedSemaphorePermit,
    inner: Arc<Inner>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some(observer) = &self.inner.observer {
            observer.streams_changed(-1);
        }
    }
}

/// Where a counter's followed value stood when a read from the store began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// One follower of one counter. Dropping it unfollows.
pub struct Watch {
    pub(super) inner: Arc<Inner>,
    pub(super) name: CounterName,
    pub(super) receiver: watch::Receiver<Option<i64>>,
}

impl Watch {
    /// Take before reading the counter's value from the store, for [`Watch::seed`].
    pub fn ticket(&self) -> Ticket {
        Ticket(
            self.inner
                .lock()
                .counters
                .get(&self.name)
                .map_or(0, |watched| watched.version),
        )
    }

    /// Applies `value`, read from the store after `ticket` was taken, unless a value came
    /// since (from the feed or a report), which is at least as new.
    pub fn seed(&self, ticket: Ticket, value: i64) {
        self.inner.seed(&self.name, ticket, value);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.inner.unwatch(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::{self, StoreSpec};

    fn hub() -> (Hub, Store) {
        let store = store::open(&StoreSpec::Memory, Duration::from_secs(2)).expect("memory");
        let hub = Hub::new(store.clone(), LiveOptions::default(), None);
        let store = store.reporting_changes_to(hub.sink());
        (hub, store)
    }

    fn name(text: &str) -> CounterName {
        CounterName::parse(text).expect("a name")
    }

    async fn value_becomes(watch: &mut Watch, expected: i64) {
        tokio::time::timeout(
            Duration::from_secs(2),
            watch.receiver.wait_for(|value| *value == Some(expected)),
        )
        .await
        .unwrap_or_else(|_| panic!("the value did not become {expected}"))
        .expect("the hub holds the sender");
    }

    #[tokio::test]
    async fn a_counter_is_followed_while_watched_and_freed_after() {
        let (hub, store) = hub();
        let home = name("site/home");
        let mut first = hub.watch(home.clone()).await;
        let second = hub.watch(home.clone()).await;
        let other = hub.watch(name("site/other")).await;
        assert_eq!(hub.watched(), 2);
        first.seed(first.ticket(), 0);
        store.increment(&home, 5).await.expect("count");
        value_becomes(&mut first, 5).await;
        drop(second);
        assert_eq!(hub.watched(), 2, "one follower is left");
        drop(first);
        drop(other);
        assert_eq!(hub.watched(), 0);
        assert!(hub.inner.lock().feed.is_none(), "the feed stopped");
        assert!(!*hub.inner.following.borrow());
    }

    #[tokio::test]
    async fn a_read_does_not_overwrite_a_newer_value() {
        let (hub, store) = hub();
        let home = name("site/home");
        let mut watch = hub.watch(home.clone()).await;
        let ticket = watch.ticket();
        store.increment(&home, 3).await.expect("count");
        value_becomes(&mut watch, 3).await;
        // A read that began before the increment answered 0: too old to apply.
        watch.seed(ticket, 0);
        assert_eq!(*watch.receiver.borrow(), Some(3));
        let ticket = watch.ticket();
        watch.seed(ticket, 4);
        assert_eq!(*watch.receiver.borrow(), Some(4));
    }

    #[tokio::test]
    async fn a_report_is_dropped_once_the_feed_delivered_since_its_change_was_sent() {
        let (hub, _store) = hub();
        let home = name("site/home");
        let watch = hub.watch(home.clone()).await;
        let sink = hub.sink();
        let sent = Instant::now();
        // The feed brought 1 (this process's hit) and then 2 (another process's); the report
        // of the hit that made 1 comes after both.
        hub.inner.delivered(vec![
            CounterChange {
                name: home.clone(),
                value: 1,
            },
            CounterChange {
                name: home.clone(),
                value: 2,
            },
        ]);
        sink.changed(&home, 1, sent);
        assert_eq!(*watch.receiver.borrow(), Some(2));
        // A change sent after the feed's last delivery is shown at once.
        sink.changed(&home, 3, Instant::now());
        assert_eq!(*watch.receiver.borrow(), Some(3));
    }

    #[tokio::test]
    async fn streams_are_bounded() {
        let store = store::open(&StoreSpec::Memory, Duration::from_secs(2)).expect("memory");
        let options = LiveOptions {
            max_streams: 2,
            ..LiveOptions::default()
        };
        let hub = Hub::new(store, options, None);
        let first = hub.admit().expect("a slot");
        let _second = hub.admit().expect("a slot");
        assert!(hub.admit().is_none());
        assert_eq!(hub.streams(), 2);
        drop(first);
        assert_eq!(hub.streams(), 1);
        assert!(hub.admit().is_some());
    }
}
