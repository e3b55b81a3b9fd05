//! The history every store keeps, through the `Store` facade and `tally::history`, against
//! all four backends: hits in their UTC quarter-hours, days summed exactly in zones with
//! half-hour and 45-minute offsets and on daylight-saving days, unique visitors counted once
//! per counter and UTC day and within 2 % at 100,000, the history deleted with its counter,
//! the salt shared by two replicas and gone with its day, and `HISTORY_DAYS` applied by the
//! maintenance job.
//!
//! Hits are placed at given times with `Store::increment_at`; `tally::history::daily` is asked
//! for given dates, so the checks do not depend on today (the HTTP routes, which end with
//! today, are in `history_api.rs`). Expected sums are computed here independently: each hit's
//! local date is looked up from its instant, where `daily` works from the days' bounds.

use std::{collections::BTreeMap, str::FromStr, time::Duration};

use jiff::{Timestamp, civil::Date, tz::TimeZone};
use sha2::{Digest, Sha256};
use tally::{
    history,
    jobs::WorkerOptions,
    store::{
        Backend, CounterName, Store, Visitor, VisitorHash,
        history::{DAY_MS, QUARTER_MS, day_of, quarter_of},
        job::{JobKind, JobStatus},
        now_millis,
    },
};

use crate::helpers::StoreFixture;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The checks place hits in 2025: kept that long (Redis would let older days expire at
/// once), but for the retention check, which sets its own.
const KEPT: u32 = tally::config::MAX_HISTORY_DAYS;

/// The zones the issue names: whole, half-hour and 45-minute offsets, one west of UTC, one
/// whose daylight saving moves by half an hour, and one with 23- and 25-hour days.
const ZONES: [&str; 6] = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Europe/Berlin",
];

fn name(prefix: &str) -> CounterName {
    CounterName::parse(&format!("history/{prefix}_{}", crate::helpers::unique_id()))
        .expect("valid name")
}

fn at(text: &str) -> i64 {
    Timestamp::from_str(text)
        .expect("an RFC 3339 time")
        .as_millisecond()
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).expect("a zone")
}

fn visitor(n: u32, agent: &str) -> Visitor {
    Visitor::new(
        std::net::IpAddr::from([198, 51, 100, u8::try_from(n).expect("small")]),
        agent.as_bytes(),
    )
}

/// A visitor hash as the facade would make it, but from a number: 100,000 distinct ones.
fn hash_of(n: u64) -> VisitorHash {
    VisitorHash(Sha256::digest(n.to_be_bytes()).into())
}

/// The local date of the instant `millis` in `tz`.
fn local_date(tz: &TimeZone, millis: i64) -> Date {
    tz.to_datetime(Timestamp::from_millisecond(millis).expect("in range"))
        .date()
}

/// The first instant of `date` in `tz`, in ms.
fn start_of(tz: &TimeZone, date: Date) -> i64 {
    date.to_zoned_datetime(tz.clone())
        .expect("in range")
        .timestamp()
        .as_millisecond()
}

/// Runs `hits` (`(time, by)`) 32 at a time.
async fn hit_all(store: &Store, counter: &CounterName, hits: &[(i64, i64)]) {
    for batch in hits.chunks(32) {
        let calls = batch
            .iter()
            .map(|(millis, by)| store.increment_at(counter, *by, None, *millis));
        for result in futures::future::join_all(calls).await {
            result.expect("hit");
        }
    }
}

/// Each hit lands in the quarter-hour that holds it, the last millisecond of one included,
/// and quarters without hits are not listed.
pub async fn hits_land_in_their_quarter_hours(store: Store) {
    let counter = name("quarters");
    let midnight = at("2025-03-30T00:00:00Z");
    let first = quarter_of(midnight);
    assert_eq!(first, 20_177 * 96);
    for (offset, by) in [
        (0, 1),
        (QUARTER_MS - 1, 2),
        (QUARTER_MS, 4),
        (DAY_MS - 1, 8),
        (DAY_MS, 16),
    ] {
        store
            .increment_at(&counter, by, None, midnight + offset)
            .await
            .expect("hit");
    }
    assert_eq!(store.get(&counter).await.expect("get"), 31);
    let day = day_of(midnight);
    let kept = store
        .history(&counter, first - 4..first + 200, day - 1..=day + 1)
        .await
        .expect("history");
    assert_eq!(
        kept.quarters,
        vec![
            (first, 3),
            (first + 1, 4),
            (first + 95, 8),
            (first + 96, 16)
        ]
    );
    assert!(kept.uniques.is_empty(), "no visitors: {:?}", kept.uniques);
    let window = store
        .history(&counter, first + 1..first + 96, day..=day)
        .await
        .expect("history");
    assert_eq!(window.quarters, vec![(first + 1, 4), (first + 95, 8)]);
}

