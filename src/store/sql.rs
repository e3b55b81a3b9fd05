//! What the two SQL backends share: a lazily connected pool whose schema is applied on first
//! use, their [`Lifecycle`] (ping, migrate, close), written once, and the Rust side of the
//! `counters` table (a row decoded into a [`CounterRecord`], the guard of `add`). The SQL
//! itself stays in each backend: the dialects differ in placeholders, locking and overflow.
//!
//! The pool is created with `connect_lazy_with`, so tally starts while its database is down.
//! The migrations run on the first call that reaches the server (and at start, from `tally
//! serve`, when it is up); until they have succeeded every call tries again, so a database that
//! was down at start gets its schema as soon as it is back.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    Connection, Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type,
    migrate::{Migrate, MigrateError, Migrator},
};
use tokio::sync::OnceCell;

use super::{
    Backend, CounterName, CounterRecord, Lifecycle, Listed, Name, StoreError, TokenHash,
    UpdateRules,
    error::{from_migrate, from_sqlx},
};

/// `SELECT` of every column of `counters` that a [`CounterRecord`] holds, in the order of
/// [`RecordRow`], followed by the rest of the query (the same in both dialects but for the
/// placeholders).
macro_rules! select_record {
    ($rest:literal) => {
        concat!(
            "SELECT namespace, key, value, created_at, updated_at, owner_hash, enable_reset, \
             update_lowerbound, update_upperbound FROM counters ",
            $rest
        )
    };
}
pub(super) use select_record;

/// One row of `counters`, as both backends decode it.
#[derive(sqlx::FromRow)]
pub(super) struct RecordRow {
    namespace: String,
    key: String,
    value: i64,
    created_at: i64,
    updated_at: i64,
    owner_hash: Option<Vec<u8>>,
    enable_reset: bool,
    update_lowerbound: i64,
    update_upperbound: i64,
}

impl RecordRow {
    /// The record, or `Failed` for a row that no tally could have written (the table's checks
    /// keep names valid and hashes 32 bytes long, so this means someone edited it by hand).
    pub(super) fn into_record(self, backend: Backend) -> Result<CounterRecord, StoreError> {
        let name = CounterName::parts(&self.namespace, &self.key)
            .map_err(|err| stored_garbage(backend, &err))?;
        let owner = match self.owner_hash {
            None => None,
            Some(bytes) => Some(TokenHash(<[u8; 32]>::try_from(bytes.as_slice()).map_err(
                |_| {
                    StoreError::failed(
                        backend,
                        format!(
                            "counter {name} has an owner hash of {} bytes, not 32",
                            bytes.len()
                        ),
                    )
                },
            )?)),
        };
        Ok(CounterRecord {
            name,
            value: self.value,
            created_at: self.created_at,
            updated_at: self.updated_at,
            owner,
            rules: UpdateRules {
                enable_reset: self.enable_reset,
                lower_bound: self.update_lowerbound,
                upper_bound: self.update_upperbound,
            },
        })
    }
}

/// One entry of a namespace listing from its `(key, value)` row.
pub(super) fn listed(backend: Backend, (key, value): (String, i64)) -> Result<Listed, StoreError> {
    let key = Name::parse("key", &key).map_err(|err| stored_garbage(backend, &err))?;
    Ok(Listed { key, value })
}

fn stored_garbage(backend: Backend, err: &StoreError) -> StoreError {
    StoreError::failed(
        backend,
        format!("a stored counter has an invalid name: {err}"),
    )
}

/// The bytes stored for an owner.
pub(super) fn owner_bytes(owner: Option<&TokenHash>) -> Option<&[u8]> {
    owner.map(|hash| hash.0.as_slice())
}

/// The values a counter may hold for `add(amount)` to leave it within 0 ..= i64::MAX, as the
/// bounds of a `BETWEEN`. Computed here so that the SQL never does arithmetic that could
/// overflow: PostgreSQL folds constant expressions when it plans, even inside a `CASE` branch
/// that would not run, and SQLite turns an overflowing integer into a REAL.
pub(super) fn add_range(amount: i64) -> (i64, i64) {
    if amount >= 0 {
        (0, i64::MAX - amount)
    } else {
        match amount.checked_neg() {
            Some(needed) => (needed, i64::MAX),
            // -i64::MIN is more than any counter holds: an empty range.
            None => (1, 0),
        }
    }
}

