//! The Redis store: each counter is a plain integer key, incremented with `INCRBY`.
//!
//! The default counter's key is exactly `visitor_count`, with no prefix, so a Redis that the
//! Flask + Redis tutorial filled keeps counting from where it was.
//!
//! Connections go through redis-rs's `ConnectionManager`, which replaces a broken connection
//! by itself. It is created *lazily* (`new_lazy_with_config`) because the eager constructor
//! fails at once while Redis is down, and tally must start anyway. The manager fails the
//! command that was in flight when the link dropped; that command is not retried here, since
//! an `INCRBY` that reached Redis before the link broke would otherwise count twice.
//!
//! The manager only reconnects after I/O errors. A connection attempt that failed for another
//! reason (a wrong password, say) would be remembered forever, so after such an error this
//! store swaps in a fresh manager: fixing the password in Redis is then enough, as fixing a
//! network is, and tally needs no restart.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use redis::{
    Client, ConnectionInfo, ErrorKind, RedisError,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{Backend, CounterName, CounterStore, Lifecycle, StoreError};

pub struct RedisStore {
    client: Client,
    config: ConnectionManagerConfig,
    /// The current manager. A `std::sync::Mutex` because it is only held to clone or replace
    /// the handle (an `Arc` inside), never across an `.await`.
    manager: Mutex<ConnectionManager>,
}

impl RedisStore {
    /// Prepares the connection manager without connecting. Must be called inside a Tokio
    /// runtime (the manager spawns its housekeeping task).
    pub fn new(info: ConnectionInfo, timeout: Duration) -> Result<Self, StoreError> {
        let client = Client::open(info).map_err(|err| StoreError::failed(Backend::Redis, err))?;
        // Each connect attempt and each command is bounded by the store timeout. Two quick
        // retries ride over a restart; a longer outage is reported (503) instead of retried,
        // and the next command starts a fresh attempt.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|err| StoreError::failed(Backend::Redis, err))?;
        Ok(RedisStore {
            client,
            config,
            manager: Mutex::new(manager),
        })
    }

    fn connection(&self) -> ConnectionManager {
        self.manager
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Classifies a failed command, first replacing the manager when the error says its
    /// connection attempt itself failed for a reason it will not recover from by itself.
    fn failed(&self, err: RedisError, counter: Option<(&CounterName, i64)>) -> StoreError {
        let stuck = matches!(
            err.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::InvalidClientConfig
                | ErrorKind::Client
                | ErrorKind::RESP3NotSupported
        );
        if stuck {
            match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone())
            {
                Ok(fresh) => {
                    *self.manager.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                }
                Err(new_err) => {
                    tracing::warn!(error = %new_err, "cannot prepare a new Redis connection");
                }
            }
        }
        classify(err, counter)
    }
}

/// Sorts a redis-rs error: connection trouble (including refused credentials, which an operator
/// fixes without touching tally) is `Unavailable`; Redis's own "would overflow" reply to
/// `INCRBY` is `Overflow`; anything else (say, a key that holds text) is `Failed`.
fn classify(err: RedisError, counter: Option<(&CounterName, i64)>) -> StoreError {
    if err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_timeout()
        || matches!(
            err.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                | ErrorKind::Server(redis::ServerErrorKind::TryAgain)
                | ErrorKind::Server(redis::ServerErrorKind::MasterDown)
        )
        || err
            .code()
            .is_some_and(|code| matches!(code, "NOAUTH" | "WRONGPASS"))
    {
        return StoreError::unavailable(Backend::Redis, err);
    }
    if let Some((name, by)) = counter
        && err
            .detail()
            .is_some_and(|detail| detail.contains("overflow"))
    {
        return StoreError::Overflow {
            name: name.to_string(),
            by,
        };
    }
    StoreError::failed(Backend::Redis, err)
}

#[async_trait]
impl Lifecycle for RedisStore {
    fn backend(&self) -> Backend {
        Backend::Redis
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.connection();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err, None))?;
        Ok(())
    }
}

#[async_trait]
impl CounterStore for RedisStore {
    async fn increment(&self, name: &CounterName, by: i64) -> Result<i64, StoreError> {
        let mut conn = self.connection();
        redis::cmd("INCRBY")
            .arg(name.storage_key())
            .arg(by)
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err, Some((name, by))))
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let mut conn = self.connection();
        let value: Option<i64> = redis::cmd("GET")
            .arg(name.storage_key())
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err, None))?;
        Ok(value.unwrap_or(0))
    }

    async fn info(
        &self,
        _name: &CounterName,
    ) -> Result<Option<crate::store::CounterRecord>, StoreError> {
        todo!("named counters")
    }
    async fn create(
        &self,
        _name: &CounterName,
        _counter: &crate::store::NewCounter,
    ) -> Result<bool, StoreError> {
        todo!("named counters")
    }
    async fn set(&self, _name: &CounterName, _value: i64) -> Result<Option<i64>, StoreError> {
        todo!("named counters")
    }
    async fn add(
        &self,
        _name: &CounterName,
        _amount: i64,
    ) -> Result<crate::store::AddOutcome, StoreError> {
        todo!("named counters")
    }
    async fn delete(&self, _name: &CounterName) -> Result<bool, StoreError> {
        todo!("named counters")
    }
    async fn list(
        &self,
        _namespace: &crate::store::Name,
        _after: Option<&crate::store::Name>,
        _limit: usize,
    ) -> Result<Vec<crate::store::Listed>, StoreError> {
        todo!("named counters")
    }
    async fn scan(
        &self,
        _after: Option<&CounterName>,
        _limit: usize,
    ) -> Result<Vec<crate::store::CounterRecord>, StoreError> {
        todo!("named counters")
    }
    async fn restore(&self, _record: &crate::store::CounterRecord) -> Result<(), StoreError> {
        todo!("named counters")
    }
}
