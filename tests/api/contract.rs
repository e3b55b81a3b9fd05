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

use tally::store::{
    AddOutcome, Backend, CounterName, CounterRecord, Listed, Name, NewCounter, Store,
    StoreErrorKind, TokenHash, UpdateRules, now_millis,
};

use crate::helpers::StoreFixture;

fn name(prefix: &str) -> CounterName {
    CounterName::parse(&format!("{prefix}_{}", crate::helpers::unique_id())).expect("valid name")
}

/// A namespace no other check uses.
fn namespace(prefix: &str) -> Name {
    Name::parse(
        "namespace",
        &format!("{prefix}-{}", crate::helpers::unique_id()),
    )
    .expect("valid namespace")
}

fn key(key: &str) -> Name {
    Name::parse("key", key).expect("valid key")
}

fn owner(byte: u8) -> TokenHash {
    TokenHash([byte; 32])
}

fn created(value: i64) -> NewCounter {
    NewCounter {
        value,
        owner: Some(owner(7)),
        rules: UpdateRules::CREATED,
    }
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

/// Increments racing past the largest count: those the store applied got distinct values at
/// the top, the others were refused as overflows (with group commit, a batch whose sum does
/// not fit fails as a whole), and the count is exactly the start plus what was acknowledged.
pub async fn increments_racing_past_the_largest_count_never_pass_it(store: Store) {
    let counter = name("racing_max");
    let start = i64::MAX - 5;
    store.increment(&counter, start).await.expect("near max");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            let counter = counter.clone();
            tokio::spawn(async move { store.increment(&counter, 1).await })
        })
        .collect();
    let mut acknowledged = BTreeSet::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(value) => assert!(acknowledged.insert(value), "{value} handed out twice"),
            Err(err) => assert_eq!(err.kind(), StoreErrorKind::Overflow, "{err}"),
        }
    }
    let expected: BTreeSet<i64> = (1..=acknowledged.len() as i64).map(|n| start + n).collect();
    assert_eq!(acknowledged, expected);
    assert_eq!(
        store.get(&counter).await.expect("get"),
        start + acknowledged.len() as i64
    );
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
    assert_eq!(default.to_string(), "default/visitor_count");
    assert_eq!(default.storage_key(), "visitor_count");
    let before = store.get(&default).await.expect("get");
    assert_eq!(
        store.increment(&default, 1).await.expect("increment"),
        before + 1
    );
}

/// The same key in two namespaces is two counters.
pub async fn namespaces_are_independent(store: Store) {
    let (a, b) = (namespace("ns-a"), namespace("ns-b"));
    let (in_a, in_b) = (
        CounterName::new(a, key("page")),
        CounterName::new(b, key("page")),
    );
    store.increment(&in_a, 3).await.expect("hit a");
    store.increment(&in_b, 1).await.expect("hit b");
    assert_eq!(store.get(&in_a).await.expect("get a"), 3);
    assert_eq!(store.get(&in_b).await.expect("get b"), 1);
}

/// A counter made by its first hit has no owner, CountAPI's hit rules and its times.
pub async fn a_hit_creates_an_unowned_counter(store: Store) {
    let counter = name("hit_created");
    assert_eq!(store.info(&counter).await.expect("info"), None);
    let before = now_millis();
    store.increment(&counter, 1).await.expect("hit");
    let after = now_millis();
    let info = store.info(&counter).await.expect("info").expect("exists");
    assert_eq!(info.name, counter);
    assert_eq!(info.value, 1);
    assert_eq!(info.owner, None);
    assert_eq!(info.rules, UpdateRules::HIT_CREATED);
    assert!(
        (before..=after).contains(&info.created_at),
        "{info:?} not within {before}..={after}"
    );
    assert_eq!(info.created_at, info.updated_at);
}

/// `create` makes a counter once, with its value, owner and rules; a second `create` changes
/// nothing.
pub async fn create_makes_a_counter_once(store: Store) {
    let counter = name("created");
    assert!(store.create(&counter, &created(5)).await.expect("create"));
    let info = store.info(&counter).await.expect("info").expect("exists");
    assert_eq!(
        (info.value, info.owner, info.rules),
        (5, Some(owner(7)), UpdateRules::CREATED)
    );
    let other = NewCounter {
        value: 9,
        owner: Some(owner(8)),
        rules: UpdateRules::HIT_CREATED,
    };
    assert!(!store.create(&counter, &other).await.expect("create again"));
    assert_eq!(
        store.info(&counter).await.expect("info"),
        Some(info),
        "unchanged"
    );
    let unowned = name("created_unowned");
    let rules = UpdateRules {
        enable_reset: true,
        lower_bound: -5,
        upper_bound: 10,
    };
    let counter = NewCounter {
        value: i64::MAX,
        owner: None,
        rules,
    };
    assert!(store.create(&unowned, &counter).await.expect("create"));
    let info = store.info(&unowned).await.expect("info").expect("exists");
    assert_eq!(
        (info.value, info.owner, info.rules),
        (i64::MAX, None, rules)
    );
}

