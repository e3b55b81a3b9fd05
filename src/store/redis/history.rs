//! [`HistoryStore`] for Redis: a hash of hits per quarter-hour and a HyperLogLog of visitors
//! per counter and UTC day (written by the hit script, see `scripts.rs`), and the day's salt.
//!
//! Retention is Redis's own: every history key expires `HISTORY_DAYS` after its day (the hit
//! script sets `EXPIREAT` each time it writes one), and a salt 5 minutes after the end of its
//! day, so nothing needs trimming and [`HistoryStore::trim_history`] does nothing.
//!
//! Visitors are counted by Redis's `PFADD`/`PFCOUNT` (the same 16,384 registers and estimator
//! as the other stores' [`crate::store::hll`]), of the visitors' keyed hashes: Redis keeps the
//! registers, not the hashes.

use std::ops::{Range, RangeInclusive};

use async_trait::async_trait;

use super::{RedisStore, keys};
use crate::store::{
    Backend, CounterName, History, HistoryStore, Salt, StoreError, VisitorHash,
    history::QUARTERS_PER_DAY,
};

pub use crate::store::history::utc_date;

/// How long a salt outlives its day: a replica whose clock runs a little behind still finds
/// the salt its day's hits need (and does not make a second one), and then it is gone.
const SALT_MARGIN_SECONDS: i64 = 5 * 60;

/// Visitors per `PFADD` of a batch.
const VISITORS_PER_COMMAND: usize = 10_000;

/// The start of UTC day `day`, in seconds since the epoch: when the keys of a day that may no
/// longer be kept expire (see [`crate::store::Hit::expires_on`]).
pub fn expire_at(day: i64) -> i64 {
    day.saturating_mul(86_400)
}

#[async_trait]
impl HistoryStore for RedisStore {
    /// `SET NX` and `GET` in one pipeline: the first process to ask stores its candidate, and
    /// every process reads what is stored. A day whose salt would already have expired (a
    /// past day: a test's hits, or a clock far behind) keeps no salt, as the rule says: the
    /// candidate is used once and forgotten.
    async fn daily_salt(&self, day: i64, candidate: &Salt) -> Result<Salt, StoreError> {
        let mut conn = self.connection();
        let key = keys::salt_key(day);
        let (salt,): (Option<Vec<u8>>,) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(candidate.0.as_slice())
            .arg("NX")
            .arg("EXAT")
            .arg(expire_at(day + 1) + SALT_MARGIN_SECONDS)
            .ignore()
            .cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))?;
        let Some(salt) = salt else {
            return Ok(*candidate);
        };
        let salt = <[u8; 32]>::try_from(salt.as_slice()).map_err(|_| {
            StoreError::failed(
                Backend::Redis,
                format!("{key} holds {} bytes, not a 32-byte salt", salt.len()),
            )
        })?;
        Ok(Salt(salt))
    }

    /// One pipeline: the hits hash and the visitor count of every UTC day the span touches.
    async fn history(
        &self,
        name: &CounterName,
        quarters: Range<i64>,
        days: RangeInclusive<i64>,
    ) -> Result<History, StoreError> {
        let first_day = quarters
            .start
            .div_euclid(QUARTERS_PER_DAY)
            .min(*days.start());
        let last_day = (quarters.end - 1)
            .div_euclid(QUARTERS_PER_DAY)
            .max(*days.end());
        let mut pipe = redis::pipe();
        for day in first_day..=last_day {
            pipe.cmd("HGETALL")
                .arg(keys::hits_key(name, day))
                .cmd("PFCOUNT")
                .arg(keys::visitors_key(name, day));
        }
        let mut conn = self.connection();
        let replies: Vec<(Vec<(i64, i64)>, u64)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))?;
        let mut history = History::default();
        for (day, (hits, visitors)) in (first_day..=last_day).zip(replies) {
            let mut hits: Vec<(i64, i64)> = hits
                .into_iter()
                .map(|(quarter, hits)| (day * QUARTERS_PER_DAY + quarter, hits))
                .filter(|(quarter, _)| quarters.contains(quarter))
                .collect();
            hits.sort_unstable();
            history.quarters.extend(hits);
            if visitors > 0 && days.contains(&day) {
                history.uniques.push((day, visitors));
            }
        }
        Ok(history)
    }

    async fn add_visitors(
        &self,
        name: &CounterName,
        day: i64,
        visitors: &[VisitorHash],
        days_kept: u32,
    ) -> Result<(), StoreError> {
        let key = keys::visitors_key(name, day);
        let expires = expire_at(day.saturating_add(i64::from(days_kept)) + 1);
        let mut pipe = redis::pipe();
        for chunk in visitors.chunks(VISITORS_PER_COMMAND) {
            let command = pipe.cmd("PFADD").arg(&key);
            for visitor in chunk {
                command.arg(visitor.0.as_slice());
            }
            command.ignore();
        }
        pipe.cmd("EXPIREAT")
            .arg(&key)
            .arg(expires)
            .ignore()
            .cmd("HSETNX")
            .arg(keys::days_key(name))
            .arg(utc_date(day))
            .arg(day)
            .ignore();
        // The days hash lives as long as its last day's keys: set when it has no expiry,
        // moved only later (as the hit script does).
        for condition in ["NX", "GT"] {
            pipe.cmd("EXPIREAT")
                .arg(keys::days_key(name))
                .arg(expires)
                .arg(condition)
                .ignore();
        }
        let mut conn = self.connection();
        let () = pipe
            .query_async(&mut conn)
            .await
            .map_err(|err| self.failed(err))?;
        Ok(())
    }

    async fn trim_history(&self, _first_kept: i64, _today: i64) -> Result<u64, StoreError> {
        Ok(0)
    }
}
