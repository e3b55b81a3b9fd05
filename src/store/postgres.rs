//! The PostgreSQL store: one row per counter in the `counters` table.
//!
//! The pool is created with `connect_lazy_with`, so tally starts while PostgreSQL is down; the
//! migrations in `migrations/postgres` run on the first call that reaches the server (and at
//! start, from `tally serve`, when it is up). The pool's `acquire_timeout` is the store timeout,
//! not sqlx's default of 30 s, so a dead database gives a quick 503 instead of a hung request.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    Connection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::OnceCell;

use super::{
    Backend, CounterName, CounterStore, StoreError, check_amount,
    error::{from_migrate, from_sqlx},
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
    pool: PgPool,
    /// Set once the migrations have been applied; until then every call tries to apply them,
    /// so a store that was down at start gets its schema as soon as it is back.
    schema: OnceCell<()>,
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
        PostgresStore {
            pool,
            schema: OnceCell::new(),
        }
    }

    /// The pool, once the schema is known to be in place.
    async fn ready(&self) -> Result<&PgPool, StoreError> {
        self.schema
            .get_or_try_init(|| async {
                // sqlx holds an advisory lock while it migrates, so replicas starting together
                // apply each migration once.
                MIGRATOR
                    .run(&self.pool)
                    .await
                    .map_err(|err| from_migrate(Backend::Postgres, err))
            })
            .await?;
        Ok(&self.pool)
    }
}

#[async_trait]
impl CounterStore for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        check_amount(by)?;
        let pool = self.ready().await?;
        // One statement: the row is created or updated atomically, and PostgreSQL raises
        // 22003 (numeric out of range) instead of wrapping when a count would pass i64::MAX.
        sqlx::query_scalar(
            "INSERT INTO counters (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE \
             SET value = counters.value + EXCLUDED.value, updated_at = now() \
             RETURNING value",
        )
        .bind(name.as_str())
        .bind(by)
        .fetch_one(pool)
        .await
        .map_err(|err| from_sqlx(Backend::Postgres, Some((name.as_str(), by)), err))
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let pool = self.ready().await?;
        let value: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(pool)
            .await
            .map_err(|err| from_sqlx(Backend::Postgres, None, err))?;
        Ok(value.unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let pool = self.ready().await?;
        sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map_err(|err| from_sqlx(Backend::Postgres, None, err))?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.ready().await.map(|_| ())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