/// tally's own counters count as existing: nobody can create (and so own) them, before or
/// after their first count.
pub async fn tallys_own_counters_cannot_be_created(store: Store) {
    for own in ["default/visitor_count", "default/tick_count"] {
        let name = CounterName::parse(own).expect("valid");
        assert!(name.is_reserved(), "{own}");
        assert!(
            !store.create(&name, &created(5)).await.expect("create"),
            "{own}"
        );
        let owner = store
            .info(&name)
            .await
            .expect("info")
            .and_then(|info| info.owner);
        assert_eq!(owner, None, "{own} has no owner");
    }
    let visitors = CounterName::default_counter();
    let before = store.get(&visitors).await.expect("get");
    assert!(
        store
            .info(&visitors)
            .await
            .expect("info")
            .is_none_or(|info| info.owner.is_none()),
        "nobody owns it"
    );
    assert_eq!(
        store.increment(&visitors, 1).await.expect("hit"),
        before + 1
    );
    assert!(
        !CounterName::parse("elsewhere/visitor_count")
            .expect("valid")
            .is_reserved()
    );
}

/// Negative values and bounds that exclude 0 are invalid input, and create nothing.
pub async fn create_rejects_invalid_input(store: Store) {
    let counter = name("bad_create");
    let err = store
        .create(&counter, &created(-1))
        .await
        .expect_err("negative");
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "{err}");
    let mut bad = created(0);
    bad.rules.lower_bound = 1;
    let err = store.create(&counter, &bad).await.expect_err("bounds");
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "{err}");
    assert_eq!(store.info(&counter).await.expect("info"), None);
}

/// `set` returns the value it replaced; on a missing counter it creates nothing.
pub async fn set_replaces_the_value_of_an_existing_counter(store: Store) {
    let counter = name("set");
    assert_eq!(store.set(&counter, 5).await.expect("set missing"), None);
    assert_eq!(store.info(&counter).await.expect("info"), None);
    store.increment(&counter, 3).await.expect("hit");
    let created_at = store
        .info(&counter)
        .await
        .expect("info")
        .expect("exists")
        .created_at;
    assert_eq!(store.set(&counter, 42).await.expect("set"), Some(3));
    assert_eq!(store.set(&counter, 0).await.expect("set 0"), Some(42));
    assert_eq!(
        store.set(&counter, i64::MAX).await.expect("set max"),
        Some(0)
    );
    let info = store.info(&counter).await.expect("info").expect("exists");
    assert_eq!(info.value, i64::MAX);
    assert_eq!(info.created_at, created_at, "created_at stays");
    let err = store.set(&counter, -1).await.expect_err("negative");
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "{err}");
    assert_eq!(store.get(&counter).await.expect("get"), i64::MAX);
}

/// `add` moves an existing counter either way within 0 ..= i64::MAX, and refuses (changing
/// nothing) what would leave it.
pub async fn add_stays_within_zero_and_the_largest_count(store: Store) {
    let counter = name("add");
    assert_eq!(
        store.add(&counter, 1).await.expect("add missing"),
        AddOutcome::Missing
    );
    assert_eq!(store.info(&counter).await.expect("info"), None);
    assert!(store.create(&counter, &created(10)).await.expect("create"));
    assert_eq!(
        store.add(&counter, 5).await.expect("+5"),
        AddOutcome::Added(15)
    );
    assert_eq!(
        store.add(&counter, -15).await.expect("-15"),
        AddOutcome::Added(0)
    );
    assert_eq!(
        store.add(&counter, -1).await.expect("-1"),
        AddOutcome::OutOfRange { current: 0 }
    );
    assert_eq!(
        store.add(&counter, i64::MIN).await.expect("min"),
        AddOutcome::OutOfRange { current: 0 }
    );
    assert_eq!(
        store.add(&counter, i64::MAX).await.expect("max"),
        AddOutcome::Added(i64::MAX)
    );
    assert_eq!(
        store.add(&counter, 1).await.expect("past max"),
        AddOutcome::OutOfRange { current: i64::MAX }
    );
    let err = store.add(&counter, 0).await.expect_err("zero");
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "{err}");
    assert_eq!(store.get(&counter).await.expect("get"), i64::MAX);
}