/// A page size as SQL's `LIMIT` takes it.
pub(super) fn page_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// How two processes that migrate the same database at once are kept apart.
#[derive(Clone, Copy)]
pub(super) enum MigrationLock {
    /// The database takes a lock for the migrator (PostgreSQL's advisory lock): run it once.
    Database,
    /// No lock (SQLite): the slower process fails with a busy database, finds the migration's
    /// bookkeeping row already written, or fails in the migration's own SQL (a table renamed
    /// already, for a migration that cannot run twice); running the migrator again after the
    /// other process committed finds the migration applied. Bounded attempts; the caller's
    /// deadline bounds the wait. A migration that fails twice in a row is broken, not raced.
    RetryRaces,
}

/// The statements of the listings and the import, which differ between the dialects only in
/// their placeholders (`$1` against `?1`) and are run by the same code, in [`SqlPool`].
pub(super) struct PagingSql {
    /// `key, value` of one namespace after a key: binds namespace, after, limit.
    pub list: &'static str,
    /// Whole records after a (namespace, key): binds namespace, key, limit.
    pub scan: &'static str,
    /// Writes a whole record, created or replaced: binds namespace, key, value, created_at,
    /// updated_at, owner_hash, enable_reset, update_lowerbound, update_upperbound.
    pub restore: &'static str,
}

pub(super) struct SqlPool<DB: Database> {
    backend: Backend,
    pool: Pool<DB>,
    migrator: &'static Migrator,
    lock: MigrationLock,
    /// Set once the migrations have been applied.
    schema: OnceCell<()>,
}

impl<DB> SqlPool<DB>
where
    DB: Database,
    DB::Connection: Migrate,
{
    pub(super) fn new(
        backend: Backend,
        pool: Pool<DB>,
        migrator: &'static Migrator,
        lock: MigrationLock,
    ) -> Self {
        SqlPool {
            backend,
            pool,
            migrator,
            lock,
            schema: OnceCell::new(),
        }
    }

    /// The pool, once the schema is known to be in place.
    pub(super) async fn ready(&self) -> Result<&Pool<DB>, StoreError> {
        self.schema.get_or_try_init(|| self.apply()).await?;
        Ok(&self.pool)
    }

    /// A transaction that writes. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), waiting for it as long as `busy_timeout` like any write: a deferred
    /// `BEGIN` would take it at the first write, and in WAL mode fail there without waiting if
    /// another writer committed since the transaction's first read. PostgreSQL locks rows as
    /// the statements reach them. Dropping the transaction (an error, the deadline) rolls it
    /// back.
    pub(super) async fn write_transaction(&self) -> Result<Transaction<'static, DB>, StoreError> {
        let pool = self.ready().await?;
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        };
        pool.begin_with(begin).await.map_err(|err| self.error(err))
    }

    /// Sorts an sqlx error from a call that is not about one counter.
    pub(super) fn error(&self, err: sqlx::Error) -> StoreError {
        from_sqlx(self.backend, None, err)
    }

    async fn apply(&self) -> Result<(), StoreError> {
        const ATTEMPTS: u32 = 50;
        const PAUSE: Duration = Duration::from_millis(20);
        let mut attempt = 1;
        let mut failed_migration = None;
        loop {
            let err = match self.migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            let MigrationLock::RetryRaces = self.lock else {
                return Err(from_migrate(self.backend, err));
            };
            let raced = match &err {
                MigrateError::Execute(sqlx::Error::Database(db)) => db.is_unique_violation(),
                // Its SQL failed: run the migrator once more, which skips the migration if
                // another process applied it meanwhile, and fails the same way if it is broken.
                MigrateError::ExecuteMigration(_, version) => {
                    failed_migration.replace(*version) != Some(*version)
                }
                _ => false,
            };
            let err = from_migrate(self.backend, err);
            if attempt >= ATTEMPTS || !(raced || err.is_transient()) {
                return Err(err);
            }
            attempt += 1;
            tokio::time::sleep(PAUSE).await;
        }
    }
}

