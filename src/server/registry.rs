//! Every open connection, in the order they were accepted: to pick one to close when the cap
//! is reached and a client waits, and to close them all at shutdown.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::{sync::Notify, task::AbortHandle};

use super::state::ConnectionState;

#[derive(Default)]
pub(super) struct Registry {
    open: Mutex<Open>,
    /// A request finished on some connection (see [`ConnectionState`]).
    request_done: Arc<Notify>,
    /// The last connection closed.
    emptied: Notify,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    connections: BTreeMap<u64, Entry>,
}

struct Entry {
    state: Arc<ConnectionState>,
    task: AbortHandle,
}

impl Registry {
    fn open(&self) -> MutexGuard<'_, Open> {
        // A map of handles, valid whatever a panicking holder was doing.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Spawns `serve` for a new connection and records it until the task ends (or is cut).
    pub fn spawn<F, Fut>(self: &Arc<Self>, serve: F)
    where
        F: FnOnce(Arc<ConnectionState>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let state = Arc::new(ConnectionState::new(self.request_done.clone()));
        let served = serve(state.clone());
        // Held across the spawn, so the task cannot leave before it was recorded.
        let mut open = self.open();
        let id = open.next_id;
        open.next_id += 1;
        let leave = Leave {
            registry: self.clone(),
            id,
        };
        let task = tokio::spawn(async move {
            let _leave = leave;
            served.await;
        });
        open.connections.insert(
            id,
            Entry {
                state,
                task: task.abort_handle(),
            },
        );
    }

    pub fn len(&self) -> usize {
        self.open().connections.len()
    }

    /// Asks the connection accepted longest ago among those with no request in flight (and
    /// not already asked) to close. False when every connection is serving a request.
    pub fn close_oldest_waiting(&self) -> bool {
        let open = self.open();
        open.connections
            .values()
            .find(|entry| !entry.state.close_requested() && !entry.state.is_serving())
            .is_some_and(|entry| entry.state.request_close())
    }

    /// Completes when a request finished somewhere since the last call (or spuriously).
    pub async fn request_done(&self) {
        self.request_done.notified().await;
    }

    /// Asks every connection to close; returns how many had no request in flight (they close
    /// at once) and how many had one (they close after it).
    pub fn close_all(&self) -> (usize, usize) {
        let open = self.open();
        let mut waiting = 0;
        for entry in open.connections.values() {
            entry.state.request_close();
            if !entry.state.is_serving() {
                waiting += 1;
            }
        }
        (waiting, open.connections.len() - waiting)
    }

    /// Completes when no connection is open.
    pub async fn all_closed(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.len() == 0 {
                return;
            }
            emptied.await;
        }
    }

    /// Cuts every connection still open; returns how many.
    pub fn cut_all(&self) -> usize {
        let tasks: Vec<AbortHandle> = self
            .open()
            .connections
            .values()
            .map(|entry| entry.task.clone())
            .collect();
        for task in &tasks {
            task.abort();
        }
        tasks.len()
    }
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Leave {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let mut open = self.registry.open();
        open.connections.remove(&self.id);
        if open.connections.is_empty() {
            drop(open);
            self.registry.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn settle(registry: &Registry, expected: usize) {
        for _ in 0..500 {
            if registry.len() == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} connections open, expected {expected}", registry.len());
    }

    /// Three connections that close when asked to and no request of theirs is in flight.
    fn spawn_three(registry: &Arc<Registry>) -> Vec<Arc<ConnectionState>> {
        let mut states = Vec::new();
        for _ in 0..3 {
            registry.spawn(|state| {
                states.push(state.clone());
                async move {
                    while !state.close_requested() || state.is_serving() {
                        state.changed().await;
                    }
                }
            });
        }
        states
    }

    #[tokio::test]
    async fn the_oldest_connection_without_a_request_in_flight_makes_room() {
        let registry = Arc::new(Registry::default());
        let states = spawn_three(&registry);
        settle(&registry, 3).await;
        states[0].request_started();

        assert!(registry.close_oldest_waiting());
        assert!(!states[0].close_requested(), "a request in flight is kept");
        assert!(states[1].close_requested(), "the oldest waiting one goes");
        settle(&registry, 2).await;

        assert!(registry.close_oldest_waiting());
        assert!(states[2].close_requested());
        settle(&registry, 1).await;
        assert!(
            !registry.close_oldest_waiting(),
            "nothing to close while every connection serves a request"
        );
        states[0].request_finished();
        assert!(registry.close_oldest_waiting());
        settle(&registry, 0).await;
    }

    #[tokio::test]
    async fn shutdown_closes_waiting_ones_and_counts_what_it_cuts() {
        let registry = Arc::new(Registry::default());
        let states = spawn_three(&registry);
        settle(&registry, 3).await;
        states[2].request_started();
        assert_eq!(registry.close_all(), (2, 1));
        settle(&registry, 1).await;
        let drained = tokio::time::timeout(Duration::from_millis(100), registry.all_closed()).await;
        assert!(
            drained.is_err(),
            "the request in flight holds its connection"
        );
        assert_eq!(registry.cut_all(), 1);
        tokio::time::timeout(Duration::from_secs(5), registry.all_closed())
            .await
            .expect("a cut connection leaves");
    }
}
