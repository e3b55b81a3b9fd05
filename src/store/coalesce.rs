//! Group commit: increments that arrive while the store is busy are coalesced into one store
//! operation per counter, and each waiting request gets its own value from the range the
//! operation returns.
//!
//! Why: on PostgreSQL with `synchronous_commit = on`, every commit waits for a WAL flush, and
//! one row can take only a few thousand commits a second; SQLite has one writer. Adding 40 to
//! a counter costs the same as adding 1, so the requests that queue up during one commit are
//! served by the next commit together.
//!
//! How, without a timer: at most [`Coalescer::new`]'s `in_flight` batches run at once. A
//! request that finds a free slot starts a batch at once with everything queued (a lone
//! request, on a quiet server, is sent at once: no added latency). A request that finds every
//! slot busy joins the queue, and the batch that finishes next takes the whole queue with it.
//! So batches grow exactly as large as the store is slow.
//!
//! Within a batch, the increments of one counter become one increment by their sum. If the
//! store answers `v` for a counter incremented by `n` in the batch, the batch's requests for
//! that counter get `v - n + 1`, …, `v` in the order they arrived: every value is handed out
//! once, and the total is exact. The batch hands its counters to the runner in key order; how
//! they are written (the facade: each counter its own statement, so no transaction holds two
//! counters' rows and batches cannot deadlock) is the runner's.
//!
//! A batch that fails fails every request in it with the store's error: the outcome of each is
//! unknown (the statement may have committed before the connection broke), and, like a single
//! increment, none is retried.

use std::{
    collections::BTreeMap,
    fmt::Display,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::oneshot;

use super::{Backend, StoreError};

/// One counter's share of a batch: the sum of its increments. `K` names the counter, with
/// whatever else must be equal for increments to be summed (the facade adds the quarter-hour
/// the hits are recorded in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment<K, E> {
    pub key: K,
    pub by: i64,
    /// What each request brought along (e.g. its visitor), in arrival order.
    pub extras: Vec<E>,
}

/// The future of one batch: each counter's new value (or why not), in the batch's order.
pub type BatchFuture = Pin<Box<dyn Future<Output = Vec<Result<i64, StoreError>>> + Send>>;

/// Runs one batch, its counters in key order.
pub type RunBatch<K, E> = Arc<dyn Fn(Vec<Increment<K, E>>) -> BatchFuture + Send + Sync>;

struct Waiting<K, E> {
    key: K,
    by: i64,
    extra: E,
    reply: oneshot::Sender<Result<i64, StoreError>>,
}

struct Queue<K, E> {
    waiting: Vec<Waiting<K, E>>,
    running: usize,
}

pub struct Coalescer<K, E> {
    backend: Backend,
    queue: Arc<Mutex<Queue<K, E>>>,
    in_flight: usize,
    run: RunBatch<K, E>,
}

impl<K, E> Clone for Coalescer<K, E> {
    fn clone(&self) -> Self {
        Coalescer {
            backend: self.backend,
            queue: self.queue.clone(),
            in_flight: self.in_flight,
            run: self.run.clone(),
        }
    }
}