/// `list`, `scan` and `restore` for both SQL backends: keyset paging on the primary key (an
/// index scan, no `OFFSET`), and one upsert per imported record (a page of them in one
/// transaction for `restore_many`).
impl<DB> SqlPool<DB>
where
    DB: Database,
    DB::Connection: Migrate,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
    RecordRow: for<'r> FromRow<'r, DB::Row>,
{
    pub(super) async fn list(
        &self,
        sql: &PagingSql,
        namespace: &Name,
        after: Option<&Name>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let pool = self.ready().await?;
        // Every key is longer than '', so no cursor starts at ''.
        let rows: Vec<(String, i64)> = sqlx::query_as(sql.list)
            .bind(namespace.as_str())
            .bind(after.map_or("", Name::as_str))
            .bind(page_limit(limit))
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        rows.into_iter()
            .map(|row| listed(self.backend, row))
            .collect()
    }

    pub(super) async fn scan(
        &self,
        sql: &PagingSql,
        after: Option<&CounterName>,
        limit: usize,
    ) -> Result<Vec<CounterRecord>, StoreError> {
        let pool = self.ready().await?;
        let (namespace, key) = after.map_or(("", ""), |name| {
            (name.namespace().as_str(), name.key().as_str())
        });
        let rows: Vec<RecordRow> = sqlx::query_as(sql.scan)
            .bind(namespace)
            .bind(key)
            .bind(page_limit(limit))
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        rows.into_iter()
            .map(|row| row.into_record(self.backend))
            .collect()
    }

    pub(super) async fn restore(
        &self,
        sql: &PagingSql,
        record: &CounterRecord,
    ) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        restore_query(sql, record)
            .execute(pool)
            .await
            .map_err(|err| self.error(err))?;
        Ok(())
    }

    /// Every record in one transaction: all or nothing, and one commit (one sync of the
    /// SQLite file) for a whole page of an import or a copy.
    pub(super) async fn restore_many(
        &self,
        sql: &PagingSql,
        records: &[CounterRecord],
    ) -> Result<(), StoreError>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        let mut tx = self.write_transaction().await?;
        for record in records {
            restore_query(sql, record)
                .execute(&mut *tx)
                .await
                .map_err(|err| self.error(err))?;
        }
        tx.commit().await.map_err(|err| self.error(err))
    }
}

/// The upsert that writes `record` as given.
fn restore_query<'q, DB>(
    sql: &PagingSql,
    record: &CounterRecord,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> bool: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a [u8]>: Encode<'a, DB> + Type<DB>,
{
    sqlx::query(sql.restore)
        .bind(record.name.namespace().as_str())
        .bind(record.name.key().as_str())
        .bind(record.value)
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(owner_bytes(record.owner.as_ref()))
        .bind(record.rules.enable_reset)
        .bind(record.rules.lower_bound)
        .bind(record.rules.upper_bound)
}

/// The lifecycle of both SQL backends.
#[async_trait]
impl<DB> Lifecycle for SqlPool<DB>
where
    DB: Database,
    DB::Connection: Migrate,
{
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        let mut conn = pool.acquire().await.map_err(|err| self.error(err))?;
        conn.ping().await.map_err(|err| self.error(err))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.ready().await.map(|_| ())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::add_range;

    #[test]
    fn add_range_holds_the_values_an_amount_keeps_in_range() {
        assert_eq!(add_range(1), (0, i64::MAX - 1));
        assert_eq!(add_range(i64::MAX), (0, 0));
        assert_eq!(add_range(-1), (1, i64::MAX));
        assert_eq!(add_range(-i64::MAX), (i64::MAX, i64::MAX));
        let (low, high) = add_range(i64::MIN);
        assert!(low > high, "no counter can lose {}", i64::MIN);
    }
}
