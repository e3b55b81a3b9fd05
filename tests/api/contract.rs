//! The contract every store keeps, run through the `Store` facade against all four backends.
//!
//! Each check is a plain async function over a `Store`; `contract_suite!` turns
//! each one into a test per backend, so a failure names both the rule and the backend
//! (`contract::redis::parallel_increments_give_each_value_exactly_once`).
//!
//! The error half of the contract, "a store that stops gives an error within the timeout
//! and works again when it is back", needs a server of its own to stop, so it lives in
//! `availability.rs`: PostgreSQL and Redis stopped and restarted, Redis hung (SIGSTOP), and
//! SQLite's write lock held by another process. The memory store has nothing that can stop.

use std::{collections::BTreeSet, time::Duration};

use tally::store::{Backend, CounterName, Store, StoreErrorKind};

use crate::helpers::StoreFixture;

fn name(prefix: &str) -> CounterName {
    CounterName::parse(&format!("{prefix}_{}", crate::helpers::unique_id())).expect("valid name")
}

/// A counter nobody touched reads 0; each increment returns the new value.
pub async fn starts_at_zero_and_counts_up(store: Store) {
    let counter = name("fresh");
    assert_eq!(store.get(&counter).await.expect("get"), 0);
    assert_eq!(store.increment(&counter, 1).await.expect("increment"), 1);
    assert_eq!(store.increment(&counter, 1).await.expect("increment"), 2);
    assert_eq!(store.get(&counter).await.expect("get"), 2);
}

/// Counters with different names do not share a value.
pub async fn names_are_independent(store: Store) {
    let (a, b) = (name("a"), name("b"));
    for _ in 0..3 {
        store.increment(&a, 1).await.expect("increment a");
    }
    store.increment(&b, 1).await.expect("increment b");
    assert_eq!(store.get(&a).await.expect("get a"), 3);
    assert_eq!(store.get(&b).await.expect("get b"), 1);
}

/// `increment(name, by)` adds `by`, for batched increments.
pub async fn increments_by_amounts(store: Store) {
    let counter = name("amounts");
    assert_eq!(store.increment(&counter, 5).await.expect("by 5"), 5);
    assert_eq!(store.increment(&counter, 37).await.expect("by 37"), 42);
    assert_eq!(store.get(&counter).await.expect("get"), 42);
}

/// Amounts below 1 are invalid input, and change nothing.
pub async fn rejects_amounts_below_one(store: Store) {
    let counter = name("amount_zero");
    store.increment(&counter, 2).await.expect("increment");
    for by in [0, -1, i64::MIN] {
        let err = store.increment(&counter, by).await.expect_err("amount < 1");
        assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "by {by}: {err}");
    }
    assert_eq!(store.get(&counter).await.expect("get"), 2);
}

/// Passing i64::MAX is refused as an overflow and leaves the count as it was.
pub async fn overflow_is_refused_and_changes_nothing(store: Store) {
    let counter = name("overflow");
    assert_eq!(
        store
            .increment(&counter, i64::MAX - 1)
            .await
            .expect("near max"),
        i64::MAX - 1
    );
    assert_eq!(
        store.increment(&counter, 1).await.expect("to max"),
        i64::MAX
    );
    let err = store.increment(&counter, 1).await.expect_err("past max");
    assert_eq!(err.kind(), StoreErrorKind::Overflow, "{err}");
    assert_eq!(store.get(&counter).await.expect("get"), i64::MAX);
}

/// 1000 increments in parallel return exactly the values 1..=1000: none lost, none repeated.
pub async fn parallel_increments_give_each_value_exactly_once(store: Store) {
    const N: i64 = 1000;
    let counter = name("parallel");
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let store = store.clone();
            let counter = counter.clone();
            tokio::spawn(async move { store.increment(&counter, 1).await })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        let value = task.await.expect("task").expect("increment");
        assert!(seen.insert(value), "value {value} was returned twice");
    }
    assert_eq!(seen, (1..=N).collect::<BTreeSet<_>>());
    assert_eq!(store.get(&counter).await.expect("get"), N);
}

/// The default counter of `/count` is `visitor_count`.
pub async fn default_counter_is_visitor_count(store: Store) {
    let default = CounterName::default_counter();
    assert_eq!(default.as_str(), "visitor_count");
    let before = store.get(&default).await.expect("get");
    assert_eq!(
        store.increment(&default, 1).await.expect("increment"),
        before + 1
    );
}

/// Generous for the 1000-way test on a 2-core machine: it checks counting, not speed.
const CONTRACT_TIMEOUT: Duration = Duration::from_secs(30);