impl<K, E> Coalescer<K, E>
where
    K: Ord + Clone + Display + Send + 'static,
    E: Send + 'static,
{
    /// Runs batches on `backend` with `run`, at most `in_flight` (at least 1) at once.
    pub fn new(backend: Backend, in_flight: usize, run: RunBatch<K, E>) -> Coalescer<K, E> {
        Coalescer {
            backend,
            queue: Arc::new(Mutex::new(Queue {
                waiting: Vec::new(),
                running: 0,
            })),
            in_flight: in_flight.max(1),
            run,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<K, E>> {
        // Every critical section is a push or a take of the queue: nothing half done to find.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `by` to the counter `key` in the next batch; the value this request got.
    pub async fn increment(&self, key: K, by: i64, extra: E) -> Result<i64, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.waiting.push(Waiting {
                key,
                by,
                extra,
                reply,
            });
            if queue.running < self.in_flight {
                queue.running += 1;
                Some(std::mem::take(&mut queue.waiting))
            } else {
                None
            }
        };
        if let Some(batch) = start {
            // The batch runs in a task of its own: a caller that gives up (its request timed
            // out, its client left) must not abandon the others' increments half way.
            tokio::spawn(self.clone().drive(batch));
        }
        match answer.await {
            Ok(result) => result,
            // Only if the batch's task panicked: the outcome is unknown, like a lost connection.
            Err(_) => Err(StoreError::failed(
                self.backend,
                "the batch of increments stopped before it was answered; it may or may not have been applied",
            )),
        }
    }

    /// Runs `batch`, then every batch that queued up meanwhile, until the queue is empty.
    async fn drive(self, mut batch: Vec<Waiting<K, E>>) {
        loop {
            self.run_one(batch).await;
            let mut queue = self.lock();
            if queue.waiting.is_empty() {
                queue.running -= 1;
                return;
            }
            batch = std::mem::take(&mut queue.waiting);
        }
    }

    async fn run_one(&self, batch: Vec<Waiting<K, E>>) {
        // Group by counter (key order), keeping each counter's requests in arrival order.
        let mut groups: BTreeMap<K, Vec<Waiting<K, E>>> = BTreeMap::new();
        for waiting in batch {
            groups.entry(waiting.key.clone()).or_default().push(waiting);
        }
        let mut increments = Vec::with_capacity(groups.len());
        let mut replies = Vec::with_capacity(groups.len());
        for (key, waiting) in groups {
            let sum = waiting
                .iter()
                .try_fold(0i64, |sum, request| sum.checked_add(request.by));
            let Some(by) = sum else {
                // Amounts that together pass the largest count cannot all be applied: each is
                // refused, as one increment past it is, and nothing changes.
                for request in waiting {
                    let _ = request.reply.send(Err(StoreError::Overflow {
                        name: key.to_string(),
                        by: request.by,
                    }));
                }
                continue;
            };
            let mut extras = Vec::with_capacity(waiting.len());
            let mut senders = Vec::with_capacity(waiting.len());
            for request in waiting {
                extras.push(request.extra);
                senders.push((request.by, request.reply));
            }
            increments.push(Increment { key, by, extras });
            replies.push((by, senders));
        }
        if increments.is_empty() {
            return;
        }
        let results = (self.run)(increments).await;
        for ((total, senders), result) in replies.into_iter().zip(results) {
            match result {
                Ok(value) => {
                    // The batch's share of this counter ends at `value`: hand out the range in
                    // arrival order.
                    let mut next = value - total;
                    for (by, reply) in senders {
                        next += by;
                        let _ = reply.send(Ok(next));
                    }
                }
                Err(err) => {
                    for (_, reply) in senders {
                        let _ = reply.send(Err(err.duplicate()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, time::Duration};

    use tokio::sync::Notify;

    use super::*;
    use crate::store::CounterName;

    type Log = Arc<Mutex<Vec<Vec<(String, i64)>>>>;

    /// A store of counters in a map that takes `delay` per batch, logs every batch, fails a
    /// batch holding a counter named `fail`, and waits for `gate` when given.
    fn coalescer(
        delay: Duration,
        in_flight: usize,
        gate: Option<Arc<Notify>>,
    ) -> (Coalescer<CounterName, u32>, Log) {
        let counts = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
        let log: Log = Arc::default();
        let batches = log.clone();
        let run: RunBatch<CounterName, u32> =
            Arc::new(move |increments: Vec<Increment<CounterName, u32>>| {
                let counts = counts.clone();
                let batches = batches.clone();
                let gate = gate.clone();
                Box::pin(async move {
                    if let Some(gate) = gate {
                        gate.notified().await;
                    }
                    tokio::time::sleep(delay).await;
                    batches.lock().expect("log").push(
                        increments
                            .iter()
                            .map(|i| (i.key.to_string(), i.by))
                            .collect(),
                    );
                    // A batch holding `failing` fails as a whole, like a transaction that broke.
                    if increments.iter().any(|i| i.key.key().as_str() == "failing") {
                        return increments
                            .iter()
                            .map(|_| {
                                Err(StoreError::unavailable(Backend::Memory, "connection reset"))
                            })
                            .collect();
                    }
                    let mut counts = counts.lock().expect("counts");
                    increments
                        .iter()
                        .map(|i| {
                            let value = counts.entry(i.key.to_string()).or_default();
                            *value += i.by;
                            Ok(*value)
                        })
                        .collect()
                })
            });
        (Coalescer::new(Backend::Memory, in_flight, run), log)
    }

    fn name(text: &str) -> CounterName {
        CounterName::parse(text).expect("valid")
    }

    #[tokio::test]
    async fn a_lone_increment_is_sent_at_once_on_its_own() {
        let (coalescer, log) = coalescer(Duration::ZERO, 1, None);
        assert_eq!(
            coalescer
                .increment(name("nsp/one"), 1, 0)
                .await
                .expect("ok"),
            1
        );
        assert_eq!(
            coalescer
                .increment(name("nsp/one"), 2, 0)
                .await
                .expect("ok"),
            3
        );
        assert_eq!(
            *log.lock().expect("log"),
            vec![
                vec![("nsp/one".to_owned(), 1)],
                vec![("nsp/one".to_owned(), 2)]
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_increments_share_batches_and_get_each_value_once() {
        let (coalescer, log) = coalescer(Duration::from_millis(2), 2, None);
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { coalescer.increment(name("nsp/hot"), 1, 0).await })
            })
            .collect();
        let mut values = Vec::new();
        for task in tasks {
            values.push(task.await.expect("task").expect("increment"));
        }
        values.sort_unstable();
        assert_eq!(values, (1..=1000).collect::<Vec<i64>>());
        let batches = log.lock().expect("log").len();
        assert!(batches < 500, "{batches} batches for 1000 increments");
    }

    #[tokio::test]
    async fn a_batch_hands_out_values_in_arrival_order_and_counters_in_name_order() {
        let gate = Arc::new(Notify::new());
        let (coalescer, log) = coalescer(Duration::ZERO, 1, Some(gate.clone()));
        // The first request takes the only slot and waits at the gate; the rest queue up.
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.increment(name("nsp/zeta"), 1, 0).await }
        });
        tokio::task::yield_now().await;
        let mut queued = Vec::new();
        for (counter, by) in [
            ("nsp/zeta", 2),
            ("nsp/alpha", 1),
            ("nsp/zeta", 3),
            ("nsp/alpha", 4),
        ] {
            let coalescer = coalescer.clone();
            queued.push(tokio::spawn(async move {
                coalescer.increment(name(counter), by, 0).await
            }));
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        assert_eq!(first.await.expect("task").expect("ok"), 1);
        gate.notify_one();
        let mut values = Vec::new();
        for task in queued {
            values.push(task.await.expect("task").expect("ok"));
        }
        // zeta: 1, then +2 → 3, +3 → 6; alpha: +1 → 1, +4 → 5.
        assert_eq!(values, [3, 1, 6, 5]);
        assert_eq!(
            log.lock().expect("log")[1],
            vec![("nsp/alpha".to_owned(), 5), ("nsp/zeta".to_owned(), 5)]
        );
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_requests_and_the_next_batch_runs() {
        let gate = Arc::new(Notify::new());
        let (coalescer, _log) = coalescer(Duration::ZERO, 1, Some(gate.clone()));
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.increment(name("nsp/okay"), 1, 0).await }
        });
        tokio::task::yield_now().await;
        let mut doomed = Vec::new();
        for counter in ["nsp/okay", "nsp/failing", "nsp/other"] {
            let coalescer = coalescer.clone();
            doomed.push(tokio::spawn(async move {
                coalescer.increment(name(counter), 1, 0).await
            }));
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        assert_eq!(first.await.expect("task").expect("ok"), 1);
        gate.notify_one();
        for task in doomed {
            let err = task.await.expect("task").expect_err("the batch failed");
            assert!(err.is_transient(), "{err}");
        }
        gate.notify_one();
        assert_eq!(
            coalescer
                .increment(name("nsp/okay"), 1, 0)
                .await
                .expect("ok"),
            2
        );
    }

    #[tokio::test]
    async fn amounts_that_together_overflow_are_refused() {
        let gate = Arc::new(Notify::new());
        let (coalescer, _log) = coalescer(Duration::ZERO, 1, Some(gate.clone()));
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.increment(name("nsp/big"), 1, 0).await }
        });
        tokio::task::yield_now().await;
        let mut big = Vec::new();
        for _ in 0..2 {
            let coalescer = coalescer.clone();
            big.push(tokio::spawn(async move {
                coalescer.increment(name("nsp/big"), i64::MAX - 5, 0).await
            }));
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        first.await.expect("task").expect("ok");
        for task in big {
            let err = task.await.expect("task").expect_err("overflow");
            assert_eq!(err.kind(), crate::store::StoreErrorKind::Overflow);
        }
    }
}
