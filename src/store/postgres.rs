//! The PostgreSQL store: one row per counter in the `counters` table.
//!
//! The pool's `acquire_timeout` is the store timeout, not sqlx's default of 30 s, so a dead
//! database gives a quick 503 instead of a hung request. Pool, schema and ping are shared with
//! SQLite in [`super::sql`].

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Connection, Postgres,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{
    Backend, CounterName, CounterStore, StoreError,
    error::from_sqlx,
    sql::{MigrationLock, SqlPool},
};

/// The PostgreSQL migrations, embedded at compile time (`build.rs` re-runs the build when they
/// change). `sqlx migrate run --source migrations/postgres` applies the same files.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Ten connections serve thousands of increments a second (each is one short statement) while
/// leaving room in PostgreSQL's default `max_connections = 100` for several tally replicas.
pub(super) const MAX_CONNECTIONS: u32 = 10;

/// A pooled connection idle for longer than this is checked before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

pub struct PostgresStore {
    sql: Arc<SqlPool<Postgres>>,
}

impl PostgresStore {
    pub fn new(options: PgConnectOptions, timeout: Duration) -> Self {
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
    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        let pool = self.sql.ready().await?;
        // One statement: the row is created or updated atomically, and PostgreSQL raises
        // 22003 (numeric out of range) instead of wrapping when a count would pass i64::MAX.
        sqlx::query_scalar(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE \
             SET value = counters.value + EXCLUDED.value, updated_at = now() \
             RETURNING value",
        )
        .bind(name.storage_key())
        .bind(by)
        .fetch_one(pool)
        .await
        .map_err(|err| from_sqlx(Backend::Postgres, Some((name, by)), err))
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let pool = self.sql.ready().await?;
        let value: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = $1")
            .bind(name.storage_key())
            .fetch_optional(pool)
            .await
            .map_err(|err| self.sql.error(err))?;
        Ok(value.unwrap_or(0))
    }

    async fn info(
        &self,
        _name: &CounterName,
    ) -> Result<Option<crate::store::CounterRecord>, StoreError> {
        todo!("named counters")
    }
    async fn create(
        &self,
        _name: &CounterName,
        _counter: &crate::store::NewCounter,
    ) -> Result<bool, StoreError> {
        todo!("named counters")
    }
    async fn set(&self, _name: &CounterName, _value: i64) -> Result<Option<i64>, StoreError> {
        todo!("named counters")
    }
    async fn add(
        &self,
        _name: &CounterName,
        _amount: i64,
    ) -> Result<crate::store::AddOutcome, StoreError> {
        todo!("named counters")
    }
    async fn delete(&self, _name: &CounterName) -> Result<bool, StoreError> {
        todo!("named counters")
    }
    async fn list(
        &self,
        _namespace: &crate::store::Name,
        _after: Option<&crate::store::Name>,
        _limit: usize,
    ) -> Result<Vec<crate::store::Listed>, StoreError> {
        todo!("named counters")
    }
    async fn scan(
        &self,
        _after: Option<&CounterName>,
        _limit: usize,
    ) -> Result<Vec<crate::store::CounterRecord>, StoreError> {
        todo!("named counters")
    }
    async fn restore(&self, _record: &crate::store::CounterRecord) -> Result<(), StoreError> {
        todo!("named counters")
    }
}
