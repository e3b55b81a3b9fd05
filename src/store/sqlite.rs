//! The embedded SQLite store: the default when nothing is configured, so `cargo run` works on a
//! machine with no database server and keeps its counts across restarts.
//!
//! The file (and its directory) are created on first use. WAL journaling lets readers run
//! while one writer writes, and `busy_timeout` makes a second process that shares the file
//! wait for the write lock instead of failing at once. `synchronous = NORMAL`
//! is the setting SQLite recommends with WAL: a commit survives a crash of tally; only a power
//! loss can drop the last few.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Sqlite,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    Backend, CounterName, CounterStore, StoreError,
    error::from_sqlx,
    sql::{MigrationLock, SqlPool},
};

/// The SQLite migrations (`migrations/sqlite`; the SQL differs from PostgreSQL's).
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite has one writer at a time whatever the pool size; a few connections let reads
/// (`get`, `ping`) proceed while a write waits for the lock.
pub(super) const MAX_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's write lock: three quarters of the
/// store timeout. SQLite then gives up by itself, and the increment is known not to have
/// happened (a 503 that the client can safely retry), before the [`super::Store`]'s deadline abandons
/// the call with an unknown outcome: an abandoned statement keeps waiting in sqlx's worker
/// thread and could still apply once the lock is free.
fn busy_timeout(store_timeout: Duration) -> Duration {
    store_timeout.mul_f64(0.75)
}

pub struct SqliteStore {
    sql: Arc<SqlPool<Sqlite>>,
}

impl SqliteStore {
    /// Prepares the pool; creates the database's directory so that the file can be created on
    /// first use. Fails only when that directory cannot be created.
    pub fn new(options: SqliteConnectOptions, timeout: Duration) -> Result<Self, StoreError> {
        let file = options.get_filename();
        // An in-memory database has no real path; there is nothing to create for it.
        let in_memory = file.as_os_str().to_string_lossy().contains(":memory:");
        if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty())
            && !in_memory
        {
            std::fs::create_dir_all(dir).map_err(|err| {
                StoreError::failed(
                    Backend::Sqlite,
                    format!(
                        "cannot create the directory {} for the SQLite file: {err}",
                        dir.display()
                    ),
                )
            })?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy_timeout(timeout));
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(timeout)
            // An SQLite connection is a file handle, not a socket that can be cut: pinging
            // it before each use (sqlx's default) would only add a statement per increment.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        // sqlx's migrator has no lock for SQLite: when two processes (say `tally serve` and
        // `tally tick`) start on the same file at once, the slower one waits the other out.
        Ok(SqliteStore {
            sql: Arc::new(SqlPool::new(
                Backend::Sqlite,
                pool,
                &MIGRATOR,
                MigrationLock::RetryRaces,
            )),
        })
    }
}

impl SqliteStore {
    /// The pool, which is this store's [`super::Lifecycle`].
    pub fn pool(&self) -> Arc<SqlPool<Sqlite>> {
        self.sql.clone()
    }
}

#[async_trait]
impl CounterStore for SqliteStore {
    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        let pool = self.sql.ready().await?;
        // SQLite does not raise on integer overflow: it silently turns the value into a REAL.
        // The WHERE clause refuses an update that would pass i64::MAX, and then no row comes
        // back, which is reported as an overflow with the count unchanged.
        let value: Option<i64> = sqlx::query_scalar(
            "INSERT INTO counters (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE \
             SET value = value + excluded.value, updated_at = CURRENT_TIMESTAMP \
             WHERE value <= 9223372036854775807 - excluded.value \
             RETURNING value",
        )
        .bind(name.storage_key())
        .bind(by)
        .fetch_optional(pool)
        .await
        .map_err(|err| from_sqlx(Backend::Sqlite, Some((name, by)), err))?;
        value.ok_or_else(|| StoreError::Overflow {
            name: name.to_string(),
            by,
        })
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let pool = self.sql.ready().await?;
        let value: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = ?1")
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
