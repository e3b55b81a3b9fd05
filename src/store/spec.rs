//! Which backend, and what it needs to be opened: the value of `COUNTER_STORE` and the connect
//! options that [`crate::config`] validated.

use std::fmt;

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
            // And the change feed's listener, while live streams are open.
            Backend::Postgres => u64::from(super::postgres::MAX_CONNECTIONS) + 1,
            // A connection reconnecting may briefly overlap the one it replaces; and the
            // change feed's subscriber, while live streams are open.
            Backend::Redis => 3,
            // Each connection opens the database, its write-ahead log and its shared memory.
            Backend::Sqlite => u64::from(super::sqlite::MAX_CONNECTIONS) * 3,
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