/// The hits of the local days of every zone sum exactly, around Berlin's and Lord Howe's
/// daylight-saving changes in spring and autumn: hits at scattered times, plus one at the
/// first instant of each local day of each zone and one a millisecond before it.
pub async fn daily_sums_are_exact_in_every_zone(store: Store) {
    let windows = [
        ("2025-03-28T00:00:00Z", "2025-04-09T00:00:00Z"),
        ("2025-10-02T00:00:00Z", "2025-10-08T00:00:00Z"),
        ("2025-10-24T00:00:00Z", "2025-10-29T00:00:00Z"),
    ];
    for (from, to) in windows {
        let counter = name("zones");
        let (from, to) = (at(from), at(to));
        let mut hits: Vec<(i64, i64)> = Vec::new();
        // Scattered: about one quarter-hour in five, at a varying minute, varying amounts.
        for quarter in quarter_of(from)..quarter_of(to) {
            let mix = quarter.wrapping_mul(2_654_435_761).rem_euclid(1_000_003);
            if mix % 5 == 0 {
                hits.push((quarter * QUARTER_MS + mix % QUARTER_MS, 1 + mix % 13));
            }
        }
        // On every border of every zone's days within the window.
        for zone_name in ZONES {
            let tz = zone(zone_name);
            let mut date = local_date(&tz, from).tomorrow().expect("date");
            while start_of(&tz, date) < to {
                let start = start_of(&tz, date);
                hits.push((start, 100));
                hits.push((start - 1, 1000));
                date = date.tomorrow().expect("date");
            }
        }
        hit_all(&store, &counter, &hits).await;

        for zone_name in ZONES {
            let tz = zone(zone_name);
            let mut expected: BTreeMap<Date, i64> = BTreeMap::new();
            for (millis, by) in &hits {
                *expected.entry(local_date(&tz, *millis)).or_default() += by;
            }
            // The local days wholly inside the window.
            let whole: Vec<Date> = expected
                .keys()
                .copied()
                .filter(|date| {
                    start_of(&tz, *date) >= from
                        && start_of(&tz, date.tomorrow().expect("date")) <= to
                })
                .collect();
            let (Some(first), Some(last)) = (whole.first(), whole.last()) else {
                panic!("{zone_name}: no whole day in the window");
            };
            let count = u32::try_from(whole.len()).expect("few days");
            let days = history::daily(&store, &counter, &tz, *last, count)
                .await
                .expect("daily");
            assert_eq!(days.len(), whole.len(), "{zone_name}");
            assert_eq!(days[0].date, *first, "{zone_name}");
            for day in days {
                assert_eq!(
                    day.hits, expected[&day.date],
                    "{zone_name} {}: hits",
                    day.date
                );
                assert_eq!(day.uniques, 0, "{zone_name} {}", day.date);
            }
        }
    }
}

/// A hit every quarter-hour gives Berlin's spring day 92 quarter-hours of hits and its
/// autumn day 100, and the days around them 96; a zone's days without hits are there, at 0.
pub async fn daylight_saving_days_hold_23_and_25_hours(store: Store) {
    let counter = name("dst");
    let mut hits = Vec::new();
    for (from, to) in [
        ("2025-03-28T22:00:00Z", "2025-03-31T22:00:00Z"),
        ("2025-10-24T22:00:00Z", "2025-10-27T23:00:00Z"),
    ] {
        for quarter in quarter_of(at(from))..quarter_of(at(to)) {
            hits.push((quarter * QUARTER_MS + 7 * 60_000, 1));
        }
    }
    hit_all(&store, &counter, &hits).await;
    let berlin = zone("Europe/Berlin");
    let spring = history::daily(&store, &counter, &berlin, Date::constant(2025, 3, 31), 3)
        .await
        .expect("daily");
    let hits_of = |days: &[history::DayCount]| days.iter().map(|day| day.hits).collect::<Vec<_>>();
    assert_eq!(hits_of(&spring), [96, 92, 96]);
    let autumn = history::daily(&store, &counter, &berlin, Date::constant(2025, 10, 28), 6)
        .await
        .expect("daily");
    assert_eq!(autumn[0].date, Date::constant(2025, 10, 23));
    assert_eq!(hits_of(&autumn), [0, 0, 96, 100, 96, 0]);
}

