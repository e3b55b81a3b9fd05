//! The SQLite store's [`ChangeFeed`]: the `counter_changes` table, which triggers on `counters`
//! keep (migration `20261203000002_live_changes.sql`), read every [`POLL_INTERVAL`].
//!
//! SQLite has no way to tell another process that something changed (its update hook sees only
//! its own connection's writes), and several tally processes may share one file, so reading is
//! the only way across processes. It costs one indexed query every 250 ms per process, and only
//! while someone follows a counter in that process (the live hub stops following when the last
//! stream ends), never one per stream. 250 ms keeps a change made by another process well
//! within the second the README promises; this process's own changes reach its streams at once
//! through the facade anyway.
//!
//! Each change renews its counter's row with a sequence number above every one before, so the
//! follower asks for the rows after the last number it saw: exact, in commit order, and
//! independent of clocks.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Pool, Sqlite};
use tokio::time::{Interval, MissedTickBehavior};

use super::{
    Backend, ChangeFeed, ChangeStream, CounterChange, CounterName, StoreError, error::from_sqlx,
    sqlite::SqliteStore,
};

/// How often a follower reads the change table.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Rows read at most per poll; more wait for the next (which comes at once).
const PAGE: i64 = 1000;

#[async_trait]
impl ChangeFeed for SqliteStore {
    async fn follow(&self) -> Result<Box<dyn ChangeStream>, StoreError> {
        let pool = self.sql.ready().await?.clone();
        // From now on: the changes already in the table are not delivered.
        let after: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM counter_changes")
            .fetch_one(&pool)
            .await
            .map_err(|err| from_sqlx(Backend::Sqlite, None, err))?;
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + POLL_INTERVAL, POLL_INTERVAL);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Box::new(SqliteFollower {
            pool,
            after,
            ticks,
            timeout: self.timeout,
            full_page: false,
        }))
    }
}

struct SqliteFollower {
    pool: Pool<Sqlite>,
    /// The last sequence number seen.
    after: i64,
    ticks: Interval,
    /// The store timeout, bounding each read.
    timeout: Duration,
    /// The last read was a whole page: read again without waiting.
    full_page: bool,
}

#[async_trait]
impl ChangeStream for SqliteFollower {
    async fn next(&mut self) -> Result<Vec<CounterChange>, StoreError> {
        loop {
            if !self.full_page {
                self.ticks.tick().await;
            }
            let read = sqlx::query_as(
                "SELECT seq, namespace, key, value FROM counter_changes WHERE seq > ?1 \
                 ORDER BY seq LIMIT ?2",
            )
            .bind(self.after)
            .bind(PAGE)
            .fetch_all(&self.pool);
            let rows: Vec<(i64, String, String, i64)> =
                match tokio::time::timeout(self.timeout, read).await {
                    Ok(rows) => rows.map_err(|err| from_sqlx(Backend::Sqlite, None, err))?,
                    Err(_elapsed) => {
                        return Err(StoreError::TimedOut {
                            backend: Backend::Sqlite,
                            after: self.timeout,
                        });
                    }
                };
            self.full_page = i64::try_from(rows.len()).is_ok_and(|read| read == PAGE);
            let mut changes = Vec::with_capacity(rows.len());
            for (seq, namespace, key, value) in rows {
                self.after = seq;
                // The table's rows come from `counters`, whose checks keep names valid.
                if let Ok(name) = CounterName::parts(&namespace, &key) {
                    changes.push(CounterChange { name, value });
                }
            }
            if !changes.is_empty() {
                return Ok(changes);
            }
        }
    }
}
