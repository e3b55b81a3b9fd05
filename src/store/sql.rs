//! What the two SQL backends share: a lazily connected pool whose schema is applied on first
//! use, and their [`Lifecycle`] (ping, migrate, close), written once.
//!
//! The pool is created with `connect_lazy_with`, so tally starts while its database is down.
//! The migrations run on the first call that reaches the server (and at start, from `tally
//! serve`, when it is up); until they have succeeded every call tries again, so a database that
//! was down at start gets its schema as soon as it is back.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    Connection, Database, Pool,
    migrate::{Migrate, MigrateError, Migrator},
};
use tokio::sync::OnceCell;

use super::{
    Backend, Lifecycle, StoreError,
    error::{from_migrate, from_sqlx},
};

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
