//! The PostgreSQL store: one row per counter in the `counters` table, keyed by namespace and
//! key (`COLLATE "C"`, so listings are in byte order), with its times in milliseconds since the
//! epoch, its owner's token hash and its update rules.
//!
//! Every method is one statement, so two replicas on one database never lose an update: an
//! upsert for hits (with data-modifying CTEs that record the hit's quarter-hour and visitor
//! in the same statement, see [`super::sql_history`]), `create` and `restore`; an `UPDATE` from a locking sub-select where the old
//! value is wanted (`set`, `add`). Listings page on the primary key (`key > $cursor`), an index
//! range scan, never an `OFFSET`.
//!
//! The pool's `acquire_timeout` is the store timeout, not sqlx's default of 30 s, so a dead
//! database gives a quick 503 instead of a hung request. Pool, schema and ping are shared with
//! SQLite in [`super::sql`].
//!
//! The job queue's statements are shared with SQLite too, in [`super::sql_queue`]; the
//! change feed of the live updates (`LISTEN/NOTIFY`) is in [`super::postgres_feed`].

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Connection, Pool, Postgres,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    AddOutcome, Backend, CounterName, CounterRecord, CounterStore, Hit, Listed, Name, NewCounter,
    StoreError, UpdateRules,
    error::from_sqlx,
    now_millis,
    sql::{MigrationLock, PagingSql, RecordRow, SqlPool, add_range, owner_bytes, select_record},
    sql_history::register_binds,
};

/// The PostgreSQL migrations, embedded at compile time (`build.rs` re-runs the build when they
/// change). `sqlx migrate run --source migrations/postgres` applies the same files.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Ten connections serve thousands of increments a second (each is one short statement) while
/// leaving room in PostgreSQL's default `max_connections = 100` for several tally replicas.
pub(super) const MAX_CONNECTIONS: u32 = 10;

/// A pooled connection idle for longer than this is checked before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The listings and the import in this dialect (run by [`SqlPool`]).
const PAGING: PagingSql = PagingSql {
    list: "SELECT key, value FROM counters WHERE namespace = $1 AND key > $2 \
           ORDER BY key LIMIT $3",
    scan: select_record!("WHERE (namespace, key) > ($1, $2) ORDER BY namespace, key LIMIT $3"),
    restore: "INSERT INTO counters (namespace, key, value, created_at, updated_at, owner_hash, \
                                    enable_reset, update_lowerbound, update_upperbound) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
              ON CONFLICT (namespace, key) DO UPDATE \
              SET value = EXCLUDED.value, created_at = EXCLUDED.created_at, \
                  updated_at = EXCLUDED.updated_at, owner_hash = EXCLUDED.owner_hash, \
                  enable_reset = EXCLUDED.enable_reset, \
                  update_lowerbound = EXCLUDED.update_lowerbound, \
                  update_upperbound = EXCLUDED.update_upperbound",
};

pub struct PostgresStore {
    /// Also the job queue's ([`super::sql_queue`]).
    pub(super) sql: Arc<SqlPool<Postgres>>,
    /// One connection, apart from the pool that serves requests, for the change feed's
    /// `LISTEN` ([`super::postgres_feed`]); made only while the live updates follow changes.
    pub(super) listener: Pool<Postgres>,
}

/// How long the listener's connection stays open after nobody follows changes any more.
const LISTENER_IDLE: Duration = Duration::from_secs(30);

impl PostgresStore {
    pub fn new(options: PgConnectOptions, timeout: Duration) -> Self {
        let listener = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .idle_timeout(LISTENER_IDLE)
            .connect_lazy_with(options.clone());
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(timeout)
            // sqlx pings every connection it hands out by default: a second round trip on
            // every increment. Only a connection that sat idle for a while may have been cut
            // (a PostgreSQL restart, a proxy's idle timeout), so only those are pinged.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        // sqlx holds an advisory lock while it migrates, so replicas starting together apply
        // each migration once.
        PostgresStore {
            sql: Arc::new(SqlPool::new(
                Backend::Postgres,
                pool,
                &MIGRATOR,
                MigrationLock::Database,
            )),
            listener,
        }
    }
}

