//! What the stores keep of a counter's past: hits per UTC quarter-hour and unique visitors per
//! UTC day, the types of the [`super::HistoryStore`] capability and of a hit.
//!
//! **Quarter-hours, in UTC.** Every time zone in use today is offset from UTC by a whole
//! number of quarter-hours (+05:30 Kolkata, +05:45 Kathmandu, −03:30 St John's, +10:30 Lord
//! Howe, +12:45 Chatham), and so are its daylight-saving changes. A day in any zone, 23 or 25
//! hours long or not, is therefore a whole run of quarter-hours, and summing them gives that
//! day's hits exactly. Hours would be wrong for a third of the world's zone offsets.
//!
//! **Unique visitors per UTC day**, because the salt that makes a visitor's hash is the UTC
//! day's (see [`super::visitor`]); a sketch per quarter-hour would cost 96 times the space, and
//! visitors cannot be summed anyway. How a zone's day picks its UTC day is in
//! `crate::history`.

use super::VisitorHash;

/// Milliseconds in a quarter-hour, the unit of hit history.
pub const QUARTER_MS: i64 = 15 * 60 * 1000;
/// Milliseconds in a UTC day, the unit of unique visitors and of retention.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Quarter-hours in a UTC day.
pub const QUARTERS_PER_DAY: i64 = DAY_MS / QUARTER_MS;
/// `HISTORY_DAYS` when it is not set.
pub const DEFAULT_HISTORY_DAYS: u32 = 400;

/// The quarter-hour (since the epoch, UTC) of the time `millis`.
pub fn quarter_of(millis: i64) -> i64 {
    millis.div_euclid(QUARTER_MS)
}

/// The UTC day (since the epoch) of the time `millis`.
pub fn day_of(millis: i64) -> i64 {
    millis.div_euclid(DAY_MS)
}

/// What a store records with an increment: when, and from whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// The quarter-hour since the epoch (UTC).
    pub quarter: i64,
    /// The UTC day since the epoch; the quarter's day.
    pub day: i64,
    /// The visitor's keyed hash, when the web layer knew the client.
    pub visitor: Option<VisitorHash>,
    /// `HISTORY_DAYS`: for the stores that expire what they keep (Redis) instead of having it
    /// trimmed by the maintenance job.
    pub days_kept: u32,
}

impl Hit {
    /// A hit at `millis` (ms since the epoch).
    pub fn at(millis: i64, visitor: Option<VisitorHash>, days_kept: u32) -> Hit {
        Hit {
            quarter: quarter_of(millis),
            day: day_of(millis),
            visitor,
            days_kept,
        }
    }

    /// The quarter-hour within its day, 0 to 95.
    pub fn quarter_of_day(&self) -> i64 {
        self.quarter.rem_euclid(QUARTERS_PER_DAY)
    }

    /// The first day no longer kept once this hit's day is `days_kept` days old: the stores
    /// that expire keys let this day's go at its start.
    pub fn expires_on(&self) -> i64 {
        self.day.saturating_add(i64::from(self.days_kept)) + 1
    }
}

/// A counter's history over a span: the hits of each quarter-hour that has any, and the
/// estimated unique visitors of each UTC day that has any, both in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// `(quarter, hits)`.
    pub quarters: Vec<(i64, i64)>,
    /// `(day, visitors)`.
    pub uniques: Vec<(i64, u64)>,
}

/// `YYYY-MM-DD` of the UTC day `day`, as the Redis keys name days.
pub fn utc_date(day: i64) -> String {
    match jiff::Timestamp::from_second(day.saturating_mul(86_400)) {
        Ok(at) => at
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
            .to_string(),
        // Outside jiff's range (years -9999 to 9999): no clock of a running tally is.
        Err(_) => format!("day{day}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_fall_in_their_quarter_and_day() {
        // 2025-03-30T00:44:59.999Z.
        let millis = 1_743_295_499_999;
        let hit = Hit::at(millis, None, 400);
        assert_eq!(hit.day, 20_177);
        assert_eq!(utc_date(hit.day), "2025-03-30");
        assert_eq!(hit.quarter_of_day(), 2);
        assert_eq!(hit.quarter, 20_177 * 96 + 2);
        assert_eq!(Hit::at(millis + 1, None, 400).quarter_of_day(), 3);
        assert_eq!(hit.expires_on(), 20_177 + 401);
        assert_eq!(quarter_of(-1), -1);
        assert_eq!(day_of(-1), -1);
        assert_eq!(utc_date(0), "1970-01-01");
    }
}
