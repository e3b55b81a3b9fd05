//! `HISTORY_DAYS`: how many days of hits per quarter-hour and unique visitors tally keeps
//! (README, "History and unique visitors"), and so the most days `?days=` may ask for.
//!
//! At least 1, so that today and yesterday (which a zone ahead of UTC may still be living in)
//! are kept; at most ten years, [`MAX_HISTORY_DAYS`], since a history request reads one
//! UTC day per day asked for (a pipeline of two commands per day on Redis) and a chart draws
//! one bar each: an unbounded setting would let one request ask for millions.

use super::error::ConfigError;
use crate::{cli::Settings, store::DEFAULT_HISTORY_DAYS};

/// The largest `HISTORY_DAYS`: ten years, leap days included.
pub const MAX_HISTORY_DAYS: u32 = 3660;

/// `HISTORY_DAYS`, in days.
pub(super) fn parse_history_days(settings: &Settings) -> Result<u32, ConfigError> {
    let Some(value) = settings.history_days.as_deref() else {
        return Ok(DEFAULT_HISTORY_DAYS);
    };
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|days| (1..=MAX_HISTORY_DAYS).contains(days))
        .ok_or_else(|| {
            ConfigError::invalid(
                "HISTORY_DAYS",
                value,
                &format!("a whole number of days from 1 to {MAX_HISTORY_DAYS}, such as 400"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(value: &str) -> Result<u32, ConfigError> {
        parse_history_days(&Settings {
            history_days: Some(value.to_owned()),
            ..Settings::default()
        })
    }

    #[test]
    fn a_whole_number_of_days_from_one_to_ten_years() {
        assert_eq!(
            parse_history_days(&Settings::default()).expect("default"),
            400
        );
        assert_eq!(days("1").expect("one"), 1);
        assert_eq!(days(" 30 ").expect("spaces"), 30);
        assert_eq!(days("3660").expect("ten years"), 3660);
        for bad in ["0", "-1", "3661", "30d", "1.5", "forever", "99999999999"] {
            let err = days(bad).expect_err(bad);
            assert_eq!(err.variable, "HISTORY_DAYS");
            assert!(err.to_string().contains("from 1 to 3660"), "{err}");
        }
    }
}
