//! The Redis store: each counter is an integer key, changed by one Lua script per operation,
//! next to a hash of what else tally knows about it, with one sorted set as the index of all.
//!
//! # Key layout
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `K` = `visitor_count`, `namespace/key` | string | the count; the bare key in the default namespace, so a Redis the Flask + Redis tutorial filled keeps counting from where it was |
//! | `tally:{K}:meta` | hash | `created`, `updated`, `owner` (the 32-byte token hash, never a token), `enable_reset`, `lower_bound`, `upper_bound`, `entry` |
//! | `tally:{index}:counters` | sorted set | one member `namespace key entry` per counter, all with score 0 |
//! | `tally:{K}:hits:YYYY-MM-DD` | hash | the hits of each quarter-hour (0 to 95) of that UTC day; expires `HISTORY_DAYS` after the day |
//! | `tally:{K}:visitors:YYYY-MM-DD` | HyperLogLog | the day's unique visitors (`PFADD` of their keyed hashes); expires with the hits |
//! | `tally:{K}:days` | hash | the dates that have the two keys above (date → day number), for `delete`; expires with the last day's keys |
//! | `tally:salt:YYYY-MM-DD` | string | the day's 32-byte salt, shared by every tally; expires 5 minutes after the day |
//!
//! The names live in [`keys`], the scripts in [`scripts`]. The job queue keeps its own keys,
//! all under one hash tag; [`queue`] describes them. Every script that changes a counter
//! publishes its new value, which the live updates of every replica follow ([`feed`]).
//!
//! **Ready for Redis Cluster.** Both keys of a counter carry `K` as their hash tag (`K` has no
//! braces, so the slot of `K` is the slot of `{K}`), and each operation is one script over
//! exactly those two keys: atomic per counter, and never cross-slot. The index has a tag of its
//! own, and no command names it together with a counter's keys; a `ZADD` and a script may share
//! a pipeline, which is a batch of single-slot commands. Nothing uses `KEYS`.
//!
//! **One index, not one per namespace.** A single sorted set with score 0 orders its members
//! by bytes, and the separator (a space) sorts below every name character, so member order is
//! counter order: `list` is a `ZRANGEBYLEX` over one namespace's range and `scan` over the
//! whole set, both with byte-order keyset paging after any cursor. Per-namespace sets would need
//! a set of namespaces besides, kept in step as namespaces empty and fill, for no gain: the
//! index is only written when a counter is created or deleted, never by a hit, so it is not a
//! hot key even on a cluster.
//!
//! # What the index holds, and why nothing is missed
//!
//! A counter is in `list` and `scan` exactly when its value and its meta hash exist: every
//! counter tally created, and every value key tally has touched (hit, `info`, `set`, `add`). A value key no
//! tally ever touched (the tutorial's `visitor_count` before the first hit, or a key written by
//! another program) has no meta and is not listed; the first touch writes its meta, with
//! `created` and `updated` both the time tally first saw it (the real ones are unknown), and
//! the rules of a counter created by a hit. Counts added by other programs later do not move
//! `updated`.
//!
//! The meta's `entry` names the counter's index member, and the rule in [`indexed`] (the entry
//! is in the index before any script may write it into meta, and is removed only when no meta
//! can name it) means **a counter with meta is always in the index**, whatever crashes, times
//! out or races:
//!
//! - Hits never touch the index: the hit script finds `entry` in the meta and only counts, so
//!   `/count` costs one round trip, in a fresh process too. Only a hit that creates a counter
//!   (or first sees a foreign one) learns so from the script, which then changed nothing, and
//!   runs it again after a `ZADD`, in the same pipeline: two round trips, once per counter. The
//!   meta hash is the marker, so no per-process set of indexed counters is needed (one would
//!   grow with every name hit and forget everything on restart).
//! - The `ZADD` and the script travel in one pipeline on one connection, which Redis runs in
//!   order, so the entry is there before the meta names it, even if tally dies in between.
//! - Entry ids are random and never reused, so when a delete removes its entry (after its
//!   script deleted the meta naming it), a counter re-created meanwhile under a new entry keeps
//!   its own. A script that did not use its entry (the counter had one by then, or it failed)
//!   has its entry removed.
//!
//! What can happen is the opposite: an index member no meta names, when tally dies or times out
//! between the two steps of a write or a delete. Readers skip such members (their entry is not
//! the meta's), and they stay: a reader cannot tell one from the entry of a creation still in
//! flight, so removing them could lose a counter. They cost a few bytes each.
//!
//! On a cluster the `ZADD` and the script would go to different nodes, which keep no order
//! between them; there the `ZADD` must be awaited before the script is sent, a round trip more
//! when a counter is created.
//!
//! # Connections and errors
//!
//! Connections go through redis-rs's `ConnectionManager`, which replaces a broken connection
//! by itself. It is created *lazily* (`new_lazy_with_config`) because the eager constructor
//! fails at once while Redis is down, and tally must start anyway. The manager fails the
//! command that was in flight when the link dropped; that command is not retried here, since
//! a script that reached Redis before the link broke would otherwise count twice. A script is
//! only run again when Redis said it did nothing: it answered `unindexed` (the counter needs an
//! index entry first) or `NOSCRIPT` (Redis restarted and forgot the script; `redis::Script`
//! loads it and runs it again).
//!
//! The manager only reconnects after I/O errors. A connection attempt that failed for another
//! reason (a wrong password, say) would be remembered forever, so after such an error this
//! store swaps in a fresh manager: fixing the password in Redis is then enough, as fixing a
//! network is, and tally needs no restart.

