//! Parsers for the kinds of value several settings share (ports, durations), so that
//! `PORT` and `REDIS_PORT`, or `STORE_TIMEOUT` and `TICK_INTERVAL`, accept the same text and
//! describe it the same way when it is wrong.

use std::time::Duration;

use super::error::ConfigError;

/// A port from `min` to 65535: `PORT` allows 0 (a free port), `REDIS_PORT` does not.
pub(super) fn parse_port(
    variable: &'static str,
    value: &str,
    min: u16,
) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port >= min)
        .ok_or_else(|| {
            ConfigError::invalid(
                variable,
                value,
                &format!("a port number from {min} to 65535"),
            )
        })
}

/// A human duration above zero (`2s`, `500ms`): zero would time out every store call, or
/// make `tally tick` spin.
pub(super) fn parse_duration(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim())
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| {
            ConfigError::invalid(
                variable,
                value,
                "a duration above zero such as 2s, 500ms or 1m",
            )
        })
}