/// One visitor counts once per counter and UTC day however often it hits; another visitor,
/// another day or another counter counts apart.
pub async fn a_visitor_counts_once_per_counter_and_day(store: Store) {
    let (home, about) = (name("home"), name("about"));
    let day_one = at("2025-06-01T08:00:00Z");
    let day_two = day_one + DAY_MS;
    let (alice, bob) = (visitor(1, "Firefox"), visitor(2, "Firefox"));
    let alice_on_chrome = visitor(1, "Chrome");
    for (counter, who, when) in [
        (&home, &alice, day_one),
        (&home, &alice, day_one + 3_600_000),
        (&home, &alice, day_one + 7_200_000),
        (&home, &bob, day_one),
        (&home, &alice_on_chrome, day_one),
        (&home, &alice, day_two),
        (&about, &alice, day_one),
    ] {
        store
            .increment_at(counter, 1, Some(who), when)
            .await
            .expect("hit");
    }
    let day = day_of(day_one);
    let quarters = quarter_of(day_one) - 100..quarter_of(day_two) + 100;
    let seen = store
        .history(&home, quarters.clone(), day - 1..=day + 2)
        .await
        .expect("history");
    assert_eq!(seen.uniques, vec![(day, 3), (day + 1, 1)]);
    let elsewhere = store
        .history(&about, quarters, day..=day + 1)
        .await
        .expect("history");
    assert_eq!(elsewhere.uniques, vec![(day, 1)]);
    let days = history::daily(&store, &home, &TimeZone::UTC, Date::constant(2025, 6, 2), 3)
        .await
        .expect("daily");
    let shown: Vec<(i64, u64)> = days.iter().map(|d| (d.hits, d.uniques)).collect();
    assert_eq!(shown, [(0, 0), (5, 3), (1, 1)]);
    // In Kolkata (+05:30) the local 2025-06-02 holds UTC noon-ish of the 2nd: day two's one.
    let kolkata = history::daily(
        &store,
        &home,
        &zone("Asia/Kolkata"),
        Date::constant(2025, 6, 2),
        1,
    )
    .await
    .expect("daily");
    assert_eq!((kolkata[0].hits, kolkata[0].uniques), (1, 1));
}

/// 100,000 distinct visitors in a day are counted within 2 %; the same 100,000 again change
/// nothing; the next day is counted apart.
pub async fn a_hundred_thousand_visitors_are_counted_within_two_percent(store: Store) {
    let counter = name("crowd");
    let day = day_of(at("2025-06-01T00:00:00Z"));
    let visitors: Vec<VisitorHash> = (0..100_000).map(hash_of).collect();
    for batch in visitors.chunks(10_000) {
        store
            .add_visitors(&counter, day, batch)
            .await
            .expect("add visitors");
    }
    let read = || async {
        store
            .history(&counter, 0..1, day..=day + 1)
            .await
            .expect("history")
            .uniques
    };
    let uniques = read().await;
    let [(counted_day, estimate)] = uniques[..] else {
        panic!("one day of visitors: {uniques:?}");
    };
    assert_eq!(counted_day, day);
    let error = (estimate as f64 - 100_000.0).abs() / 100_000.0;
    assert!(
        error <= 0.02,
        "100,000 visitors counted as {estimate} ({:.2} %)",
        error * 100.0
    );
    store
        .add_visitors(&counter, day, &visitors[..50_000])
        .await
        .expect("add again");
    store
        .add_visitors(&counter, day + 1, &visitors[..10])
        .await
        .expect("next day");
    assert_eq!(read().await, vec![(day, estimate), (day + 1, 10)]);
}

