//! The embedded SQLite store: the default when nothing is configured, so `cargo run` works on a
//! machine with no database server and keeps its counts across restarts.
//!
//! The file (and its directory) are created on first use. WAL journaling lets readers run
//! while one writer writes, and `busy_timeout` makes a second process that shares the file
//! wait for the write lock instead of failing at once. `synchronous = NORMAL`
//! is the setting SQLite recommends with WAL: a commit survives a crash of tally; only a power
//! loss can drop the last few.
//!
//! The `counters` table is PostgreSQL's (`src/store/postgres.rs`) in SQLite types; its primary
//! key, namespace and key in BINARY collation, is byte order. Changes are one statement where
//! SQLite can return what is needed (`create` and `restore`); a hit is its upsert and what it
//! records for the history (see [`super::sql_history`]) in one transaction, since SQLite has
//! no data-modifying CTEs; `set` and
//! `add` need the value before, which `RETURNING` does not give, so they read and write in one
//! `BEGIN IMMEDIATE` transaction: SQLite has one writer at a time, and that transaction is it
//! from its first statement. Listings page on the primary key, never with an `OFFSET`.
//!
//! The job queue's statements are PostgreSQL's, in [`super::sql_queue`]; the change feed of
//! the live updates (a change table, read every 250 ms) is in [`super::sqlite_feed`].

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Sqlite,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    AddOutcome, Backend, CounterName, CounterRecord, CounterStore, Hit, Listed, Name, NewCounter,
    StoreError, UpdateRules,
    error::from_sqlx,
    now_millis,
    sql::{MigrationLock, PagingSql, RecordRow, SqlPool, add_range, owner_bytes, select_record},
    sql_history::{ADD_HITS, ADD_REGISTER, DELETE_HISTORY, register_binds},
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

/// The listings and the import in this dialect (run by [`SqlPool`]).
const PAGING: PagingSql = PagingSql {
    list: "SELECT key, value FROM counters WHERE namespace = ?1 AND key > ?2 \
           ORDER BY key LIMIT ?3",
    scan: select_record!("WHERE (namespace, key) > (?1, ?2) ORDER BY namespace, key LIMIT ?3"),
    restore: "INSERT INTO counters (namespace, key, value, created_at, updated_at, owner_hash, \
                                    enable_reset, update_lowerbound, update_upperbound) \
              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
              ON CONFLICT (namespace, key) DO UPDATE \
              SET value = excluded.value, created_at = excluded.created_at, \
                  updated_at = excluded.updated_at, owner_hash = excluded.owner_hash, \
                  enable_reset = excluded.enable_reset, \
                  update_lowerbound = excluded.update_lowerbound, \
                  update_upperbound = excluded.update_upperbound",
};

