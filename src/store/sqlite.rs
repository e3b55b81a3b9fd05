//! The embedded SQLite store: the default when nothing is configured, so `cargo run` works on a
//! machine with no database server and keeps its counts across restarts.
//!
//! The file (and its directory) are created on first use. WAL journaling lets readers run
//! while one writer writes, and `busy_timeout` makes a second process that shares the file
//! wait for the write lock instead of failing at once. `synchronous = NORMAL`
//! is the setting SQLite recommends with WAL: a commit survives a crash of tally; only a power
//! loss can drop the last few.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tokio::sync::OnceCell;

use super::{Backend, CounterName, CounterStore, StoreError, check_amount, error::from_sqlx};

/// The SQLite migrations (`migrations/sqlite`; the SQL differs from PostgreSQL's).
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// SQLite has one writer at a time whatever the pool size; a few connections let reads
/// (`get`, `ping`) proceed while a write waits for the lock.
pub(super) const MAX_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's write lock: three quarters of the
/// store timeout. SQLite then gives up by itself, and the increment is known not to have
/// happened (a 503 that the client can safely retry), before the [`super::Deadline`] abandons
/// the call with an unknown outcome: an abandoned statement keeps waiting in sqlx's worker
/// thread and could still apply once the lock is free.
fn busy_timeout(store_timeout: Duration) -> Duration {
    store_timeout.mul_f64(0.75)
}

pub struct SqliteStore {
    pool: SqlitePool,
    schema: OnceCell<()>,
}

impl SqliteStore {
    /// Prepares the pool; creates the database's directory so that the file can be created on
    /// first use. Fails only when that directory cannot be created.
    pub fn new(options: SqliteConnectOptions, timeout: Duration) -> Result<Self, StoreError> {
        let file = options.get_filename();
        if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            // An in-memory database has no real path; there is nothing to create for it.
            if !options
                .get_filename()
                .as_os_str()
                .to_string_lossy()
                .contains(":memory:")
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
        Ok(SqliteStore {
            pool,
            schema: OnceCell::new(),
        })
    }

    async fn ready(&self) -> Result<&SqlitePool, StoreError> {
        self.schema
            .get_or_try_init(|| self.apply_migrations())
            .await?;
        Ok(&self.pool)
    }

    /// Applies the migrations, waiting out another process that is applying them too.
    ///
    /// sqlx's migrator runs each migration in a deferred transaction and has no lock for
    /// SQLite. When two processes (say `tally serve` and `tally tick`) start on the same file
    /// at once, the slower one either cannot upgrade its read lock (SQLITE_BUSY at once,
    /// without waiting for `busy_timeout`) or finds its bookkeeping row already written (a
    /// unique violation on `_sqlx_migrations`). Either way, running the migrator again after
    /// the other process committed finds the migration applied. The attempts are bounded, and
    /// the caller's deadline bounds the wait.
    async fn apply_migrations(&self) -> Result<(), StoreError> {
        const ATTEMPTS: u32 = 50;
        let mut attempt = 1;
        loop {
            let err = match MIGRATOR.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(sqlx::migrate::MigrateError::Execute(err)) => err,
                Err(other) => return Err(StoreError::failed(Backend::Sqlite, other)),
            };
            let raced = matches!(&err, sqlx::Error::Database(db) if db.is_unique_violation());
            let err = from_sqlx(Backend::Sqlite, None, err);
            if attempt >= ATTEMPTS || !(raced || err.is_transient()) {
                return Err(err);
            }
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl CounterStore for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        check_amount(by)?;
        let pool = self.ready().await?;
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
        .bind(name.as_str())
        .bind(by)
        .fetch_optional(pool)
        .await
        .map_err(|err| from_sqlx(Backend::Sqlite, Some((name.as_str(), by)), err))?;
        value.ok_or_else(|| StoreError::Overflow {
            name: name.to_string(),
            by,
        })
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let pool = self.ready().await?;
        let value: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = ?1")
            .bind(name.as_str())
            .fetch_optional(pool)
            .await
            .map_err(|err| from_sqlx(Backend::Sqlite, None, err))?;
        Ok(value.unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map_err(|err| from_sqlx(Backend::Sqlite, None, err))?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.ready().await.map(|_| ())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