/// Every change moves `updated_at` forward and leaves `created_at`.
pub async fn changes_move_updated_at(store: Store) {
    let counter = name("times");
    assert!(store.create(&counter, &created(1)).await.expect("create"));
    let first = store.info(&counter).await.expect("info").expect("exists");
    let mut last = first.updated_at;
    for step in 0..3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        match step {
            0 => drop(store.increment(&counter, 1).await.expect("hit")),
            1 => drop(store.set(&counter, 7).await.expect("set")),
            _ => drop(store.add(&counter, 2).await.expect("add")),
        }
        let info = store.info(&counter).await.expect("info").expect("exists");
        assert!(info.updated_at > last, "step {step}: {info:?} after {last}");
        assert_eq!(info.created_at, first.created_at, "step {step}");
        last = info.updated_at;
    }
}

/// `delete` removes a counter and what is stored about it; a later hit starts it again.
pub async fn delete_removes_everything(store: Store) {
    let counter = name("deleted");
    assert!(!store.delete(&counter).await.expect("delete missing"));
    assert!(store.create(&counter, &created(41)).await.expect("create"));
    assert!(store.delete(&counter).await.expect("delete"));
    assert_eq!(store.info(&counter).await.expect("info"), None);
    assert_eq!(store.get(&counter).await.expect("get"), 0);
    assert!(!store.delete(&counter).await.expect("delete again"));
    assert_eq!(store.increment(&counter, 1).await.expect("hit"), 1);
    let info = store.info(&counter).await.expect("info").expect("exists");
    assert_eq!((info.owner, info.rules), (None, UpdateRules::HIT_CREATED));
}

/// A namespace is listed in byte order of its keys, page by page after any cursor, and only
/// its own counters.
pub async fn list_pages_through_one_namespace_in_key_order(store: Store) {
    let ns = namespace("listed");
    let other = namespace("other");
    let keys = ["b-2", "B-1", "a.1", "_x_", "zzz", "A_0", "a-1"];
    for (value, k) in keys.iter().enumerate() {
        let value = i64::try_from(value).expect("small") + 1;
        store
            .increment(&CounterName::new(ns.clone(), key(k)), value)
            .await
            .expect("hit");
    }
    store
        .increment(&CounterName::new(other.clone(), key("aaa")), 1)
        .await
        .expect("hit other");
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    let mut listed = Vec::new();
    let mut cursor: Option<Name> = None;
    loop {
        let page = store.list(&ns, cursor.as_ref(), 2).await.expect("list");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(last.key.clone());
        listed.extend(page);
    }
    let listed_keys: Vec<&str> = listed.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(listed_keys, sorted);
    let b1 = listed
        .iter()
        .find(|l| l.key.as_str() == "B-1")
        .expect("B-1");
    assert_eq!(b1.value, 2);
    // Any valid name is a cursor, listed or not.
    let after = store.list(&ns, Some(&key("a-2")), 10).await.expect("list");
    let after: Vec<&str> = after.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(after, ["a.1", "b-2", "zzz"]);
    assert_eq!(
        store
            .list(&namespace("empty"), None, 10)
            .await
            .expect("list empty"),
        Vec::<Listed>::new()
    );
    let err = store.list(&ns, None, 0).await.expect_err("limit 0");
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "{err}");
}

/// `scan` walks every counter, ordered by namespace and key, with all that is stored about it.
pub async fn scan_walks_every_namespace_in_order(store: Store) {
    let (first, second) = (namespace("scan-a"), namespace("scan-b"));
    let mut expected = Vec::new();
    for ns in [&second, &first] {
        for k in ["key-b", "key-a", "key-c"] {
            let counter = CounterName::new(ns.clone(), key(k));
            assert!(store.create(&counter, &created(3)).await.expect("create"));
            expected.push(store.info(&counter).await.expect("info").expect("exists"));
        }
    }
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen: Vec<CounterRecord> = Vec::new();
    let mut cursor: Option<CounterName> = None;
    loop {
        let page = store.scan(cursor.as_ref(), 4).await.expect("scan");
        let Some(last) = page.last() else { break };
        cursor = Some(last.name.clone());
        seen.extend(page);
    }
    let names: Vec<_> = seen.iter().map(|r| r.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "in order");
    let ours: Vec<CounterRecord> = seen
        .into_iter()
        .filter(|r| r.name.namespace() == &first || r.name.namespace() == &second)
        .collect();
    assert_eq!(ours, expected);
}

