//! The history of both SQL backends: the `counter_history`, `visitor_registers` and
//! `visitor_salts` tables (`migrations/*/20261211000001_history.sql`), and [`HistoryStore`]
//! for [`PostgresStore`] and [`SqliteStore`], written once (SQLite takes PostgreSQL's `$N`
//! placeholders through sqlx, and every statement here is the same in both dialects).
//!
//! What a hit writes is not here but in each backend's `increment`, because it must share the
//! increment's statement (PostgreSQL: one statement of data-modifying CTEs) or transaction
//! (SQLite); the upserts they use are [`ADD_HITS`] and [`ADD_REGISTER`].
//!
//! Unique visitors are HyperLogLog registers ([`super::hll`]), one row per register that is
//! not 0, raised with `ON CONFLICT … DO UPDATE … WHERE rank < excluded.rank`, so a register
//! only grows and a visitor added twice changes nothing. The estimate needs only how many
//! registers hold each rank: one `GROUP BY day, rank` answers it for every day of a history
//! at once, at most 52 rows a day however many visitors there were.

use std::ops::{Range, RangeInclusive};

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type, migrate::Migrate};

use super::{
    CounterName, History, HistoryStore, Lifecycle, Salt, StoreError, VisitorHash,
    history::QUARTERS_PER_DAY,
    hll::{Histogram, Registers},
    postgres::PostgresStore,
    sql::SqlPool,
    sqlite::SqliteStore,
};

/// Adds hits to a quarter-hour: binds namespace, key, quarter, hits. A sum past `i64::MAX`
/// stays at `i64::MAX` (a history is a record of hits, not a counter that must refuse).
pub(super) const ADD_HITS: &str = "INSERT INTO counter_history (namespace, key, quarter, hits) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (namespace, key, quarter) DO UPDATE \
     SET hits = CASE WHEN counter_history.hits > 9223372036854775807 - excluded.hits \
                     THEN 9223372036854775807 \
                     ELSE counter_history.hits + excluded.hits END";

/// Offers a rank to a register: binds namespace, key, day, register, rank.
pub(super) const ADD_REGISTER: &str = "INSERT INTO visitor_registers (namespace, key, day, register, rank) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (namespace, key, day, register) DO UPDATE SET rank = excluded.rank \
     WHERE visitor_registers.rank < excluded.rank";

/// Binds namespace, key, first quarter, end quarter (excluded).
const QUARTERS: &str = "SELECT quarter, hits FROM counter_history \
                        WHERE namespace = $1 AND key = $2 AND quarter >= $3 AND quarter < $4 \
                        ORDER BY quarter";

/// Binds namespace, key, first day, last day.
const RANKS: &str = "SELECT day, CAST(rank AS BIGINT), COUNT(*) FROM visitor_registers \
                     WHERE namespace = $1 AND key = $2 AND day BETWEEN $3 AND $4 \
                     GROUP BY day, rank ORDER BY day";

/// The salt of a day, created if there is none, after deleting the older ones: run in order
/// in one transaction, binding day (and the candidate salt, second). Under PostgreSQL's read
/// committed, the `SELECT` sees a salt another process committed meanwhile, which the insert
/// waited for and then left alone.
const DROP_OLD_SALTS: &str = "DELETE FROM visitor_salts WHERE day < $1";
const OFFER_SALT: &str =
    "INSERT INTO visitor_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING";
const SALT: &str = "SELECT salt FROM visitor_salts WHERE day = $1";

/// Retention: bind the first quarter, first day and today.
const TRIM_QUARTERS: &str = "DELETE FROM counter_history WHERE quarter < $1";
const TRIM_REGISTERS: &str = "DELETE FROM visitor_registers WHERE day < $1";
const TRIM_SALTS: &str = "DELETE FROM visitor_salts WHERE day < $1";

/// Deleting a counter's history with it: binds namespace, key.
pub(super) const DELETE_HISTORY: [&str; 2] = [
    "DELETE FROM counter_history WHERE namespace = $1 AND key = $2",
    "DELETE FROM visitor_registers WHERE namespace = $1 AND key = $2",
];

/// Registers written per statement by `add_visitors`: 2 + 3 × 1000 parameters, within both
/// databases' limits (SQLite 32,766, PostgreSQL 65,535).
const REGISTERS_PER_STATEMENT: usize = 1000;

/// A register as stored: `SMALLINT` in PostgreSQL.
fn stored(value: impl Into<i64>) -> i16 {
    i16::try_from(value.into()).unwrap_or(i16::MAX)
}

/// [`ADD_REGISTER`] for `rows` registers at once: the same upsert with one `VALUES` row per
/// register, binding namespace, key, day, then register and rank of each.
fn add_registers_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| format!("($1, $2, $3, ${}, ${})", 4 + 2 * row, 5 + 2 * row))
        .collect();
    format!(
        "INSERT INTO visitor_registers (namespace, key, day, register, rank) VALUES {} \
         ON CONFLICT (namespace, key, day, register) DO UPDATE SET rank = excluded.rank \
         WHERE visitor_registers.rank < excluded.rank",
        values.join(", ")
    )
}

