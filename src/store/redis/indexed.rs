//! Running the scripts so that the index never misses a counter, and reading pages of it.
//!
//! The rule that keeps the index complete: **a counter's entry is added to the index before any
//! script may write meta naming it, and removed only once no meta can name it.** Scripts are
//! first run without an entry ([`Indexing::Lazy`]) and only change something when the counter
//! already has one; when it needs one, they answer `unindexed` having changed nothing, and the
//! script runs again after a `ZADD` of a fresh entry, in one pipeline on one connection, which
//! Redis executes in order. Operations that usually create ([`Indexing::Eager`]) skip the first
//! try. An entry id is never reused, so removing one cannot remove a newer counter's entry.

use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value, aio::ConnectionManager};

use super::{
    RedisStore,
    keys::{self, INDEX},
    scripts::Reply,
};
use crate::store::{Backend, CounterName, StoreError};

/// Whether a write first tries without an index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Most calls find the counter indexed: one round trip, two when it needs an entry.
    Lazy,
    /// Most calls create the counter: add an entry at once (one round trip), removed again
    /// when the counter had one.
    Eager,
}

/// A counter found through the index, with its `info` reply.
pub struct Stored {
    pub name: CounterName,
    pub reply: Reply,
}

impl RedisStore {
    /// Runs `script` on the keys of `name` (value, meta, then `keys`) with `args` and then an
    /// entry id (`''` on a lazy first try), adding and removing index entries as the rule
    /// above says.
    pub(super) async fn run_indexed(
        &self,
        name: &CounterName,
        script: &redis::Script,
        keys: &[String],
        args: &[Vec<u8>],
        indexing: Indexing,
    ) -> Result<Reply, StoreError> {
        let mut conn = self.connection();
        if indexing == Indexing::Lazy {
            let reply = self.invoke(&mut conn, name, script, keys, args, "").await?;
            if !reply.unindexed() {
                return Ok(reply);
            }
        }
        let entry = keys::new_entry();
        let member = keys::member(name, &entry);
        let invocation = invocation(name, script, keys, args, &entry);
        let results: Vec<RedisResult<Value>> = redis::pipe()
            .ignore_errors()
            .cmd("ZADD")
            .arg(INDEX)
            .arg("NX")
            .arg(0)
            .arg(&member)
            .invoke_script(&invocation)
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))?;
        let mut results = results.into_iter();
        let (Some(added), Some(ran)) = (results.next(), results.next()) else {
            return Err(StoreError::failed(
                Backend::Redis,
                "a pipeline lost a reply",
            ));
        };
        let ran = match ran {
            // The script was not cached (Redis restarted or was flushed): nothing ran, so load
            // it and run it again, still after the ZADD.
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                invocation.invoke_async(&mut conn).await
            }
            ran => ran.and_then(|value| Ok(redis::from_redis_value(value)?)),
        };
        let reply = match ran {
            Ok(reply) => reply,
            Err(err) => return Err(self.failed_script(&mut conn, &member, err).await),
        };
        if let Err(err) = added {
            // Only a Redis whose index key was overwritten with another type gets here; the
            // script may have run, so the call fails loudly instead of counting in silence.
            return Err(self.failed(err));
        }
        let reply = Reply::parse(reply).map_err(|err| StoreError::failed(Backend::Redis, err))?;
        if !reply.used_entry {
            self.forget(&mut conn, &member).await;
        }
        Ok(reply)
    }

    /// Runs `script` once per `(name, args)` call, each eagerly indexed as [`Self::run_indexed`]
    /// does, all in one pipeline: a `SCRIPT LOAD` first (so that no call can meet `NOSCRIPT`),
    /// then each call's `ZADD` and script, in order. The replies come back in the order of
    /// the calls.
    ///
    /// Not atomic: when one call fails, those before it (and maybe some after) have been
    /// applied. Callers use it only for writes that are safe to apply again (restore).
    pub(super) async fn run_indexed_many(
        &self,
        script: &redis::Script,
        calls: &[(&CounterName, Vec<Vec<u8>>)],
    ) -> Result<Vec<Reply>, StoreError> {
        let mut conn = self.connection();
        let entries: Vec<(String, String)> = calls
            .iter()
            .map(|(name, _)| {
                let entry = keys::new_entry();
                (keys::member(name, &entry), entry)
            })
            .collect();
        let mut pipe = redis::pipe();
        pipe.ignore_errors().load_script(script);
        for ((name, args), (member, entry)) in calls.iter().zip(&entries) {
            pipe.cmd("ZADD")
                .arg(INDEX)
                .arg("NX")
                .arg(0)
                .arg(member)
                .invoke_script(&invocation(name, script, &[], args, entry));
        }
        let results: Vec<RedisResult<Value>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))?;
        if results.len() != 1 + 2 * calls.len() {
            return Err(StoreError::failed(
                Backend::Redis,
                "a pipeline lost a reply",
            ));
        }
        let mut results = results.into_iter().skip(1);
        let mut replies = Vec::with_capacity(calls.len());
        let mut unused = Vec::new();
        let mut failure = None;
        for (member, _) in entries {
            let (Some(added), Some(ran)) = (results.next(), results.next()) else {
                break;
            };
            if let Err(err) = added {
                // As in `run_indexed`: the index key holds another type; fail loudly.
                failure.get_or_insert(err);
            }
            let ran = ran.and_then(|value| Ok(redis::from_redis_value(value)?));
            match ran {
                Ok(raw) => match Reply::parse(raw) {
                    Ok(reply) => {
                        if !reply.used_entry {
                            unused.push(member);
                        }
                        replies.push(reply);
                    }
                    Err(err) => return Err(StoreError::failed(Backend::Redis, err)),
                },
                Err(err) => {
                    // An error reply means the script wrote nothing (see `scripts.rs`): its
                    // entry can go. After a lost connection it may have run: the entry stays.
                    if matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension) {
                        unused.push(member);
                    }
                    failure.get_or_insert(err);
                }
            }
        }
        if !unused.is_empty() {
            self.forget_all(&mut conn, &unused).await;
        }
        match failure {
            Some(err) => Err(self.failed(err)),
            None => Ok(replies),
        }
    }

    /// Runs `script` on the keys of `name` (value, meta, then `keys`) once, with `entry` as
    /// its last argument.
    pub(super) async fn invoke(
        &self,
        conn: &mut ConnectionManager,
        name: &CounterName,
        script: &redis::Script,
        keys: &[String],
        args: &[Vec<u8>],
        entry: &str,
    ) -> Result<Reply, StoreError> {
        let raw = invocation(name, script, keys, args, entry)
            .invoke_async(conn)
            .await
            .map_err(|err| self.failed(err))?;
        Reply::parse(raw).map_err(|err| StoreError::failed(Backend::Redis, err))
    }

    /// A script failed. If Redis answered with an error, the script wrote nothing (it runs all
    /// its checks first, see `scripts.rs`), so its entry goes again; after a lost connection
    /// or a timeout it may have run, and the entry stays.
    async fn failed_script(
        &self,
        conn: &mut ConnectionManager,
        member: &str,
        err: RedisError,
    ) -> StoreError {
        if matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension) {
            self.forget(conn, member.as_bytes()).await;
        }
        self.failed(err)
    }

    /// Removes an index entry no meta names. Best effort: one left behind is skipped by every
    /// reader, so a failure is only logged.
    pub(super) async fn forget(&self, conn: &mut ConnectionManager, member: impl AsRef<[u8]>) {
        let removed: RedisResult<i64> = redis::cmd("ZREM")
            .arg(INDEX)
            .arg(member.as_ref())
            .query_async(conn)
            .await;
        if let Err(err) = removed {
            tracing::warn!(error = %err, "could not remove an unused entry from the Redis index");
        }
    }

    /// [`Self::forget`] for many entries, in one command.
    async fn forget_all(&self, conn: &mut ConnectionManager, members: &[String]) {
        let removed: RedisResult<i64> = redis::cmd("ZREM")
            .arg(INDEX)
            .arg(members)
            .query_async(conn)
            .await;
        if let Err(err) = removed {
            tracing::warn!(error = %err, "could not remove unused entries from the Redis index");
        }
    }

    /// Up to `limit` counters from the index between `min` and `max` (`ZRANGEBYLEX` bounds),
    /// in member order, each as its `info` reply. Entries that no meta names (left by a crash
    /// or a timeout between the two steps of a write) are skipped.
    pub(super) async fn read_page(
        &self,
        mut min: Vec<u8>,
        max: &str,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut conn = self.connection();
        let mut found = Vec::new();
        while found.len() < limit {
            let want = limit - found.len();
            let members: Vec<Vec<u8>> = redis::cmd("ZRANGEBYLEX")
                .arg(INDEX)
                .arg(&min)
                .arg(max)
                .arg("LIMIT")
                .arg(0)
                .arg(want)
                .query_async(&mut conn)
                .await
                .map_err(|err| self.failed(err))?;
            let Some(last) = members.last() else { break };
            min = keys::after_member(last);
            let complete = members.len() < want;
            let entries: Vec<(CounterName, String)> = members
                .iter()
                .filter_map(|member| {
                    let parsed = keys::parse_member(member);
                    if parsed.is_none() {
                        tracing::warn!(
                            member = %String::from_utf8_lossy(member),
                            "skipping an index member tally did not write"
                        );
                    }
                    parsed
                })
                .collect();
            for stored in self.read_all(&mut conn, entries).await? {
                found.extend(stored);
            }
            if complete {
                break;
            }
        }
        Ok(found)
    }

    /// The `info` replies (without writing) of `entries`, in one pipeline; `None` where the
    /// counter is gone or its meta names another entry.
    async fn read_all(
        &self,
        conn: &mut ConnectionManager,
        entries: Vec<(CounterName, String)>,
    ) -> Result<Vec<Option<Stored>>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let script = &self.scripts.info;
        let args = info_args();
        let mut pipe = redis::pipe();
        for (name, _) in &entries {
            pipe.invoke_script(&invocation(name, script, &[], &args, ""));
        }
        let raws: Vec<Vec<Option<Vec<u8>>>> = match pipe.query_async(conn).await {
            Ok(raws) => raws,
            // Not cached yet: load it and read again (reads are safe to repeat).
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                script
                    .load_async(conn)
                    .await
                    .map_err(|err| self.failed(err))?;
                pipe.query_async(conn)
                    .await
                    .map_err(|err| self.failed(err))?
            }
            Err(err) => return Err(self.failed(err)),
        };
        let mut stored = Vec::with_capacity(entries.len());
        for ((name, entry), raw) in entries.into_iter().zip(raws) {
            let reply = Reply::parse(raw).map_err(|err| StoreError::failed(Backend::Redis, err))?;
            let current = reply.status == "found" && reply.bytes(1) == Some(entry.as_bytes());
            stored.push(current.then_some(Stored { name, reply }));
        }
        Ok(stored)
    }
}

/// The arguments of a reading `info`: the time is only written together with an entry.
fn info_args() -> Vec<Vec<u8>> {
    vec![b"0".to_vec()]
}

/// An invocation of `script` on the keys of `name` (value, meta, then `extra`), with `args`
/// and then `entry`.
fn invocation<'a>(
    name: &CounterName,
    script: &'a redis::Script,
    extra: &[String],
    args: &[Vec<u8>],
    entry: &str,
) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.prepare_invoke();
    invocation
        .key(keys::value_key(name))
        .key(keys::meta_key(name));
    for key in extra {
        invocation.key(key.as_str());
    }
    for arg in args {
        invocation.arg(arg.as_slice());
    }
    invocation.arg(entry);
    invocation
}