pub struct SqliteStore {
    /// Also the job queue's ([`super::sql_queue`]).
    pub(super) sql: Arc<SqlPool<Sqlite>>,
    /// The store timeout, bounding the change feed's reads.
    pub(super) timeout: Duration,
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
            timeout,
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
    async fn increment(&self, name: &CounterName, by: i64, hit: &Hit) -> Result<i64, StoreError> {
        let rules = UpdateRules::HIT_CREATED;
        // One transaction (one commit, one lock) for the count and what the hit records;
        // dropping it on an error or an overflow rolls all of it back.
        let mut tx = self.sql.write_transaction().await?;
        // SQLite does not raise on integer overflow: it silently turns the value into a REAL.
        // The WHERE clause refuses an update that would pass i64::MAX, and then no row comes
        // back, which is reported as an overflow with the count unchanged.
        let value: Option<i64> = sqlx::query_scalar(
            "INSERT INTO counters (namespace, key, value, created_at, updated_at, owner_hash, \
                                   enable_reset, update_lowerbound, update_upperbound) \
             VALUES (?1, ?2, ?3, ?4, ?4, NULL, ?5, ?6, ?7) \
             ON CONFLICT (namespace, key) DO UPDATE \
             SET value = value + excluded.value, updated_at = excluded.updated_at \
             WHERE value <= 9223372036854775807 - excluded.value \
             RETURNING value",
        )
        .bind(name.namespace().as_str())
        .bind(name.key().as_str())
        .bind(by)
        .bind(now_millis())
        .bind(rules.enable_reset)
        .bind(rules.lower_bound)
        .bind(rules.upper_bound)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| from_sqlx(Backend::Sqlite, Some((name, by)), err))?;
        let Some(value) = value else {
            return Err(StoreError::Overflow {
                name: name.to_string(),
                by,
            });
        };
        sqlx::query(ADD_HITS)
            .bind(name.namespace().as_str())
            .bind(name.key().as_str())
            .bind(hit.quarter)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(|err| self.sql.error(err))?;
        if let (Some(register), Some(rank)) = register_binds(hit.visitor) {
            sqlx::query(ADD_REGISTER)
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .bind(hit.day)
                .bind(register)
                .bind(rank)
                .execute(&mut *tx)
                .await
                .map_err(|err| self.sql.error(err))?;
        }
        tx.commit().await.map_err(|err| self.sql.error(err))?;
        Ok(value)
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let pool = self.sql.ready().await?;
        let value: Option<i64> =
            sqlx::query_scalar("SELECT value FROM counters WHERE namespace = ?1 AND key = ?2")
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
            sqlx::query_as(select_record!("WHERE namespace = ?1 AND key = ?2"))
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .fetch_optional(pool)
                .await
                .map_err(|err| self.sql.error(err))?;
        row.map(|row| row.into_record(Backend::Sqlite)).transpose()
    }

    async fn create(&self, name: &CounterName, counter: &NewCounter) -> Result<bool, StoreError> {
        let pool = self.sql.ready().await?;
        // `ON CONFLICT … DO NOTHING`, not `INSERT OR IGNORE`, which would also swallow a
        // failed CHECK.
        let done = sqlx::query(
            "INSERT INTO counters (namespace, key, value, created_at, updated_at, owner_hash, \
                                   enable_reset, update_lowerbound, update_upperbound) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8) \
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
        // RETURNING sees only the new row, so the old value is read first, inside a
        // transaction that holds the write lock from its start: no other writer can change the
        // row in between. Dropping the transaction (an error, the deadline) rolls it back.
        let mut tx = self.sql.write_transaction().await?;
        let before: Option<i64> =
            sqlx::query_scalar("SELECT value FROM counters WHERE namespace = ?1 AND key = ?2")
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|err| self.sql.error(err))?;
        if before.is_some() {
            sqlx::query(
                "UPDATE counters SET value = ?3, updated_at = ?4 \
                 WHERE namespace = ?1 AND key = ?2",
            )
            .bind(name.namespace().as_str())
            .bind(name.key().as_str())
            .bind(value)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(|err| self.sql.error(err))?;
        }
        tx.commit().await.map_err(|err| self.sql.error(err))?;
        Ok(before)
    }

    async fn add(&self, name: &CounterName, amount: i64) -> Result<AddOutcome, StoreError> {
        // The update applies only when the value is in the range `add_range` computed. When
        // it does not, the value is read in the same write transaction, so a missing counter
        // and one out of range are told apart by the state the update saw.
        let (low, high) = add_range(amount);
        let mut tx = self.sql.write_transaction().await?;
        let added: Option<i64> = sqlx::query_scalar(
            "UPDATE counters SET value = value + ?3, updated_at = ?4 \
             WHERE namespace = ?1 AND key = ?2 AND value BETWEEN ?5 AND ?6 \
             RETURNING value",
        )
        .bind(name.namespace().as_str())
        .bind(name.key().as_str())
        .bind(amount)
        .bind(now_millis())
        .bind(low)
        .bind(high)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| self.sql.error(err))?;
        let outcome = match added {
            Some(added) => AddOutcome::Added(added),
            None => {
                let current: Option<i64> = sqlx::query_scalar(
                    "SELECT value FROM counters WHERE namespace = ?1 AND key = ?2",
                )
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|err| self.sql.error(err))?;
                current.map_or(AddOutcome::Missing, |current| AddOutcome::OutOfRange {
                    current,
                })
            }
        };
        tx.commit().await.map_err(|err| self.sql.error(err))?;
        Ok(outcome)
    }

    async fn delete(&self, name: &CounterName) -> Result<bool, StoreError> {
        // The counter and its history, in one transaction.
        let mut tx = self.sql.write_transaction().await?;
        let done = sqlx::query("DELETE FROM counters WHERE namespace = ?1 AND key = ?2")
            .bind(name.namespace().as_str())
            .bind(name.key().as_str())
            .execute(&mut *tx)
            .await
            .map_err(|err| self.sql.error(err))?;
        for sql in DELETE_HISTORY {
            sqlx::query(sql)
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .execute(&mut *tx)
                .await
                .map_err(|err| self.sql.error(err))?;
        }
        tx.commit().await.map_err(|err| self.sql.error(err))?;
        Ok(done.rows_affected() == 1)
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