/// `restore` writes a record as given, over an existing counter or a new one; twice is once.
pub async fn restore_writes_records_as_given(store: Store) {
    let counter = name("restored");
    let record = CounterRecord {
        name: counter.clone(),
        value: 1234,
        created_at: 1_600_000_000_000,
        updated_at: 1_700_000_000_123,
        owner: Some(owner(3)),
        rules: UpdateRules {
            enable_reset: true,
            lower_bound: -2,
            upper_bound: 2,
        },
    };
    store.restore(&record).await.expect("restore");
    store.restore(&record).await.expect("restore again");
    assert_eq!(
        store.info(&counter).await.expect("info"),
        Some(record.clone())
    );
    let replaced = CounterRecord {
        value: 7,
        owner: None,
        rules: UpdateRules::HIT_CREATED,
        ..record
    };
    store.increment(&counter, 1).await.expect("hit");
    store.restore(&replaced).await.expect("restore over");
    assert_eq!(store.info(&counter).await.expect("info"), Some(replaced));
}

/// Every record of the namespaces `ours`, read through `scan` pages, in scan order.
async fn scanned(store: &Store, ours: &[Name]) -> Vec<CounterRecord> {
    let mut seen = Vec::new();
    let mut cursor: Option<CounterName> = None;
    loop {
        let page = store.scan(cursor.as_ref(), 500).await.expect("scan");
        let Some(last) = page.last() else { break };
        cursor = Some(last.name.clone());
        seen.extend(
            page.into_iter()
                .filter(|record| ours.contains(record.name.namespace())),
        );
    }
    seen
}

/// `restore_many` writes a page of 1200 records across namespaces as given, over counters
/// that existed and new ones; restoring the same page again changes nothing.
pub async fn restore_many_writes_every_record(store: Store) {
    let ours = [
        namespace("bulk-a"),
        namespace("bulk-b"),
        namespace("bulk-c"),
    ];
    let mut records = Vec::new();
    for (n, ns) in ours.iter().enumerate() {
        for i in 0..400i64 {
            let value = match i {
                0 => 0,
                1 => i64::MAX,
                _ => i * 7 + n as i64,
            };
            records.push(CounterRecord {
                name: CounterName::new(ns.clone(), key(&format!("key-{i:04}"))),
                value,
                created_at: 1_600_000_000_000 + i,
                updated_at: 1_700_000_000_000 + i * 3,
                owner: (i % 3 != 0).then(|| owner((i % 251) as u8)),
                rules: UpdateRules {
                    enable_reset: i % 2 == 0,
                    lower_bound: -(i % 5),
                    upper_bound: i % 7 + 1,
                },
            });
        }
    }
    // Two of them exist already, with other values, owners and rules.
    store
        .increment(&records[5].name, 3)
        .await
        .expect("hit an existing one");
    assert!(
        store
            .create(&records[900].name, &created(99))
            .await
            .expect("create an existing one")
    );

    store.restore_many(&records).await.expect("restore_many");
    let mut expected = records.clone();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    let seen = scanned(&store, &ours).await;
    assert_eq!(seen.len(), 1200);
    assert_eq!(seen, expected);
    for record in [&records[5], &records[900], &records[1199]] {
        assert_eq!(
            store.info(&record.name).await.expect("info").as_ref(),
            Some(record)
        );
    }

    store
        .restore_many(&records)
        .await
        .expect("restore_many again");
    assert_eq!(scanned(&store, &ours).await, expected);
}

/// 1000 hits on a counter of a named namespace return exactly 1..=1000.
pub async fn parallel_hits_on_a_named_counter_give_each_value_once(store: Store) {
    let counter = CounterName::new(namespace("busy"), key("page"));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (store, counter) = (store.clone(), counter.clone());
            tokio::spawn(async move { store.increment(&counter, 1).await })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        assert!(seen.insert(task.await.expect("task").expect("hit")));
    }
    assert_eq!(seen, (1..=1000).collect::<BTreeSet<_>>());
}