mod feed;
mod history;
mod indexed;
mod keys;
mod queue;
mod queue_scripts;
mod scripts;

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use redis::{
    Client, ConnectionInfo, ErrorKind, RedisError,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{
    AddOutcome, Backend, CounterName, CounterRecord, CounterStore, Hit, Lifecycle, Listed, Name,
    NewCounter, StoreError, TokenHash, UpdateRules, now_millis,
};
use indexed::{Indexing, Stored};
use queue_scripts::QueueScripts;
use scripts::{Reply, Scripts};

pub struct RedisStore {
    client: Client,
    config: ConnectionManagerConfig,
    /// The current manager. A `std::sync::Mutex` because it is only held to clone or replace
    /// the handle (an `Arc` inside), never across an `.await`.
    manager: Mutex<ConnectionManager>,
    scripts: Scripts,
    queue_scripts: QueueScripts,
    /// Where the scripts announce changes ([`feed`]).
    changes_channel: String,
}

impl RedisStore {
    /// Prepares the connection manager without connecting. Must be called inside a Tokio
    /// runtime (the manager spawns its housekeeping task).
    pub fn new(info: ConnectionInfo, timeout: Duration) -> Result<Self, StoreError> {
        let changes_channel = keys::changes_channel(info.redis_settings().db());
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
            scripts: Scripts::new(&changes_channel),
            queue_scripts: QueueScripts::new(),
            changes_channel,
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
    fn failed(&self, err: RedisError) -> StoreError {
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
        classify(err)
    }
}

/// Sorts a redis-rs error: connection trouble (including refused credentials, which an operator
/// fixes without touching tally) is `Unavailable`; anything else (say, a key that holds text)
/// is `Failed`. An overflow is not an error here: the scripts report it as a reply.
fn classify(err: RedisError) -> StoreError {
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
    StoreError::failed(Backend::Redis, err)
}

/// A reply tally cannot make sense of: the data in Redis is not what tally wrote.
fn garbled(message: String) -> StoreError {
    StoreError::failed(Backend::Redis, message)
}

/// A script argument.
fn arg(value: impl ToString) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// The arguments a script takes for an owner and rules (`''` for no owner).
fn owner_and_rules(owner: Option<TokenHash>, rules: UpdateRules) -> [Vec<u8>; 4] {
    [
        owner.map_or_else(Vec::new, |TokenHash(hash)| hash.to_vec()),
        arg(u8::from(rules.enable_reset)),
        arg(rules.lower_bound),
        arg(rules.upper_bound),
    ]
}

/// The arguments of the restore script for `record` (its entry follows).
fn restore_args(record: &CounterRecord) -> [Vec<u8>; 7] {
    let [owner, enable_reset, lower, upper] = owner_and_rules(record.owner, record.rules);
    [
        arg(record.value),
        arg(record.created_at),
        arg(record.updated_at),
        owner,
        enable_reset,
        lower,
        upper,
    ]
}

/// Checks the reply of the restore script.
fn restored(reply: &Reply) -> Result<(), StoreError> {
    match reply.status.as_str() {
        "restored" => Ok(()),
        _ => Err(garbled(reply.unexpected())),
    }
}

/// A counter's record from its `info` reply: `value, entry, created, updated, owner,
/// enable_reset, lower_bound, upper_bound`.
fn record(name: CounterName, reply: &Reply) -> Result<CounterRecord, String> {
    let owner = match reply.bytes(4) {
        None => None,
        Some(hash) => Some(TokenHash(hash.try_into().map_err(|_| {
            format!("the owner of {name} is {} bytes, not 32", hash.len())
        })?)),
    };
    let enable_reset = match reply.text(5)? {
        "0" => false,
        "1" => true,
        other => return Err(format!("enable_reset of {name} is {other:?}")),
    };
    Ok(CounterRecord {
        value: reply.int(0)?,
        created_at: reply.int(2)?,
        updated_at: reply.int(3)?,
        owner,
        rules: UpdateRules {
            enable_reset,
            lower_bound: reply.int(6)?,
            upper_bound: reply.int(7)?,
        },
        name,
    })
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
            .map_err(|err| self.failed(err))?;
        Ok(())
    }
}

#[async_trait]
impl CounterStore for RedisStore {
    async fn increment(&self, name: &CounterName, by: i64, hit: &Hit) -> Result<i64, StoreError> {
        let keys = [
            keys::hits_key(name, hit.day),
            keys::visitors_key(name, hit.day),
            keys::days_key(name),
        ];
        let args = [
            arg(by),
            arg(now_millis()),
            arg(hit.quarter_of_day()),
            arg(hit.day),
            history::utc_date(hit.day).into_bytes(),
            arg(history::expire_at(hit.expires_on())),
            arg(hit.day - i64::from(hit.days_kept)),
            hit.visitor
                .map_or_else(Vec::new, |visitor| visitor.0.to_vec()),
        ];
        let reply = self
            .run_indexed(name, &self.scripts.hit, &keys, &args, Indexing::Lazy)
            .await?;
        match reply.status.as_str() {
            "counted" => reply.int(0).map_err(garbled),
            "overflow" => Err(StoreError::Overflow {
                name: name.to_string(),
                by,
            }),
            _ => Err(garbled(reply.unexpected())),
        }
    }

    async fn get(&self, name: &CounterName) -> Result<i64, StoreError> {
        let mut conn = self.connection();
        let value: Option<i64> = redis::cmd("GET")
            .arg(keys::value_key(name))
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))?;
        Ok(value.unwrap_or(0))
    }

    async fn info(&self, name: &CounterName) -> Result<Option<CounterRecord>, StoreError> {
        let args = [arg(now_millis())];
        let reply = self
            .run_indexed(name, &self.scripts.info, &[], &args, Indexing::Lazy)
            .await?;
        match reply.status.as_str() {
            "found" => record(name.clone(), &reply).map(Some).map_err(garbled),
            "missing" => Ok(None),
            _ => Err(garbled(reply.unexpected())),
        }
    }

    async fn create(&self, name: &CounterName, counter: &NewCounter) -> Result<bool, StoreError> {
        let [owner, enable_reset, lower, upper] = owner_and_rules(counter.owner, counter.rules);
        let args = [
            arg(counter.value),
            arg(now_millis()),
            owner,
            enable_reset,
            lower,
            upper,
        ];
        let reply = self
            .run_indexed(name, &self.scripts.create, &[], &args, Indexing::Eager)
            .await?;
        match reply.status.as_str() {
            "created" => Ok(true),
            "exists" => Ok(false),
            _ => Err(garbled(reply.unexpected())),
        }
    }

    async fn set(&self, name: &CounterName, value: i64) -> Result<Option<i64>, StoreError> {
        let args = [arg(value), arg(now_millis())];
        let reply = self
            .run_indexed(name, &self.scripts.set, &[], &args, Indexing::Lazy)
            .await?;
        match reply.status.as_str() {
            "set" => reply.int(0).map(Some).map_err(garbled),
            "missing" => Ok(None),
            _ => Err(garbled(reply.unexpected())),
        }
    }

    async fn add(&self, name: &CounterName, amount: i64) -> Result<AddOutcome, StoreError> {
        let args = [arg(amount), arg(now_millis())];
        let reply = self
            .run_indexed(name, &self.scripts.add, &[], &args, Indexing::Lazy)
            .await?;
        match reply.status.as_str() {
            "added" => reply.int(0).map(AddOutcome::Added).map_err(garbled),
            "out_of_range" => reply
                .int(0)
                .map(|current| AddOutcome::OutOfRange { current })
                .map_err(garbled),
            "missing" => Ok(AddOutcome::Missing),
            _ => Err(garbled(reply.unexpected())),
        }
    }

    async fn delete(&self, name: &CounterName) -> Result<bool, StoreError> {
        let mut conn = self.connection();
        let reply = self
            .invoke(
                &mut conn,
                name,
                &self.scripts.delete,
                &[keys::days_key(name)],
                &[
                    keys::hits_prefix(name).into_bytes(),
                    keys::visitors_prefix(name).into_bytes(),
                ],
                "",
            )
            .await?;
        // The meta naming this entry is gone, and entry ids are never reused, so no counter
        // can need it any more.
        if let Some(entry) = reply.bytes(0) {
            let entry = String::from_utf8_lossy(entry);
            self.forget(&mut conn, keys::member(name, &entry)).await;
        }
        match reply.status.as_str() {
            "deleted" => Ok(true),
            "missing" => Ok(false),
            _ => Err(garbled(reply.unexpected())),
        }
    }

    async fn list(
        &self,
        namespace: &Name,
        after: Option<&Name>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let (min, max) = keys::namespace_range(namespace, after);
        self.read_page(min.into_bytes(), &max, limit)
            .await?
            .into_iter()
            .map(|Stored { name, reply }| {
                Ok(Listed {
                    key: name.key().clone(),
                    value: reply.int(0).map_err(garbled)?,
                })
            })
            .collect()
    }

    async fn scan(
        &self,
        after: Option<&CounterName>,
        limit: usize,
    ) -> Result<Vec<CounterRecord>, StoreError> {
        let (min, max) = keys::scan_range(after);
        self.read_page(min.into_bytes(), &max, limit)
            .await?
            .into_iter()
            .map(|Stored { name, reply }| record(name, &reply).map_err(garbled))
            .collect()
    }

    async fn restore(&self, record: &CounterRecord) -> Result<(), StoreError> {
        let reply = self
            .run_indexed(
                &record.name,
                &self.scripts.restore,
                &[],
                &restore_args(record),
                Indexing::Eager,
            )
            .await?;
        restored(&reply)
    }

    /// One pipeline of restore scripts. Redis has no transaction that could hold scripts
    /// and their index entries together, so a failure may leave a prefix of the records (or
    /// more) written: harmless, since a restore writes the same state however often it runs.
    async fn restore_many(&self, records: &[CounterRecord]) -> Result<(), StoreError> {
        let calls: Vec<(&CounterName, Vec<Vec<u8>>)> = records
            .iter()
            .map(|record| (&record.name, restore_args(record).to_vec()))
            .collect();
        let replies = self.run_indexed_many(&self.scripts.restore, &calls).await?;
        replies.iter().try_for_each(restored)
    }
}
