//! [`Watch::values`]: what one stream sends, the current value and then its changes, at most
//! one per `coalesce`, always ending on the latest value.
//!
//! No task and no buffer per stream: the stream waits on its counter's `watch` channel, which
//! only ever holds the latest value, so a slow client or a burst of changes cannot pile values
//! up. After sending, it waits for the next change and then until `coalesce` has passed since
//! the last event, and sends what the value is then: whatever changed meanwhile is folded into
//! that one event.

use std::{future::Future, pin::Pin, time::Duration};

use futures_util::{Stream, stream};
use tokio::time::Instant;

use super::Watch;

type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Watch {
    /// The value now (once known), then the latest value after each change, at most one per
    /// `coalesce`, never the same value twice in a row. Ends when `stop` completes (the
    /// server shuts down); the watch is dropped with the stream.
    pub fn values(
        self,
        coalesce: Duration,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Stream<Item = i64> + Send + 'static {
        let follow = Follow {
            watch: self,
            stop: Box::pin(stop),
            coalesce,
            last: None,
            sent_at: None,
            first: true,
        };
        stream::unfold(follow, |mut follow| async move {
            let value = follow.next().await?;
            Some((value, follow))
        })
    }
}

struct Follow {
    watch: Watch,
    stop: Stop,
    coalesce: Duration,
    /// The value last sent.
    last: Option<i64>,
    sent_at: Option<Instant>,
    /// Nothing was sent yet: the value now is the first, without waiting for a change.
    first: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<i64> {
        loop {
            if !self.first {
                tokio::select! {
                    biased;
                    () = &mut self.stop => return None,
                    changed = self.watch.receiver.changed() => changed.ok()?,
                }
                if let Some(sent_at) = self.sent_at {
                    tokio::select! {
                        biased;
                        () = &mut self.stop => return None,
                        () = tokio::time::sleep_until(sent_at + self.coalesce) => {}
                    }
                }
            }
            self.first = false;
            let value = *self.watch.receiver.borrow_and_update();
            if let Some(value) = value
                && self.last != Some(value)
            {
                self.last = Some(value);
                self.sent_at = Some(Instant::now());
                return Some(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use crate::{
        live::{Hub, LiveOptions},
        store::{self, CounterName, StoreSpec},
    };

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_coalesced_and_ends_on_the_latest_value() {
        let store = store::open(&StoreSpec::Memory, Duration::from_secs(2)).expect("memory");
        let hub = Hub::new(store.clone(), LiveOptions::default(), None);
        let store = store.reporting_changes_to(hub.sink());
        let name = CounterName::parse("site/home").expect("a name");
        let watch = hub.watch(name.clone()).await;
        watch.seed(watch.ticket(), 0);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut values = Box::pin(watch.values(Duration::from_millis(100), async {
            let _ = stopped.await;
        }));
        assert_eq!(values.next().await, Some(0), "the value now comes first");

        // 50 hits, one every 10 ms: 500 ms of changes.
        let counting = tokio::spawn({
            let (store, name) = (store.clone(), name.clone());
            async move {
                for _ in 0..50 {
                    store.increment(&name, 1).await.expect("count");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        let started = tokio::time::Instant::now();
        let mut seen = Vec::new();
        loop {
            let value = tokio::time::timeout(Duration::from_secs(5), values.next())
                .await
                .expect("an event")
                .expect("the stream goes on");
            seen.push((value, started.elapsed()));
            if value == 50 {
                break;
            }
        }
        counting.await.expect("counting");
        let events = seen.len();
        assert!(
            (4..=7).contains(&events),
            "500 ms of changes make about 5 events, one per 100 ms: {seen:?}"
        );
        for pair in seen.windows(2) {
            assert!(pair[1].0 > pair[0].0, "values only grow: {seen:?}");
            assert!(
                pair[1].1 - pair[0].1 >= Duration::from_millis(100),
                "{seen:?}"
            );
        }
        // The end: nothing more until the next change, and the stream ends when told.
        let _ = stop.send(());
        assert_eq!(values.next().await, None);
    }
}