/// Deleting a counter deletes its history: a counter made again by a hit starts afresh.
pub async fn delete_removes_the_history(store: Store) {
    let counter = name("gone");
    let when = at("2025-06-01T12:00:00Z");
    store
        .increment_at(&counter, 5, Some(&visitor(1, "x")), when)
        .await
        .expect("hit");
    assert!(store.delete(&counter).await.expect("delete"));
    store
        .increment_at(&counter, 1, None, when + QUARTER_MS)
        .await
        .expect("hit again");
    let day = day_of(when);
    let left = store
        .history(
            &counter,
            quarter_of(when) - 96..quarter_of(when) + 96,
            day..=day,
        )
        .await
        .expect("history");
    assert_eq!(left.quarters, vec![(quarter_of(when) + 1, 1)]);
    assert!(left.uniques.is_empty(), "{:?}", left.uniques);
}

/// `HISTORY_DAYS` = 2: after the maintenance job (run by a real worker), the history of
/// today and the two days before is kept and the older days' is gone, on every store (Redis
/// lets it expire by itself).
pub async fn the_maintenance_job_keeps_history_days(store: Store) {
    let store = store.with_history_days(2);
    let counter = name("kept");
    let now = now_millis();
    let today = day_of(now);
    for back in 0..=5 {
        let when = now - back * DAY_MS;
        store
            .increment_at(&counter, 1 << back, Some(&visitor(1, "x")), when)
            .await
            .expect("hit");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(tally::jobs::worker::run(
        store.clone(),
        WorkerOptions::new(1, Duration::from_secs(30)),
        stopped,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let done = store
            .jobs(Some(JobStatus::Succeeded), None, 10)
            .await
            .expect("jobs");
        if done.iter().any(|job| job.kind == JobKind::Maintenance) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no maintenance ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    worker.await.expect("the worker stops");
    let left = store
        .history(
            &counter,
            quarter_of(now - 7 * DAY_MS)..quarter_of(now) + 1,
            today - 7..=today,
        )
        .await
        .expect("history");
    let days_with_hits: Vec<i64> = left
        .quarters
        .iter()
        .map(|(quarter, _)| quarter.div_euclid(96))
        .collect();
    assert_eq!(days_with_hits, [today - 2, today - 1, today], "{left:?}");
    let hits: Vec<i64> = left.quarters.iter().map(|(_, hits)| *hits).collect();
    assert_eq!(hits, [4, 2, 1]);
    let unique_days: Vec<i64> = left.uniques.iter().map(|(day, _)| *day).collect();
    assert_eq!(unique_days, [today - 2, today - 1, today]);
}

macro_rules! history_suite {
    ($($backend:ident => $kind:expr),* $(,)?) => {$(
        mod $backend {
            use super::*;

            history_suite!(@tests $kind;
                hits_land_in_their_quarter_hours,
                daily_sums_are_exact_in_every_zone,
                daylight_saving_days_hold_23_and_25_hours,
                a_visitor_counts_once_per_counter_and_day,
                a_hundred_thousand_visitors_are_counted_within_two_percent,
                delete_removes_the_history,
                the_maintenance_job_keeps_history_days,
            );
        }
    )*};
    (@tests $kind:expr; $($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let fixture = StoreFixture::new($kind).await;
            let store = fixture.open(TIMEOUT).with_history_days(KEPT);
            super::$check(store.clone()).await;
            store.close().await;
        }
    )*};
}

history_suite! {
    postgres => Backend::Postgres,
    redis => Backend::Redis,
    sqlite => Backend::Sqlite,
    memory => Backend::Memory,
}

/// Two replicas (two store instances on one database) hash a visitor under the same salt, so
/// it counts once whichever replica it reaches.
async fn replicas_share_the_days_salt(backend: Backend) {
    let fixture = StoreFixture::new(backend).await;
    let (first, second) = (fixture.open(TIMEOUT), fixture.open(TIMEOUT));
    let counter = name("replicas");
    let now = now_millis();
    let alice = visitor(7, "Safari");
    for store in [&first, &second, &first] {
        store
            .increment_at(&counter, 1, Some(&alice), now)
            .await
            .expect("hit");
    }
    second
        .increment_at(&counter, 1, Some(&visitor(8, "Safari")), now)
        .await
        .expect("hit");
    let today = day_of(now);
    let seen = first
        .history(&counter, 0..1, today..=today)
        .await
        .expect("history");
    assert_eq!(seen.uniques, vec![(today, 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_share_the_days_salt() {
    replicas_share_the_days_salt(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_replicas_share_the_days_salt() {
    replicas_share_the_days_salt(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_share_the_days_salt() {
    replicas_share_the_days_salt(Backend::Sqlite).await;
}
