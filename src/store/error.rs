//! The one error type of the store layer.
//!
//! Callers decide what to do by [`StoreError::kind`] (retry later, blame the input, or report a
//! bug), never by matching message text. Messages name the backend and the underlying cause,
//! and never contain credentials (connect options are not part of any message).

use std::time::Duration;

use super::Backend;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The kinds of store failure a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The server is down, refused the connection or dropped it: try again later.
    Unavailable,
    /// No answer within the configured timeout: try again later.
    TimedOut,
    /// The caller asked for something invalid (a bad counter name or amount).
    InvalidInput,
    /// The counter would pass `i64::MAX`; nothing was changed.
    Overflow,
    /// Anything else the store reported (unexpected data, a failed migration, a SQL error).
    Failed,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{backend} is unavailable: {cause}")]
    Unavailable { backend: Backend, cause: Cause },

    #[error("{backend} did not answer within {}", humantime::format_duration(*after))]
    TimedOut { backend: Backend, after: Duration },

    #[error("{0}")]
    InvalidInput(String),

    #[error("counter `{name}` cannot grow by {by}: it would pass the largest count, {max}", max = i64::MAX)]
    Overflow { name: String, by: i64 },

    #[error("{backend} failed: {cause}")]
    Failed { backend: Backend, cause: Cause },
}

impl StoreError {
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::Unavailable { .. } => StoreErrorKind::Unavailable,
            StoreError::TimedOut { .. } => StoreErrorKind::TimedOut,
            StoreError::InvalidInput(_) => StoreErrorKind::InvalidInput,
            StoreError::Overflow { .. } => StoreErrorKind::Overflow,
            StoreError::Failed { .. } => StoreErrorKind::Failed,
        }
    }

    /// The backend that failed, when the failure came from one.
    pub fn backend(&self) -> Option<Backend> {
        match self {
            StoreError::Unavailable { backend, .. }
            | StoreError::TimedOut { backend, .. }
            | StoreError::Failed { backend, .. } => Some(*backend),
            StoreError::InvalidInput(_) | StoreError::Overflow { .. } => None,
        }
    }

    /// True for the failures that may go away by themselves (the server comes back).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::TimedOut
        )
    }

    /// The same error again (kind, backend and message), for each of the requests of a batch
    /// that failed together; the cause is kept as its text.
    pub fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Unavailable { backend, cause } => {
                StoreError::unavailable(*backend, cause.to_string())
            }
            StoreError::TimedOut { backend, after } => StoreError::TimedOut {
                backend: *backend,
                after: *after,
            },
            StoreError::InvalidInput(message) => StoreError::InvalidInput(message.clone()),
            StoreError::Overflow { name, by } => StoreError::Overflow {
                name: name.clone(),
                by: *by,
            },
            StoreError::Failed { backend, cause } => {
                StoreError::failed(*backend, cause.to_string())
            }
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        StoreError::InvalidInput(message.into())
    }

    pub fn unavailable(backend: Backend, cause: impl Into<Cause>) -> Self {
        StoreError::Unavailable {
            backend,
            cause: cause.into(),
        }
    }

    pub fn failed(backend: Backend, cause: impl Into<Cause>) -> Self {
        StoreError::Failed {
            backend,
            cause: cause.into(),
        }
    }

    /// A short label for metrics (`store_errors_total{kind=…}`).
    pub fn kind_label(&self) -> &'static str {
        match self.kind() {
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::TimedOut => "timed_out",
            StoreErrorKind::InvalidInput => "invalid_input",
            StoreErrorKind::Overflow => "overflow",
            StoreErrorKind::Failed => "failed",
        }
    }
}

/// Sorts an sqlx error into a [`StoreError`]: connection-level trouble is `Unavailable`, a
/// numeric overflow is `Overflow`, everything else is `Failed`.
pub(crate) fn from_sqlx(
    backend: Backend,
    name: Option<(&super::CounterName, i64)>,
    err: sqlx::Error,
) -> StoreError {
    use sqlx::Error as E;
    match &err {
        E::PoolTimedOut => StoreError::unavailable(
            backend,
            "no connection could be made within the store timeout",
        ),
        E::Io(_) | E::Tls(_) | E::PoolClosed | E::WorkerCrashed | E::Protocol(_) => {
            StoreError::unavailable(backend, err)
        }
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            // 22003: numeric_value_out_of_range (a BIGINT passing i64::MAX).
            if code == "22003"
                && let Some((name, by)) = name
            {
                return StoreError::Overflow {
                    name: name.to_string(),
                    by,
                };
            }
            // PostgreSQL class 08 is "connection exception"; 57P01-57P03 are admin shutdown,
            // crash shutdown and "cannot connect now" (starting up); 28000/28P01 (refused
            // credentials) and 3D000 (no such database) are fixed by an operator without
            // touching tally, so they too are outages, not bugs. SQLite reports extended
            // result codes as numbers; primary codes 5 and 6 are SQLITE_BUSY and SQLITE_LOCKED:
            // another writer held the database past busy_timeout.
            let transient = match backend {
                Backend::Sqlite => code
                    .parse::<i32>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
                _ => {
                    code.starts_with("08")
                        || matches!(
                            code.as_ref(),
                            "57P01" | "57P02" | "57P03" | "28000" | "28P01" | "3D000"
                        )
                }
            };
            if transient {
                StoreError::unavailable(backend, err)
            } else {
                StoreError::failed(backend, err)
            }
        }
        _ => StoreError::failed(backend, err),
    }
}

/// Sorts a failed migration: the SQL failing to run is sorted like any sqlx error (so a
/// database that is down is `Unavailable`); a broken migration set is `Failed`.
pub(crate) fn from_migrate(backend: Backend, err: sqlx::migrate::MigrateError) -> StoreError {
    match err {
        sqlx::migrate::MigrateError::Execute(err) => from_sqlx(backend, None, err),
        other => StoreError::failed(backend, other),
    }
}