impl PostgresStore {
    /// The pool, which is this store's [`super::Lifecycle`].
    pub fn pool(&self) -> Arc<SqlPool<Postgres>> {
        self.sql.clone()
    }
}

#[async_trait]
impl CounterStore for PostgresStore {
    async fn increment(&self, name: &CounterName, by: i64, hit: &Hit) -> Result<i64, StoreError> {
        let pool = self.sql.ready().await?;
        let rules = UpdateRules::HIT_CREATED;
        let (register, rank) = register_binds(hit.visitor);
        // One statement: the row is created or updated atomically, and PostgreSQL raises
        // 22003 (numeric out of range) instead of wrapping when a count would pass i64::MAX,
        // which fails the whole statement. Every data-modifying CTE runs whether or not the
        // final SELECT reads it: `hits` adds the hit to its quarter-hour, `visitor` raises
        // the visitor's register (no row without a visitor). The upserts are
        // `sql_history::ADD_HITS` and `ADD_REGISTER` with this statement's parameters.
        sqlx::query_scalar(
            "WITH counted AS ( \
                 INSERT INTO counters (namespace, key, value, created_at, updated_at, \
                                       owner_hash, enable_reset, update_lowerbound, \
                                       update_upperbound) \
                 VALUES ($1, $2, $3, $4, $4, NULL, $5, $6, $7) \
                 ON CONFLICT (namespace, key) DO UPDATE \
                 SET value = counters.value + EXCLUDED.value, updated_at = EXCLUDED.updated_at \
                 RETURNING value \
             ), hits AS ( \
                 INSERT INTO counter_history (namespace, key, quarter, hits) \
                 VALUES ($1, $2, $8, $3) \
                 ON CONFLICT (namespace, key, quarter) DO UPDATE \
                 SET hits = CASE WHEN counter_history.hits > 9223372036854775807 - excluded.hits \
                                 THEN 9223372036854775807 \
                                 ELSE counter_history.hits + excluded.hits END \
             ), visitor AS ( \
                 INSERT INTO visitor_registers (namespace, key, day, register, rank) \
                 SELECT $1, $2, $9, $10, $11 WHERE $10 IS NOT NULL \
                 ON CONFLICT (namespace, key, day, register) DO UPDATE SET rank = excluded.rank \
                 WHERE visitor_registers.rank < excluded.rank \
             ) \
             SELECT value FROM counted",
        )
        .bind(name.namespace().as_str())
        .bind(name.key().as_str())
        .bind(by)
        .bind(now_millis())
        .bind(rules.enable_reset)
        .bind(rules.lower_bound)
        .bind(rules.upper_bound)
        .bind(hit.quarter)
        .bind(hit.day)
        .bind(register)
        .bind(rank)
        .fetch_one(pool)
        .await
        .map_err(|err| from_sqlx(Backend::Postgres, Some((name, by)), err))
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let pool = self.sql.ready().await?;
        let value: Option<i64> =
            sqlx::query_scalar("SELECT value FROM counters WHERE namespace = $1 AND key = $2")
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .fetch_optional(pool)
                .await
                .map_err(|err| self.sql.error(err))?;
        Ok(value.unwrap_or(0))
    }

    async fn info(&self, name: &CounterName) -> Result<Option<CounterRecord>, StoreError> {
        let pool = self.sql.ready().await?;
        let row: Option<RecordRow> =
            sqlx::query_as(select_record!("WHERE namespace = $1 AND key = $2"))
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .fetch_optional(pool)
                .await
                .map_err(|err| self.sql.error(err))?;
        row.map(|row| row.into_record(Backend::Postgres))
            .transpose()
    }

