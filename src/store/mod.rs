//! Where counts live.
//!
//! Callers hold one [`Store`]: the facade that bounds every call by the store timeout, checks
//! input and reports to the metrics (and every change to the live updates), around whichever
//! backend [`open`] chose. Backends implement the traits of [`capability`]: [`Lifecycle`]
//! (ping, migrate, close) and one trait per capability ([`CounterStore`], [`HistoryStore`],
//! [`JobQueue`], [`ChangeFeed`]). The web layer, the commands and the tests do not know (or
//! care) whether a count sits in PostgreSQL, Redis, an SQLite file or a `HashMap`.
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
//! - **A store never makes its caller wait forever**: the [`Store`] facade turns "no answer
//!   within the timeout" into [`StoreError::TimedOut`]. Backends also bound their own waits
//!   (pool acquire, connect) by the same timeout.
//! - **A store can be created while its server is down.** Connections are made lazily, schema
//!   migrations run on first successful use, and a store that comes back is used again without
//!   a restart.
//!
//! This module knows nothing of HTTP; [`StoreError`] says *what kind* of failure happened so
//! that callers can choose a status code (or a log line) without matching on strings.

pub mod capability;
mod coalesce;
mod counter;
mod error;
mod facade;
pub mod history;
mod hll;
pub mod job;
mod memory;
mod memory_queue;
mod name;
mod postgres;
mod postgres_feed;
mod redis;
mod spec;
mod sql;
mod sql_history;
mod sql_queue;
mod sqlite;
mod sqlite_feed;
mod visitor;

use std::{sync::Arc, time::Duration};

pub use capability::{ChangeFeed, ChangeStream, CounterStore, HistoryStore, JobQueue, Lifecycle};
pub use counter::{
    AddOutcome, CounterChange, CounterRecord, Listed, NewCounter, TokenHash, UpdateRules,
    now_millis,
};
pub use error::{StoreError, StoreErrorKind};
pub use facade::{ChangeSink, Store, StoreCall, StoreObserver};
pub use history::{DEFAULT_HISTORY_DAYS, History, Hit};
pub use name::{
    CounterName, DEFAULT_COUNTER, DEFAULT_NAMESPACE, DEFAULT_TICK_COUNTER, MAX_NAME_LEN,
    MIN_NAME_LEN, NAME_PATTERN, Name, is_name_char,
};
pub use spec::{Backend, StoreSpec};
pub use visitor::{Salt, Visitor, VisitorHash};

use memory::MemoryStore;
use memory_queue::MemoryQueue;
use postgres::PostgresStore;
use redis::RedisStore;
use sqlite::SqliteStore;

/// One backend, handed out once per trait it implements. A new capability adds a field here
/// and a bound on [`Parts::of`] and [`Parts::with_lifecycle`]; every backend then has to
/// provide it.
struct Parts {
    lifecycle: Arc<dyn Lifecycle>,
    counters: Arc<dyn CounterStore>,
    history: Arc<dyn HistoryStore>,
    queue: Arc<dyn JobQueue>,
    feed: Arc<dyn ChangeFeed>,
}

impl Parts {
    /// A backend that is its own lifecycle (Redis).
    fn of<B: Lifecycle + CounterStore + HistoryStore + JobQueue + ChangeFeed>(backend: B) -> Parts {
        let backend = Arc::new(backend);
        Parts::with_lifecycle(backend.clone(), backend)
    }

    /// A backend whose lifecycle is a separate object (the SQL backends' shared pool).
    fn with_lifecycle<B: CounterStore + HistoryStore + JobQueue + ChangeFeed>(
        lifecycle: Arc<dyn Lifecycle>,
        backend: Arc<B>,
    ) -> Parts {
        Parts {
            lifecycle,
            counters: backend.clone(),
            history: backend.clone(),
            queue: backend.clone(),
            feed: backend,
        }
    }
}

/// Opens the store `spec` describes, behind the [`Store`] facade with a deadline of `timeout`.
///
/// This never waits for a server: PostgreSQL and Redis connect on first use, so the service
/// can start (and answer `/healthz`) while they are down. It only fails for local problems,
/// such as an SQLite directory that cannot be created.
pub fn open(spec: &StoreSpec, timeout: Duration) -> Result<Store, StoreError> {
    let parts = match spec {
        StoreSpec::Postgres(options) => {
            let store = PostgresStore::new(options.clone(), timeout);
            Parts::with_lifecycle(store.pool(), Arc::new(store))
        }
        StoreSpec::Sqlite(options) => {
            let store = SqliteStore::new(options.clone(), timeout)?;
            Parts::with_lifecycle(store.pool(), Arc::new(store))
        }
        StoreSpec::Redis(info) => Parts::of(RedisStore::new(info.clone(), timeout)?),
        StoreSpec::Memory => {
            let counters = Arc::new(MemoryStore::default());
            Parts {
                lifecycle: counters.clone(),
                history: counters.clone(),
                counters: counters.clone(),
                queue: Arc::new(MemoryQueue::default()),
                feed: counters,
            }
        }
    };
    Ok(Store::new(parts, timeout))
}

/// Sorts an sqlx error from a query outside the stores (the `/hello` check) like the stores do.
pub fn from_sqlx_error(backend: Backend, err: sqlx::Error) -> StoreError {
    error::from_sqlx(backend, None, err)
}