/// The history's operations, generic over the two databases (like the queue's in
/// [`super::sql_queue`]).
impl<DB> SqlPool<DB>
where
    DB: Database,
    DB::Connection: Migrate,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> i16: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    (i64, i64): for<'r> FromRow<'r, DB::Row>,
    (i64, i64, i64): for<'r> FromRow<'r, DB::Row>,
    (Vec<u8>,): for<'r> FromRow<'r, DB::Row>,
{
    async fn daily_salt(&self, day: i64, candidate: &Salt) -> Result<Salt, StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(DROP_OLD_SALTS)
            .bind(day)
            .execute(&mut *tx)
            .await
            .map_err(|err| self.error(err))?;
        sqlx::query(OFFER_SALT)
            .bind(day)
            .bind(candidate.0.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(|err| self.error(err))?;
        let (salt,): (Vec<u8>,) = sqlx::query_as(SALT)
            .bind(day)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| self.error(err))?;
        tx.commit().await.map_err(|err| self.error(err))?;
        let salt = <[u8; 32]>::try_from(salt.as_slice()).map_err(|_| {
            StoreError::failed(
                self.backend(),
                format!("the salt of day {day} is {} bytes, not 32", salt.len()),
            )
        })?;
        Ok(Salt(salt))
    }

    async fn history(
        &self,
        name: &CounterName,
        quarters: Range<i64>,
        days: RangeInclusive<i64>,
    ) -> Result<History, StoreError> {
        let pool = self.ready().await?;
        let hits: Vec<(i64, i64)> = sqlx::query_as(QUARTERS)
            .bind(name.namespace().as_str())
            .bind(name.key().as_str())
            .bind(quarters.start)
            .bind(quarters.end)
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        let ranks: Vec<(i64, i64, i64)> = sqlx::query_as(RANKS)
            .bind(name.namespace().as_str())
            .bind(name.key().as_str())
            .bind(*days.start())
            .bind(*days.end())
            .fetch_all(pool)
            .await
            .map_err(|err| self.error(err))?;
        let mut uniques: Vec<(i64, Histogram)> = Vec::new();
        for (day, rank, registers) in ranks {
            if uniques.last().is_none_or(|(last, _)| *last != day) {
                uniques.push((day, Histogram::default()));
            }
            if let Some((_, histogram)) = uniques.last_mut() {
                histogram.add(
                    u8::try_from(rank).unwrap_or(u8::MAX),
                    u64::try_from(registers).unwrap_or(0),
                );
            }
        }
        Ok(History {
            quarters: hits,
            uniques: uniques
                .into_iter()
                .map(|(day, histogram)| (day, histogram.estimate()))
                .collect(),
        })
    }

    async fn add_visitors(
        &self,
        name: &CounterName,
        day: i64,
        visitors: &[VisitorHash],
    ) -> Result<(), StoreError> {
        // Folded first: each register once, at its largest rank, so a statement never names a
        // row twice (PostgreSQL refuses that in one upsert) and a batch is at most 16,384 rows.
        let mut registers = Registers::default();
        for visitor in visitors {
            let (register, rank) = visitor.position();
            registers.offer(register, rank);
        }
        let rows: Vec<(u16, u8)> = registers.set().collect();
        let mut tx = self.write_transaction().await?;
        for chunk in rows.chunks(REGISTERS_PER_STATEMENT) {
            let sql = add_registers_sql(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(name.namespace().as_str())
                .bind(name.key().as_str())
                .bind(day);
            for (register, rank) in chunk {
                query = query.bind(stored(*register)).bind(stored(*rank));
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(|err| self.error(err))?;
        }
        tx.commit().await.map_err(|err| self.error(err))
    }

    /// `rows` reads how many rows a statement deleted (sqlx has no trait for it).
    async fn trim_history(
        &self,
        first_kept: i64,
        today: i64,
        rows: fn(&DB::QueryResult) -> u64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_transaction().await?;
        let mut deleted = 0;
        for (sql, cut) in [
            (TRIM_QUARTERS, first_kept.saturating_mul(QUARTERS_PER_DAY)),
            (TRIM_REGISTERS, first_kept),
            (TRIM_SALTS, today),
        ] {
            let done = sqlx::query(sql)
                .bind(cut)
                .execute(&mut *tx)
                .await
                .map_err(|err| self.error(err))?;
            deleted += rows(&done);
        }
        tx.commit().await.map_err(|err| self.error(err))?;
        Ok(deleted)
    }
}

/// A register or a rank as bound to a statement.
pub(super) fn register_binds(visitor: Option<VisitorHash>) -> (Option<i16>, Option<i16>) {
    match visitor.map(|visitor| visitor.position()) {
        Some((register, rank)) => (Some(stored(register)), Some(stored(rank))),
        None => (None, None),
    }
}

macro_rules! history_store {
    ($store:ty, $result:ty) => {
        #[async_trait]
        impl HistoryStore for $store {
            async fn daily_salt(&self, day: i64, candidate: &Salt) -> Result<Salt, StoreError> {
                self.sql.daily_salt(day, candidate).await
            }

            async fn history(
                &self,
                name: &CounterName,
                quarters: Range<i64>,
                days: RangeInclusive<i64>,
            ) -> Result<History, StoreError> {
                self.sql.history(name, quarters, days).await
            }

            async fn add_visitors(
                &self,
                name: &CounterName,
                day: i64,
                visitors: &[VisitorHash],
                _days_kept: u32,
            ) -> Result<(), StoreError> {
                self.sql.add_visitors(name, day, visitors).await
            }

            async fn trim_history(&self, first_kept: i64, today: i64) -> Result<u64, StoreError> {
                self.sql
                    .trim_history(first_kept, today, <$result>::rows_affected)
                    .await
            }
        }
    };
}

history_store!(PostgresStore, sqlx::postgres::PgQueryResult);
history_store!(SqliteStore, sqlx::sqlite::SqliteQueryResult);

#[cfg(test)]
mod tests {
    use super::add_registers_sql;

    #[test]
    fn a_batch_names_each_register_with_its_own_parameters() {
        let sql = add_registers_sql(2);
        assert!(
            sql.contains("VALUES ($1, $2, $3, $4, $5), ($1, $2, $3, $6, $7) ON CONFLICT"),
            "{sql}"
        );
    }
}