    async fn create(&self, name: &CounterName, counter: &NewCounter) -> Result<bool, StoreError> {
        let pool = self.sql.ready().await?;
        let done = sqlx::query(
            "INSERT INTO counters (namespace, key, value, created_at, updated_at, owner_hash, \
                                   enable_reset, update_lowerbound, update_upperbound) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8) \
             ON CONFLICT (namespace, key) DO NOTHING",
        )
        .bind(name.namespace().as_str())
        .bind(name.key().as_str())
        .bind(counter.value)
        .bind(now_millis())
        .bind(owner_bytes(counter.owner.as_ref()))
        .bind(counter.rules.enable_reset)
        .bind(counter.rules.lower_bound)
        .bind(counter.rules.upper_bound)
        .execute(pool)
        .await
        .map_err(|err| self.sql.error(err))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set(&self, name: &CounterName, value: i64) -> Result<Option<i64>, StoreError> {
        let pool = self.sql.ready().await?;
        // RETURNING sees only the new row, so the old value comes from a sub-select that
        // locks the row first (FOR UPDATE waits for a concurrent change and then reads its
        // result): no change can slip in between the value read and the one written.
        sqlx::query_scalar(
            "UPDATE counters SET value = $3, updated_at = $4 \
             FROM (SELECT value FROM counters WHERE namespace = $1 AND key = $2 FOR UPDATE) \
                  AS before \
             WHERE counters.namespace = $1 AND counters.key = $2 \
             RETURNING before.value",
        )
        .bind(name.namespace().as_str())
        .bind(name.key().as_str())
        .bind(value)
        .bind(now_millis())
        .fetch_optional(pool)
        .await
        .map_err(|err| self.sql.error(err))
    }

    async fn add(&self, name: &CounterName, amount: i64) -> Result<AddOutcome, StoreError> {
        let pool = self.sql.ready().await?;
        // One statement: `before` locks the row and reads its latest value; `added` changes it
        // only when that value is in the range `add_range` computed, so no row means a missing
        // counter and a row without `added` means one out of range, with its value then.
        let (low, high) = add_range(amount);
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "WITH before AS ( \
                 SELECT value FROM counters WHERE namespace = $1 AND key = $2 FOR UPDATE \
             ), added AS ( \
                 UPDATE counters SET value = before.value + $3, updated_at = $4 \
                 FROM before \
                 WHERE counters.namespace = $1 AND counters.key = $2 \
                   AND before.value BETWEEN $5 AND $6 \
                 RETURNING counters.value \
             ) \
             SELECT before.value, added.value FROM before LEFT JOIN added ON true",
        )
        .bind(name.namespace().as_str())
        .bind(name.key().as_str())
        .bind(amount)
        .bind(now_millis())
        .bind(low)
        .bind(high)
        .fetch_optional(pool)
        .await
        .map_err(|err| self.sql.error(err))?;
        Ok(match row {
            None => AddOutcome::Missing,
            Some((_, Some(added))) => AddOutcome::Added(added),
            Some((current, None)) => AddOutcome::OutOfRange { current },
        })
    }

    async fn delete(&self, name: &CounterName) -> Result<bool, StoreError> {
        let pool = self.sql.ready().await?;
        // The counter and its history, in one statement.
        let deleted: i64 = sqlx::query_scalar(
            "WITH gone AS ( \
                 DELETE FROM counters WHERE namespace = $1 AND key = $2 RETURNING 1 \
             ), hits AS ( \
                 DELETE FROM counter_history WHERE namespace = $1 AND key = $2 \
             ), visitors AS ( \
                 DELETE FROM visitor_registers WHERE namespace = $1 AND key = $2 \
             ) \
             SELECT COUNT(*) FROM gone",
        )
        .bind(name.namespace().as_str())
        .bind(name.key().as_str())
        .fetch_one(pool)
        .await
        .map_err(|err| self.sql.error(err))?;
        Ok(deleted == 1)
    }

    async fn list(
        &self,
        namespace: &Name,
        after: Option<&Name>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        self.sql.list(&PAGING, namespace, after, limit).await
    }

    async fn scan(
        &self,
        after: Option<&CounterName>,
        limit: usize,
    ) -> Result<Vec<CounterRecord>, StoreError> {
        self.sql.scan(&PAGING, after, limit).await
    }

    async fn restore(&self, record: &CounterRecord) -> Result<(), StoreError> {
        self.sql.restore(&PAGING, record).await
    }

    async fn restore_many(&self, records: &[CounterRecord]) -> Result<(), StoreError> {
        self.sql.restore_many(&PAGING, records).await
    }
}
