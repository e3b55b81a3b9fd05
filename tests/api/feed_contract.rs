//! The change feed's contract (`ChangeFeed`, what the live counts follow), through the `Store`
//! facade against all four backends: once `follow_changes` has answered, the changes made
//! through another store instance on the same data (another tally process; for memory, the
//! same instance, whose data is its own) come out with the value after them, each counter's in
//! the order they were made and ending on its last (a deleted counter's is 0); what happened
//! before following does not come out. SQLite, which reads its change table every 250 ms, may
//! fold a counter's changes between two reads into the last; the others announce each change,
//! in the order the store applied them, and are held to that.
//!
//! Restarts of the feed's server are in `live.rs` (the feed survives them).

use std::time::Duration;

use tally::store::{
    AddOutcome, Backend, ChangeStream, CounterChange, CounterName, CounterRecord, NewCounter,
    Store, UpdateRules, now_millis,
};

use crate::helpers::{StoreFixture, unique_id};

const TIMEOUT: Duration = Duration::from_secs(5);

fn name(key: &str) -> CounterName {
    CounterName::parse(&format!("feed-{}/{key}", unique_id())).expect("valid name")
}

fn change(name: &CounterName, value: i64) -> CounterChange {
    CounterChange {
        name: name.clone(),
        value,
    }
}

fn record(name: &CounterName, value: i64) -> CounterRecord {
    CounterRecord {
        name: name.clone(),
        value,
        created_at: 1_700_000_000_000,
        updated_at: now_millis(),
        owner: None,
        rules: UpdateRules::HIT_CREATED,
    }
}

/// The changes that come out until each counter of `made` has come out with its last value,
/// or a panic naming what came.
async fn changes_until_last(
    stream: &mut dyn ChangeStream,
    made: &[CounterChange],
) -> Vec<CounterChange> {
    let mut changes: Vec<CounterChange> = Vec::new();
    let done = |changes: &[CounterChange]| {
        made.iter().all(|change| {
            let last_made = made.iter().rev().find(|made| made.name == change.name);
            let last_come = changes.iter().rev().find(|come| come.name == change.name);
            last_made == last_come
        })
    };
    while !done(&changes) {
        let batch = tokio::time::timeout(TIMEOUT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("made {made:?}, came only {changes:?}"))
            .expect("the feed goes on");
        changes.extend(batch);
    }
    changes
}

/// Checks what came against what was made: all of it, in order, or, where the backend folds,
/// for each counter a part of its values in their order, ending on its last.
fn assert_came(backend: Backend, made: &[CounterChange], came: &[CounterChange]) {
    if backend != Backend::Sqlite {
        assert_eq!(came, made);
        return;
    }
    for change in came {
        let values_made: Vec<i64> = made
            .iter()
            .filter(|made| made.name == change.name)
            .map(|made| made.value)
            .collect();
        let values_come: Vec<i64> = came
            .iter()
            .filter(|come| come.name == change.name)
            .map(|come| come.value)
            .collect();
        let mut rest = values_made.iter();
        assert!(
            values_come
                .iter()
                .all(|value| rest.any(|made| made == value)),
            "{}: made {values_made:?}, came {values_come:?}",
            change.name
        );
    }
}

/// The store that follows and the one that writes: two instances on one store's data, but
/// for memory, whose data belongs to its instance.
async fn follower_and_writer(backend: Backend) -> (Store, Store, StoreFixture) {
    let fixture = StoreFixture::new(backend).await;
    let follower = fixture.open(TIMEOUT);
    follower.migrate().await.expect("migrate");
    let writer = match backend {
        Backend::Memory => follower.clone(),
        _ => fixture.open(TIMEOUT),
    };
    (follower, writer, fixture)
}

/// Every kind of change comes out, in order, with the value after it.
async fn every_change_comes_out_in_order(backend: Backend) {
    let (follower, writer, _fixture) = follower_and_writer(backend).await;
    let (hits, made, restored, paged) =
        (name("hits"), name("made"), name("restored"), name("paged"));
    writer.increment(&hits, 1).await.expect("before following");

    let mut stream = follower.follow_changes().await.expect("follow");
    assert_eq!(writer.increment(&hits, 2).await.expect("hit"), 3);
    let created = NewCounter {
        value: 7,
        owner: None,
        rules: UpdateRules::CREATED,
    };
    assert!(writer.create(&made, &created).await.expect("create"));
    assert_eq!(writer.set(&hits, 10).await.expect("set"), Some(3));
    assert_eq!(
        writer.add(&hits, -4).await.expect("add"),
        AddOutcome::Added(6)
    );
    assert!(writer.delete(&made).await.expect("delete"));
    writer
        .restore(&record(&restored, 42))
        .await
        .expect("restore");
    writer
        .restore_many(&[record(&paged, 5), record(&restored, 43)])
        .await
        .expect("restore_many");

    let expected = vec![
        change(&hits, 3),
        change(&made, 7),
        change(&hits, 10),
        change(&hits, 6),
        change(&made, 0),
        change(&restored, 42),
        change(&paged, 5),
        change(&restored, 43),
    ];
    let came = changes_until_last(stream.as_mut(), &expected).await;
    assert_came(backend, &expected, &came);
}

/// What changes nothing announces nothing: a refused create, a missing counter's set, add
/// and delete, an add out of range.
async fn refusals_announce_nothing(backend: Backend) {
    let (follower, writer, _fixture) = follower_and_writer(backend).await;
    let (counter, missing) = (name("kept"), name("missing"));
    writer.increment(&counter, 1).await.expect("hit");
    let mut stream = follower.follow_changes().await.expect("follow");
    let created = NewCounter {
        value: 9,
        owner: None,
        rules: UpdateRules::CREATED,
    };
    assert!(!writer.create(&counter, &created).await.expect("create"));
    assert_eq!(writer.set(&missing, 3).await.expect("set"), None);
    assert_eq!(
        writer.add(&missing, 3).await.expect("add"),
        AddOutcome::Missing
    );
    assert_eq!(
        writer.add(&counter, -5).await.expect("add"),
        AddOutcome::OutOfRange { current: 1 }
    );
    assert!(!writer.delete(&missing).await.expect("delete"));
    // The next change is the first to come out.
    assert_eq!(writer.increment(&counter, 1).await.expect("hit"), 2);
    let expected = vec![change(&counter, 2)];
    let came = changes_until_last(stream.as_mut(), &expected).await;
    assert_eq!(came, expected);
}

macro_rules! feed_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn every_change_comes_out_in_order() {
                super::every_change_comes_out_in_order($kind).await;
            }

            #[tokio::test]
            async fn refusals_announce_nothing() {
                super::refusals_announce_nothing($kind).await;
            }
        }
    )*};
}

feed_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}
