//! `GET /api/v1/stats`: how many counters and namespaces the instance has, and how many hits
//! they hold (the sum of all values), for anyone (README, "Export and import").
//!
//! The numbers come from walking every counter with [`Store::scan`], which costs a store call
//! per thousand counters. So that a public route cannot be used to load the store, the answer
//! is kept for [`STATS_TTL`] in the process, and only one walk runs at a time: requests that
//! arrive during a walk wait for its result. The walk runs in its own task, so a request cut
//! by the request deadline on a large store does not waste it: the next request finds the
//! result. A failed walk is not kept.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
};
use serde::Serialize;
use tokio::sync::Mutex;

use super::{
    body::{json_or_jsonp, query},
    counters::JsonpQuery,
};
use crate::{
    store::{CounterName, Name, Store, StoreError},
    web::{AppError, AppState},
};

/// How long an answer is kept.
pub const STATS_TTL: Duration = Duration::from_secs(10);

/// Counters read per store call of a walk.
const STATS_PAGE: usize = 1000;

/// The instance's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub counters: u64,
    pub namespaces: u64,
    /// The sum of every counter's value (at most 2^64 − 1).
    pub hits: u64,
}

/// After a walk failed, how long requests are answered `503` at once instead of each
/// queueing a walk of its own against a store that is down (the route is public).
pub const STATS_FAILURE_BACKOFF: Duration = Duration::from_secs(2);

/// What the last walk gave, and when.
#[derive(Clone, Copy)]
enum Last {
    Counted(Instant, Stats),
    Failed(Instant),
}

/// The last answer and when it was computed; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct StatsCache {
    ttl: Duration,
    last: Arc<Mutex<Option<Last>>>,
}

impl Default for StatsCache {
    fn default() -> Self {
        StatsCache::new(STATS_TTL)
    }
}

impl StatsCache {
    /// A cache keeping each answer for `ttl`.
    pub fn new(ttl: Duration) -> StatsCache {
        StatsCache {
            ttl,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// The kept answer while it is fresh, else a new walk of `store`.
    /// Requests that waited for a walk that failed get the failure without walking again.
    pub async fn get(&self, store: &Store) -> Result<Stats, StoreError> {
        let mut last = self.last.lock().await;
        match *last {
            Some(Last::Counted(at, stats)) if at.elapsed() < self.ttl => return Ok(stats),
            Some(Last::Failed(at)) if at.elapsed() < STATS_FAILURE_BACKOFF => {
                return Err(StoreError::unavailable(
                    store.backend(),
                    "counting every counter failed moments ago; not trying again yet",
                ));
            }
            _ => {}
        }
        match walk(store).await {
            Ok(stats) => {
                *last = Some(Last::Counted(Instant::now(), stats));
                Ok(stats)
            }
            Err(err) => {
                if err.is_transient() {
                    *last = Some(Last::Failed(Instant::now()));
                }
                Err(err)
            }
        }
    }
}

/// Counts every counter, page by page; scan's order (by namespace, then key) makes a new
/// namespace the one that differs from the counter before.
async fn walk(store: &Store) -> Result<Stats, StoreError> {
    let mut stats = Stats {
        counters: 0,
        namespaces: 0,
        hits: 0,
    };
    let mut after: Option<CounterName> = None;
    let mut namespace: Option<Name> = None;
    loop {
        let page = store.scan(after.as_ref(), STATS_PAGE).await?;
        for record in &page {
            if namespace.as_ref() != Some(record.name.namespace()) {
                stats.namespaces += 1;
                namespace = Some(record.name.namespace().clone());
            }
            stats.counters += 1;
            stats.hits = stats
                .hits
                .saturating_add(u64::try_from(record.value).unwrap_or(0));
        }
        match page.last() {
            Some(last) if page.len() == STATS_PAGE => after = Some(last.name.clone()),
            _ => return Ok(stats),
        }
    }
}

/// The instance's numbers: counters, namespaces, and hits (the sum of every value); up to
/// 10 s old.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "instance",
    params(JsonpQuery),
    responses(
        (status = 200, description = "The numbers", content(
            (Stats = "application/json"),
            (String = "application/javascript"),
        )),
        (status = 400, description = "A bad callback", body = super::schema::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::schema::ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    params: Result<Query<JsonpQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let params = query(params)?;
    let (cache, store) = (state.stats.clone(), state.store.clone());
    let stats = tokio::spawn(async move { cache.get(&store).await })
        .await
        .map_err(|err| AppError::Internal(err.into()))??;
    let body = serde_json::to_value(stats).map_err(|err| AppError::Internal(err.into()))?;
    json_or_jsonp(params.callback.as_deref(), &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CounterRecord, StoreSpec, UpdateRules};

    async fn restore(store: &Store, namespace: &str, key: &str, value: i64) {
        let record = CounterRecord {
            name: CounterName::parts(namespace, key).expect("name"),
            value,
            created_at: 0,
            updated_at: 0,
            owner: None,
            rules: UpdateRules::HIT_CREATED,
        };
        store.restore(&record).await.expect("restore");
    }

    /// A namespace spread over several pages is counted once; the answer is kept for the
    /// ttl, then walked again.
    #[tokio::test]
    async fn counts_across_pages_and_keeps_the_answer_for_the_ttl() {
        let store = crate::store::open(&StoreSpec::Memory, Duration::from_secs(2)).expect("open");
        for n in 0..1500 {
            restore(&store, "aaa", &format!("key-{n:04}"), 1).await;
        }
        for n in 0..1000 {
            restore(&store, "bbb", &format!("key-{n:04}"), 2).await;
        }
        restore(&store, "ccc", "max", i64::MAX).await;
        restore(&store, "ccc", "max-2", i64::MAX).await;
        let cache = StatsCache::new(Duration::from_millis(200));
        let expected = Stats {
            counters: 2502,
            namespaces: 3,
            hits: u64::MAX,
        };
        assert_eq!(cache.get(&store).await.expect("stats"), expected);
        restore(&store, "ddd", "new", 1).await;
        assert_eq!(cache.get(&store).await.expect("stats"), expected, "kept");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let fresh = cache.get(&store).await.expect("stats");
        assert_eq!((fresh.counters, fresh.namespaces), (2503, 4));
    }
}
