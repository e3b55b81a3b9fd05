//! A counter's days in any IANA time zone, from what the store keeps in UTC: hits per
//! quarter-hour and unique visitors per UTC day (see [`crate::store::history`]). The API's
//! `/history` and `/history.svg` (and the page's chart) are built on [`daily`].
//!
//! **Hits are exact in every zone.** A local day runs from its first instant (local midnight,
//! or the end of a daylight-saving gap that swallows midnight) to the next day's, which jiff
//! finds in the bundled IANA database, 23- and 25-hour days included. Every offset in use is
//! a whole number of quarter-hours, so a local day is a whole run of UTC quarter-hours and its
//! hits are their sum. (A zone whose offset is not, none today, would see each quarter-hour
//! counted in the day its start falls in.)
//!
//! **Unique visitors are the UTC day's** that holds the local day's noon (its middle, give or
//! take a daylight-saving hour): the salt, and so a visitor's identity, is per UTC day, and
//! visitors of two days cannot be added up. A noon at exactly UTC midnight (UTC−12, UTC+12)
//! counts to the UTC day before it, so local day D shows UTC day D from −12:00 to +11:45 and
//! UTC day D − 1 from +12:00 on. For a zone far from UTC a day's visitors are thus counted
//! over a UTC day that overlaps it by 12 hours or more, not over the local day itself.

pub mod chart;

use std::ops::Range;

use jiff::{
    Timestamp,
    civil::{Date, Time},
    tz::TimeZone,
};

use crate::store::{
    CounterName, Store, StoreError,
    history::{QUARTER_MS, day_of},
};

/// One day of a counter in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub date: Date,
    /// Hits within the local day.
    pub hits: i64,
    /// Unique visitors of the UTC day that holds the local day's noon.
    pub uniques: u64,
}

/// Where a local day lies in the store's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDay {
    pub date: Date,
    /// Its UTC quarter-hours, first included, last excluded.
    pub quarters: Range<i64>,
    /// The UTC day whose unique visitors it shows.
    pub uniques_day: i64,
}

/// The IANA zone `name` (`Europe/Berlin`, `UTC`; case-insensitive), from the database built
/// into tally, so it does not depend on the host's (a scratch container has none).
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("{name:?} is not an IANA time zone"));
    }
    TimeZone::get(name)
        .map_err(|_| format!("{name:?} is not an IANA time zone such as Europe/Berlin or UTC"))
}

/// The date it is in `tz` at `now` (ms since the epoch).
pub fn today(tz: &TimeZone, now: i64) -> Result<Date, StoreError> {
    let now = Timestamp::from_millisecond(now).map_err(out_of_range)?;
    Ok(tz.to_datetime(now).date())
}

/// The `count` days of `tz` that end with `last`, oldest first.
pub fn local_days(tz: &TimeZone, last: Date, count: u32) -> Result<Vec<LocalDay>, StoreError> {
    let first = last
        .checked_sub(jiff::Span::new().days(i64::from(count.max(1)) - 1))
        .map_err(out_of_range)?;
    let mut days = Vec::with_capacity(count as usize);
    let mut date = first;
    let mut start = quarter_at(start_of(tz, date)?);
    while date <= last {
        let next = date.tomorrow().map_err(out_of_range)?;
        let end = quarter_at(start_of(tz, next)?);
        let noon = tz
            .to_timestamp(date.to_datetime(Time::constant(12, 0, 0, 0)))
            .map_err(out_of_range)?
            .as_millisecond();
        days.push(LocalDay {
            date,
            quarters: start..end,
            // A noon at exactly UTC midnight (UTC−12) belongs to the UTC day before.
            uniques_day: day_of(noon - 1),
        });
        date = next;
        start = end;
    }
    Ok(days)
}

