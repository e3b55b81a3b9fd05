//! The "Hello from PostgreSQL" check of the Flask + Postgres tutorial.
//!
//! `/hello` proves that tally can reach PostgreSQL by having PostgreSQL itself produce the
//! greeting. It uses `DATABASE_URI` whenever that is a postgres URI, whatever the counter
//! store is, through its own small lazy pool: the check works (or fails clearly) independently
//! of the counters.

use std::time::Duration;

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::store::{Backend, StoreError};

/// What `/hello` answers when PostgreSQL is reachable.
pub const GREETING: &str = "Hello from Rust and PostgreSQL!";

/// Connections of the `/hello` pool. Two are plenty for a health-style check and keep it from
/// competing with the counter store for PostgreSQL's connections.
pub const MAX_CONNECTIONS: u32 = 2;

pub struct Greeter {
    pool: PgPool,
    timeout: Duration,
}

impl Greeter {
    /// Prepares the pool (of [`MAX_CONNECTIONS`]) without connecting.
    pub fn new(options: PgConnectOptions, timeout: Duration) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(timeout)
            .connect_lazy_with(options);
        Greeter { pool, timeout }
    }

    /// Asks PostgreSQL to build the greeting, so the text really comes from the server.
    pub async fn hello(&self) -> Result<String, StoreError> {
        let query =
            sqlx::query_scalar::<_, String>("SELECT concat($1::text, ' and ', $2::text, '!')")
                .bind("Hello from Rust")
                .bind("PostgreSQL")
                .fetch_one(&self.pool);
        match tokio::time::timeout(self.timeout, query).await {
            Ok(result) => {
                result.map_err(|err| crate::store::from_sqlx_error(Backend::Postgres, err))
            }
            Err(_) => Err(StoreError::TimedOut {
                backend: Backend::Postgres,
                after: self.timeout,
            }),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
