//! Where counts live.
//!
//! Every backend implements [`CounterStore`], and the rest of tally only ever holds an
//! `Arc<dyn CounterStore>`: the web layer, the `tick` worker and the tests do not know (or care)
//! whether a count sits in PostgreSQL, Redis, an SQLite file or a `HashMap`.
//!
//! Rules every backend follows, because the contract suite in `tests/api/contract.rs` checks
//! them against all four:
//!
//! - **An increment is one atomic operation in the store** (`INCRBY`, or a single
//!   `INSERT … ON CONFLICT … DO UPDATE … RETURNING`). Never a read-modify-write in Rust: two
//!   servers sharing one database must not lose counts.
//! - **An increment is never retried** once it may have reached the store: it is not idempotent,
//!   and a blind retry after a dropped connection can count twice. Failing loudly (503) is
//!   better than counting wrong.
//! - **A store never makes its caller wait forever**: [`open`] wraps every backend in
//!   [`Deadline`], so a dead or hung server becomes [`StoreError::TimedOut`] after the configured
//!   timeout. Backends also bound their own waits (pool acquire, connect) by the same timeout.
//! - **A store can be created while its server is down.** Connections are made lazily, schema
//!   migrations run on first successful use, and a store that comes back is used again without
//!   a restart.
//!
//! This module knows nothing of HTTP; [`StoreError`] says *what kind* of failure happened so
//! that callers can choose a status code (or a log line) without matching on strings.

mod deadline;
mod error;
mod memory;
mod name;
mod postgres;
mod redis;
mod sqlite;

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;

pub use deadline::Deadline;
pub use error::{StoreError, StoreErrorKind};
pub use memory::MemoryStore;
pub use name::{CounterName, DEFAULT_COUNTER};
pub use postgres::PostgresStore;
pub use redis::RedisStore;
pub use sqlite::SqliteStore;

/// The counter backends tally can use; the value of `COUNTER_STORE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Postgres,
    Redis,
    Sqlite,
    Memory,
}

impl Backend {
    /// Every backend, in the order documented for `COUNTER_STORE`.
    pub const ALL: [Backend; 4] = [
        Backend::Postgres,
        Backend::Redis,
        Backend::Sqlite,
        Backend::Memory,
    ];

    /// The name used in `COUNTER_STORE`, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Redis => "redis",
            Backend::Sqlite => "sqlite",
            Backend::Memory => "memory",
        }
    }

    /// The most files (sockets, database files) a store of this backend holds open at once,
    /// so that the server can keep room for them under the open-file limit.
    pub fn max_open_files(self) -> u64 {
        match self {
            Backend::Postgres => u64::from(postgres::MAX_CONNECTIONS),
            // A connection reconnecting may briefly overlap the one it replaces.
            Backend::Redis => 2,
            // Each connection opens the database, its write-ahead log and its shared memory.
            Backend::Sqlite => u64::from(sqlite::MAX_CONNECTIONS) * 3,
            Backend::Memory => 0,
        }
    }

    /// Parses a `COUNTER_STORE` value (case-insensitive).
    pub fn parse(value: &str) -> Option<Backend> {
        Backend::ALL
            .into_iter()
            .find(|backend| backend.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Named counters with atomic increments.
///
/// Counts are `i64` because that is what all three servers store natively (`BIGINT`, Redis
/// integers, SQLite `INTEGER`); a counter that has never been incremented reads as 0.
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Which backend this is, for logs, metrics and `/readyz`.
    fn backend(&self) -> Backend;

    /// Adds `by` (at least 1) to the counter `name`, creating it at 0 first if needed, and
    /// returns the new value. One atomic operation in the store; never retried.
    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError>;

    /// The current value of `name`; 0 when it was never incremented.
    async fn get(&self, name: &CounterName) -> Result<i64, StoreError>;

    /// Checks that the store answers (and that its schema is in place).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Applies pending schema migrations now. Backends without a schema do nothing.
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Closes pools and connections; called once when the server shuts down.
    async fn close(&self) {}
}

/// What a store needs to be opened; built and validated by [`crate::config`].
#[derive(Clone)]
pub enum StoreSpec {
    Postgres(sqlx::postgres::PgConnectOptions),
    Redis(::redis::ConnectionInfo),
    Sqlite(sqlx::sqlite::SqliteConnectOptions),
    Memory,
}

impl StoreSpec {
    pub fn backend(&self) -> Backend {
        match self {
            StoreSpec::Postgres(_) => Backend::Postgres,
            StoreSpec::Redis(_) => Backend::Redis,
            StoreSpec::Sqlite(_) => Backend::Sqlite,
            StoreSpec::Memory => Backend::Memory,
        }
    }
}

impl fmt::Debug for StoreSpec {
    // Connect options can carry passwords: show only which backend this is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreSpec({})", self.backend())
    }
}

/// Opens the store `spec` describes, wrapped in a [`Deadline`] of `timeout`.
///
/// This never waits for a server: PostgreSQL and Redis connect on first use, so the service
/// can start (and answer `/healthz`) while they are down. It only fails for local problems,
/// such as an SQLite directory that cannot be created.
pub fn open(spec: &StoreSpec, timeout: Duration) -> Result<Arc<dyn CounterStore>, StoreError> {
    let store: Arc<dyn CounterStore> = match spec {
        StoreSpec::Postgres(options) => Arc::new(PostgresStore::new(options.clone(), timeout)),
        StoreSpec::Redis(info) => Arc::new(RedisStore::new(info.clone(), timeout)?),
        StoreSpec::Sqlite(options) => Arc::new(SqliteStore::new(options.clone(), timeout)?),
        StoreSpec::Memory => Arc::new(MemoryStore::default()),
    };
    Ok(Arc::new(Deadline::new(store, timeout)))
}

/// Rejects amounts below 1: a counter only ever goes up, and by something.
pub(crate) fn check_amount(by: i64) -> Result<(), StoreError> {
    if by < 1 {
        return Err(StoreError::invalid_input(format!(
            "an increment must be at least 1, got {by}"
        )));
    }
    Ok(())
}

/// Sorts an sqlx error from a query outside the stores (the `/hello` check) like the stores do.
pub fn from_sqlx_error(backend: Backend, err: sqlx::Error) -> StoreError {
    error::from_sqlx(backend, None, err)
}