macro_rules! contract_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            async fn store() -> (Store, StoreFixture) {
                let fixture = StoreFixture::new($kind).await;
                (fixture.open(CONTRACT_TIMEOUT), fixture)
            }

            contract_suite!(@tests
                starts_at_zero_and_counts_up,
                names_are_independent,
                increments_by_amounts,
                rejects_amounts_below_one,
                overflow_is_refused_and_changes_nothing,
                parallel_increments_give_each_value_exactly_once,
                default_counter_is_visitor_count,
            );
        }
    )*};
    (@tests $($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let (store, _fixture) = store().await;
            super::$check(store.clone()).await;
            store.close().await;
        }
    )*};
}

contract_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}

/// Two store instances over one database (two tally replicas) share the count: 500 parallel
/// increments through each give exactly 1..=1000 between them.
async fn two_instances_share_one_count(backend: Backend) {
    let fixture = StoreFixture::new(backend).await;
    let (first, second) = (
        fixture.open(CONTRACT_TIMEOUT),
        fixture.open(CONTRACT_TIMEOUT),
    );
    let counter = name("shared");
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let counter = counter.clone();
            tokio::spawn(async move { store.increment(&counter, 1).await })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        assert!(seen.insert(task.await.expect("task").expect("increment")));
    }
    assert_eq!(seen, (1..=1000).collect::<BTreeSet<_>>());
    assert_eq!(second.get(&counter).await.expect("get"), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_instances_share_one_count() {
    two_instances_share_one_count(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_instances_share_one_count() {
    two_instances_share_one_count(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_instances_share_one_count() {
    two_instances_share_one_count(Backend::Sqlite).await;
}

/// A fresh Redis fixture in which `key` was set to `value` by a plain client (as another
/// program would), and that client's connection.
async fn redis_with_key(
    key: &str,
    value: &str,
) -> (StoreFixture, ::redis::aio::MultiplexedConnection) {
    let fixture = StoreFixture::new(Backend::Redis).await;
    let url = fixture.url.clone().expect("redis fixture has a URL");
    let client = ::redis::Client::open(url.as_str()).expect("valid url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = ::redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut conn)
        .await
        .expect("SET");
    (fixture, conn)
}

/// A Redis that the Flask tutorial filled (`INCR visitor_count`) keeps counting from there.
#[tokio::test]
async fn redis_keeps_a_count_left_by_the_flask_tutorial() {
    let (fixture, mut conn) = redis_with_key("visitor_count", "41").await;
    let store = fixture.open(Duration::from_secs(5));
    assert_eq!(
        store
            .increment(&CounterName::default_counter(), 1)
            .await
            .expect("increment"),
        42
    );
    let raw: i64 = ::redis::cmd("GET")
        .arg("visitor_count")
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(raw, 42, "the key is exactly visitor_count, no prefix");
}

/// A Redis key holding something that is not a number is a store failure, not an outage.
#[tokio::test]
async fn redis_key_with_text_is_a_failure_not_an_outage() {
    let (fixture, _conn) = redis_with_key("not_a_number", "hello").await;
    let store = fixture.open(Duration::from_secs(5));
    let counter = CounterName::parse("not_a_number").expect("valid name");
    let err = store
        .increment(&counter, 1)
        .await
        .expect_err("INCRBY on text");
    assert_eq!(err.kind(), StoreErrorKind::Failed, "{err}");
    let err = store
        .get(&counter)
        .await
        .expect_err("GET of text as a count");
    assert_eq!(err.kind(), StoreErrorKind::Failed, "{err}");
}

/// The embedded store keeps its counts when it is closed and opened again (a restart).
#[tokio::test]
async fn sqlite_counts_survive_reopening() {
    let fixture = StoreFixture::new(Backend::Sqlite).await;
    let counter = name("durable");
    let store = fixture.open(Duration::from_secs(5));
    store.increment(&counter, 7).await.expect("increment");
    store.close().await;
    let reopened = fixture.open(Duration::from_secs(5));
    assert_eq!(reopened.increment(&counter, 1).await.expect("increment"), 8);
}

/// The SQLite store creates its directory and file on first use.
#[tokio::test]
async fn sqlite_creates_missing_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/deeper/tally.db");
    let spec =
        tally::store::StoreSpec::Sqlite(sqlx::sqlite::SqliteConnectOptions::new().filename(&path));
    let store = tally::store::open(&spec, Duration::from_secs(5)).expect("open");
    assert_eq!(
        store
            .increment(&CounterName::default_counter(), 1)
            .await
            .expect("increment"),
        1
    );
    assert!(path.exists(), "{} was not created", path.display());
}