/// `add` racing `hit` loses no update: 500 hits and 250 adds of 2 make exactly 1000.
pub async fn add_racing_hit_loses_no_update(store: Store) {
    let counter = name("race");
    assert!(store.create(&counter, &created(0)).await.expect("create"));
    let tasks: Vec<_> = (0..750)
        .map(|i| {
            let (store, counter) = (store.clone(), counter.clone());
            tokio::spawn(async move {
                if i % 3 == 0 {
                    match store.add(&counter, 2).await {
                        Ok(AddOutcome::Added(_)) => Ok(()),
                        other => Err(format!("add: {other:?}")),
                    }
                } else {
                    store
                        .increment(&counter, 1)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("change");
    }
    assert_eq!(store.get(&counter).await.expect("get"), 1000);
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
                increments_racing_past_the_largest_count_never_pass_it,
                default_counter_is_visitor_count,
                namespaces_are_independent,
                a_hit_creates_an_unowned_counter,
                create_makes_a_counter_once,
                create_rejects_invalid_input,
                tallys_own_counters_cannot_be_created,
                set_replaces_the_value_of_an_existing_counter,
                add_stays_within_zero_and_the_largest_count,
                changes_move_updated_at,
                delete_removes_everything,
                list_pages_through_one_namespace_in_key_order,
                scan_walks_every_namespace_in_order,
                restore_writes_records_as_given,
                restore_many_writes_every_record,
                parallel_hits_on_a_named_counter_give_each_value_once,
                add_racing_hit_loses_no_update,
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

/// Every key in the fixture's Redis db, listed with `SCAN`: tally itself never lists keys, this
/// is the test looking at what it wrote.
async fn all_redis_keys(conn: &mut ::redis::aio::MultiplexedConnection) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut cursor = 0_u64;
    loop {
        let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(100)
            .query_async(conn)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// The meta hash of the counter whose value key is `value_key`.
fn redis_meta_key(value_key: &str) -> String {
    format!("tally:{{{value_key}}}:meta")
}

const REDIS_INDEX: &str = "tally:{index}:counters";

/// The tutorial's `visitor_count`, which tally never created, is a counter like any other once
/// tally has hit it: `info` answers (first seen at that hit) and `list` and `scan` find it.
#[tokio::test]
async fn redis_lists_the_tutorial_count_once_tally_has_hit_it() {
    let (fixture, _conn) = redis_with_key("visitor_count", "41").await;
    let store = fixture.open(Duration::from_secs(5));
    let default = CounterName::default_counter();
    let before = now_millis();
    assert_eq!(store.increment(&default, 1).await.expect("hit"), 42);
    let after = now_millis();
    let info = store
        .info(&default)
        .await
        .expect("info")
        .expect("the tutorial's count is a counter");
    assert_eq!(
        (info.value, info.owner, info.rules),
        (42, None, UpdateRules::HIT_CREATED)
    );
    assert!(
        (before..=after).contains(&info.created_at),
        "created when tally first saw it: {info:?} not within {before}..={after}"
    );
    assert_eq!(info.created_at, info.updated_at);
    assert_eq!(
        store
            .list(default.namespace(), None, 10)
            .await
            .expect("list"),
        vec![Listed {
            key: default.key().clone(),
            value: 42
        }]
    );
    assert_eq!(store.scan(None, 10).await.expect("scan"), vec![info]);
}

/// `info` answers for a value key another program wrote and tally never touched: the times are
/// when tally first saw it, and stay so while the other program counts on.
#[tokio::test]
async fn redis_info_answers_for_a_key_tally_never_wrote() {
    let (fixture, mut conn) = redis_with_key("imported", "41").await;
    let store = fixture.open(Duration::from_secs(5));
    let counter = CounterName::parse("imported").expect("valid name");
    let before = now_millis();
    let first = store
        .info(&counter)
        .await
        .expect("info")
        .expect("a value key is a counter");
    let after = now_millis();
    assert_eq!(
        (first.value, first.owner, first.rules),
        (41, None, UpdateRules::HIT_CREATED)
    );
    assert!(
        (before..=after).contains(&first.created_at),
        "{first:?} not within {before}..={after}"
    );
    assert_eq!(first.created_at, first.updated_at);
    let _: i64 = ::redis::cmd("INCR")
        .arg("imported")
        .query_async(&mut conn)
        .await
        .expect("INCR");
    let second = store.info(&counter).await.expect("info").expect("exists");
    assert_eq!(second, CounterRecord { value: 42, ..first });
    assert_eq!(store.scan(None, 10).await.expect("scan"), vec![second]);
}

/// Redis Cluster keeps a Lua script to one slot, so every key of one counter must hash to the
/// same slot. Checked with `CLUSTER KEYSLOT` over every key tally wrote (listed with `SCAN`),
/// on a node with cluster support, as Redis answers it nowhere else.
#[tokio::test]
async fn redis_keys_of_one_counter_share_one_cluster_slot() {
    let (fixture, mut conn) = redis_with_key("visitor_count", "41").await;
    let store = fixture.open(Duration::from_secs(5));
    let parse = |name: &str| CounterName::parse(name).expect("valid name");
    let (visits, home, about, elsewhere, gone) = (
        CounterName::default_counter(),
        parse("site.example/home"),
        parse("site.example/about"),
        parse("other-site/home"),
        parse("site.example/gone"),
    );
    store
        .increment(&visits, 1)
        .await
        .expect("hit the tutorial's");
    store.increment(&home, 1).await.expect("hit");
    assert!(store.create(&about, &created(3)).await.expect("create"));
    store
        .restore(&CounterRecord {
            name: elsewhere.clone(),
            value: 9,
            created_at: 1,
            updated_at: 2,
            owner: Some(owner(1)),
            rules: UpdateRules::CREATED,
        })
        .await
        .expect("restore");
    assert!(store.create(&gone, &created(1)).await.expect("create"));
    assert!(store.delete(&gone).await.expect("delete"));
    assert_eq!(
        store.add(&about, 2).await.expect("add"),
        AddOutcome::Added(5)
    );
    assert_eq!(store.set(&home, 7).await.expect("set"), Some(1));

    let counters = [&visits, &home, &about, &elsewhere];
    let mut expected: BTreeSet<String> = BTreeSet::from([REDIS_INDEX.to_owned()]);
    for counter in counters {
        expected.insert(counter.storage_key());
        expected.insert(redis_meta_key(&counter.storage_key()));
    }
    // The two counters that were hit have the history of one day (its hits and the days
    // hash; no visitor, so no HyperLogLog); the deleted one has nothing left.
    let mut keys = all_redis_keys(&mut conn).await;
    let mut history = Vec::new();
    for counter in [&visits, &home] {
        let hits = format!("tally:{{{}}}:hits:", counter.storage_key());
        let days = format!("tally:{{{}}}:days", counter.storage_key());
        let of_day: Vec<String> = keys
            .iter()
            .filter(|key| key.starts_with(&hits))
            .cloned()
            .collect();
        assert_eq!(of_day.len(), 1, "one day of hits for {counter}: {keys:?}");
        assert!(keys.remove(&days), "{days} in {keys:?}");
        for key in of_day {
            keys.remove(&key);
            history.push((counter, key));
        }
        history.push((counter, days));
    }
    assert_eq!(
        keys, expected,
        "a value and a meta hash per counter, and the index"
    );

    let node = crate::servers::RedisServer::start_cluster_node();
    let client = ::redis::Client::open(node.url().as_str()).expect("valid url");
    let mut node_conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the cluster node");
    for counter in counters {
        let mut slots = BTreeSet::new();
        let history_keys = history
            .iter()
            .filter(|(of, _)| of == &counter)
            .map(|(_, key)| key.clone());
        for key in [
            counter.storage_key(),
            redis_meta_key(&counter.storage_key()),
        ]
        .into_iter()
        .chain(history_keys)
        {
            let slot: i64 = ::redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(&key)
                .query_async(&mut node_conn)
                .await
                .expect("CLUSTER KEYSLOT");
            slots.insert(slot);
        }
        assert_eq!(slots.len(), 1, "the keys of {counter} span slots {slots:?}");
    }
}

/// A counter's owner is stored as the 32-byte hash it was given and nowhere else, in no other
/// form: Redis holds nothing from which a token could be used.
#[tokio::test]
async fn redis_stores_only_the_token_hash() {
    let (fixture, mut conn) = redis_with_key("unrelated", "1").await;
    let store = fixture.open(Duration::from_secs(5));
    let hash = TokenHash(std::array::from_fn(|i| {
        u8::try_from(i).expect("small").wrapping_mul(37) ^ 0xa5
    }));
    let counter = CounterName::parse("site.example/owned").expect("valid name");
    let new = NewCounter {
        owner: Some(hash),
        ..created(1)
    };
    assert!(store.create(&counter, &new).await.expect("create"));
    store.increment(&counter, 1).await.expect("hit");
    let hex: String = hash.0.iter().map(|byte| format!("{byte:02x}")).collect();

    let meta_key = redis_meta_key(&counter.storage_key());
    let mut seen = 0;
    for key in all_redis_keys(&mut conn).await {
        let kind: String = ::redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("TYPE");
        let values: Vec<(String, Vec<u8>)> = match kind.as_str() {
            "string" => {
                let value: Vec<u8> = ::redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .expect("GET");
                vec![(String::new(), value)]
            }
            "hash" => ::redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("HGETALL"),
            "zset" => {
                let members: Vec<Vec<u8>> = ::redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
                    .expect("ZRANGE");
                members.into_iter().map(|m| (String::new(), m)).collect()
            }
            other => panic!("tally wrote a {other} at {key}"),
        };
        for (field, value) in values {
            let text = String::from_utf8_lossy(&value);
            if key == meta_key && field == "owner" {
                assert_eq!(value, hash.0, "the owner is the raw 32-byte hash");
                seen += 1;
                continue;
            }
            assert!(
                !value.windows(32).any(|w| w == hash.0.as_slice())
                    && !text.to_ascii_lowercase().contains(&hex)
                    && !key.contains(&hex)
                    && !field.contains(&hex),
                "{key} {field} holds the owner's hash"
            );
        }
    }
    assert_eq!(seen, 1, "the meta hash of {counter} has its owner");
}

/// A hit on a counter that exists is one script and no more, also through a store instance
/// (a tally process) that did not create it: the index is written when a counter is created,
/// never by a hit. Counted with Redis's own command statistics, on a server of its own so that
/// no other test's commands mix in.
#[tokio::test]
async fn redis_hits_of_an_existing_counter_are_one_script_each() {
    let server = crate::servers::RedisServer::start();
    let spec = tally::store::StoreSpec::Redis(crate::helpers::redis_info(&server.url()));
    let open = || tally::store::open(&spec, Duration::from_secs(5)).expect("open");
    let counter = CounterName::parse("site.example/home").expect("valid name");
    open()
        .increment(&counter, 1)
        .await
        .expect("create by a hit");
    let store = open();
    assert_eq!(store.get(&counter).await.expect("connect"), 1);
    let client = ::redis::Client::open(server.url().as_str()).expect("valid url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = ::redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .expect("CONFIG RESETSTAT");
    for hit in 2..=11 {
        assert_eq!(store.increment(&counter, 1).await.expect("hit"), hit);
    }
    let stats: String = ::redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .expect("INFO");
    let calls: std::collections::BTreeMap<&str, u64> = stats
        .lines()
        .filter_map(|line| {
            let (command, rest) = line.strip_prefix("cmdstat_")?.split_once(":calls=")?;
            Some((command, rest.split(',').next()?.parse().ok()?))
        })
        .collect();
    assert_eq!(calls.get("evalsha"), Some(&10), "{calls:?}");
    for index_command in ["zadd", "zrem", "eval", "script|load"] {
        assert!(!calls.contains_key(index_command), "{calls:?}");
    }
}

/// Index members that name no counter (left when tally dies between adding an entry and
/// running its script, or between deleting a counter and its entry) are skipped by `list` and
/// `scan`, and a counter deleted and created again is listed once.
#[tokio::test]
async fn redis_listings_skip_index_entries_that_name_no_counter() {
    let (fixture, mut conn) = redis_with_key("unrelated", "1").await;
    let store = fixture.open(Duration::from_secs(5));
    let ns = key("site.example");
    let kept = CounterName::new(ns.clone(), key("kept"));
    let again = CounterName::new(ns.clone(), key("again"));
    store.increment(&kept, 1).await.expect("hit");
    store.increment(&again, 1).await.expect("hit");
    assert!(store.delete(&again).await.expect("delete"));
    store.increment(&again, 5).await.expect("hit again");
    for member in [
        "site.example kept 00000000000000000000000000000000",
        "site.example never 00000000000000000000000000000000",
        "site.example again 00000000000000000000000000000000",
        "not a member of tally's",
    ] {
        let _: i64 = ::redis::cmd("ZADD")
            .arg(REDIS_INDEX)
            .arg(0)
            .arg(member)
            .query_async(&mut conn)
            .await
            .expect("ZADD");
    }
    let expected = vec![
        Listed {
            key: key("again"),
            value: 5,
        },
        Listed {
            key: key("kept"),
            value: 1,
        },
    ];
    assert_eq!(store.list(&ns, None, 10).await.expect("list"), expected);
    let mut paged = Vec::new();
    let mut cursor: Option<Name> = None;
    loop {
        let page = store.list(&ns, cursor.as_ref(), 1).await.expect("list");
        let Some(last) = page.last() else { break };
        cursor = Some(last.key.clone());
        paged.extend(page);
    }
    assert_eq!(paged, expected, "one at a time");
    let scanned: Vec<_> = store
        .scan(None, 10)
        .await
        .expect("scan")
        .into_iter()
        .map(|record| (record.name.to_string(), record.value))
        .collect();
    assert_eq!(
        scanned,
        [
            ("site.example/again".to_owned(), 5),
            ("site.example/kept".to_owned(), 1)
        ]
    );
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

/// The last migration of the schema before named counters: one row per `name`.
const BEFORE_NAMED_COUNTERS: i64 = 20261124000001;

/// The migrations of `backend` (`migrations/postgres` or `migrations/sqlite`), read from disk.
async fn migrations_of(backend: Backend) -> sqlx::migrate::Migrator {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend.as_str());
    sqlx::migrate::Migrator::new(dir)
        .await
        .expect("read the migrations")
}

/// A store opened over a database that a tally from before named counters filled:
/// `visitor_count` = 41 and `tick_count` = 5 (last changed at `tick_updated_at`, in ms) move to
/// the default namespace with their values and times; `page:home`, a name the new rule refuses,
/// is not lost but kept aside, and the store works around it.
async fn old_counters_carry_over(store: &Store, tick_updated_at: i64) {
    let visitors = CounterName::default_counter();
    assert_eq!(store.get(&visitors).await.expect("get"), 41);
    assert_eq!(store.increment(&visitors, 1).await.expect("hit"), 42);
    let tick = CounterName::parse("tick_count").expect("valid name");
    assert_eq!(
        store.info(&tick).await.expect("info"),
        Some(CounterRecord {
            name: tick.clone(),
            value: 5,
            created_at: tick_updated_at,
            updated_at: tick_updated_at,
            owner: None,
            rules: UpdateRules::HIT_CREATED,
        })
    );
    let names: Vec<String> = store
        .scan(None, 10)
        .await
        .expect("scan")
        .iter()
        .map(|record| record.name.to_string())
        .collect();
    assert_eq!(names, ["default/tick_count", "default/visitor_count"]);
}

/// A PostgreSQL database migrated and filled by the old schema keeps its counts.
#[tokio::test]
async fn postgres_upgrade_keeps_old_counters() {
    use sqlx::{Connection, PgConnection};
    let fixture = StoreFixture::new(Backend::Postgres).await;
    let url = fixture.url.clone().expect("postgres fixture has a URL");
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    migrations_of(Backend::Postgres)
        .await
        .run_to(BEFORE_NAMED_COUNTERS, &mut conn)
        .await
        .expect("the old schema");
    sqlx::query(
        "INSERT INTO counters (name, value, updated_at) VALUES \
         ('visitor_count', 41, now()), \
         ('tick_count', 5, '2026-11-30 12:34:56.789+00'), \
         ('page:home', 3, now())",
    )
    .execute(&mut conn)
    .await
    .expect("old rows");
    let store = fixture.open(Duration::from_secs(5));
    old_counters_carry_over(&store, 1_796_042_096_789).await;
    let kept: Vec<(String, i64)> = sqlx::query_as("SELECT name, value FROM legacy_counters")
        .fetch_all(&mut conn)
        .await
        .expect("legacy rows");
    assert_eq!(kept, [("page:home".to_owned(), 3)]);
    store.close().await;
}

/// An SQLite file migrated and filled by the old schema keeps its counts.
#[tokio::test]
async fn sqlite_upgrade_keeps_old_counters() {
    use sqlx::{ConnectOptions, sqlite::SqliteConnectOptions};
    let fixture = StoreFixture::new(Backend::Sqlite).await;
    let url = fixture.url.clone().expect("sqlite fixture has a URL");
    let options: SqliteConnectOptions = url.parse().expect("sqlite URL");
    let mut conn = options
        .create_if_missing(true)
        .connect()
        .await
        .expect("create the file");
    migrations_of(Backend::Sqlite)
        .await
        .run_to(BEFORE_NAMED_COUNTERS, &mut conn)
        .await
        .expect("the old schema");
    // The old `updated_at` was CURRENT_TIMESTAMP: UTC text, whole seconds.
    sqlx::query(
        "INSERT INTO counters (name, value, updated_at) VALUES \
         ('visitor_count', 41, CURRENT_TIMESTAMP), \
         ('tick_count', 5, '2026-11-30 12:34:56'), \
         ('page:home', 3, CURRENT_TIMESTAMP)",
    )
    .execute(&mut conn)
    .await
    .expect("old rows");
    let store = fixture.open(Duration::from_secs(5));
    old_counters_carry_over(&store, 1_796_042_096_000).await;
    let kept: Vec<(String, i64)> = sqlx::query_as("SELECT name, value FROM legacy_counters")
        .fetch_all(&mut conn)
        .await
        .expect("legacy rows");
    assert_eq!(kept, [("page:home".to_owned(), 3)]);
    store.close().await;
}