/// The `count` days of `name` in `tz` that end with `last`, oldest first; days without hits
/// are there too, with 0.
pub async fn daily(
    store: &Store,
    name: &CounterName,
    tz: &TimeZone,
    last: Date,
    count: u32,
) -> Result<Vec<DayCount>, StoreError> {
    let days = local_days(tz, last, count)?;
    let (Some(first), Some(final_day)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let quarters = first.quarters.start..final_day.quarters.end;
    let unique_days = days.iter().map(|day| day.uniques_day);
    let (low, high) = (
        unique_days.clone().min().unwrap_or(0),
        unique_days.max().unwrap_or(0),
    );
    let history = store.history(name, quarters, low..=high).await?;
    let mut hits = history.quarters.iter().peekable();
    Ok(days
        .iter()
        .map(|day| {
            let mut sum: i64 = 0;
            while let Some((quarter, count)) =
                hits.next_if(|(quarter, _)| *quarter < day.quarters.end)
            {
                if day.quarters.contains(quarter) {
                    sum = sum.saturating_add(*count);
                }
            }
            let uniques = history
                .uniques
                .iter()
                .find(|(utc_day, _)| *utc_day == day.uniques_day)
                .map_or(0, |(_, visitors)| *visitors);
            DayCount {
                date: day.date,
                hits: sum,
                uniques,
            }
        })
        .collect())
}

/// The first instant of `date` in `tz`: local midnight, or the end of a gap that swallows it
/// (jiff's "compatible" choice moves a time in a gap forward by the gap's length).
fn start_of(tz: &TimeZone, date: Date) -> Result<i64, StoreError> {
    Ok(tz
        .to_timestamp(date.to_datetime(Time::midnight()))
        .map_err(out_of_range)?
        .as_millisecond())
}

/// The quarter-hour that holds `millis`.
fn quarter_at(millis: i64) -> i64 {
    millis.div_euclid(QUARTER_MS)
}

fn out_of_range(err: jiff::Error) -> StoreError {
    StoreError::invalid_input(format!("a date out of range: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn days_of(zone_name: &str, last: Date, count: u32) -> Vec<LocalDay> {
        local_days(&zone(zone_name).expect("a zone"), last, count).expect("days")
    }

    fn hours(day: &LocalDay) -> f64 {
        (day.quarters.end - day.quarters.start) as f64 / 4.0
    }

    #[test]
    fn days_are_runs_of_quarter_hours_that_meet() {
        let days = days_of("Asia/Kathmandu", date(2025, 3, 31), 3);
        assert_eq!(
            days.iter().map(|day| day.date).collect::<Vec<_>>(),
            [date(2025, 3, 29), date(2025, 3, 30), date(2025, 3, 31)]
        );
        for pair in days.windows(2) {
            assert_eq!(pair[0].quarters.end, pair[1].quarters.start);
        }
        // Kathmandu is +05:45: its 2025-03-30 starts at 2025-03-29T18:15Z.
        let start = Timestamp::from_second(days[1].quarters.start * 900).expect("ts");
        assert_eq!(start.to_string(), "2025-03-29T18:15:00Z");
        assert_eq!(hours(&days[1]), 24.0);
    }

    #[test]
    fn daylight_saving_days_are_23_and_25_hours_long() {
        let spring = days_of("Europe/Berlin", date(2025, 3, 30), 1);
        assert_eq!(hours(&spring[0]), 23.0);
        let autumn = days_of("Europe/Berlin", date(2025, 10, 26), 1);
        assert_eq!(hours(&autumn[0]), 25.0);
        // Lord Howe moves by half an hour.
        let lord_howe = days_of("Australia/Lord_Howe", date(2025, 4, 6), 1);
        assert_eq!(hours(&lord_howe[0]), 24.5);
    }

    #[test]
    fn a_gap_at_midnight_starts_the_day_after_it() {
        // America/Santiago skipped from 2024-09-08T00:00 to 01:00.
        let days = days_of("America/Santiago", date(2024, 9, 8), 1);
        let start = Timestamp::from_second(days[0].quarters.start * 900).expect("ts");
        assert_eq!(start.to_string(), "2024-09-08T04:00:00Z");
        assert_eq!(hours(&days[0]), 23.0);
    }

    #[test]
    fn uniques_come_from_the_utc_day_that_holds_local_noon() {
        let expect = |zone_name: &str, local: Date, utc: Date| {
            let day = &days_of(zone_name, local, 1)[0];
            let utc_day = utc
                .to_zoned_datetime(TimeZone::UTC)
                .expect("utc")
                .timestamp()
                .as_millisecond()
                / crate::store::history::DAY_MS;
            assert_eq!(day.uniques_day, utc_day, "{zone_name} {local}");
        };
        expect("UTC", date(2025, 6, 1), date(2025, 6, 1));
        expect("Pacific/Kiritimati", date(2025, 6, 1), date(2025, 5, 31));
        expect("Asia/Kolkata", date(2025, 6, 1), date(2025, 6, 1));
        expect("America/St_Johns", date(2025, 6, 1), date(2025, 6, 1));
        expect("Pacific/Pago_Pago", date(2025, 6, 1), date(2025, 6, 1));
        expect("Etc/GMT+12", date(2025, 6, 1), date(2025, 6, 1));
    }

    #[test]
    fn zones_are_iana_names() {
        assert!(zone("Europe/Berlin").is_ok());
        assert!(zone("utc").is_ok());
        for bad in [
            "",
            "Mars/Olympus",
            "+05:30",
            "Europe/Berlin/x",
            &"A".repeat(65),
        ] {
            assert!(zone(bad).is_err(), "{bad}");
        }
    }
}
