//! `MAX_STREAMS`: how many live event streams one process serves at once (README, "Live
//! counts").
//!
//! Each stream holds a connection for as long as its client stays, so the bound keeps streams
//! from taking every connection `MAX_CONNECTIONS` allows and every slot of memory; the stream
//! one past it is answered `503` at once. At least 1: a process that must serve no streams can
//! be put behind a proxy that does not route them.

use super::error::ConfigError;
use crate::{cli::Settings, live::LiveOptions};

const MAX_STREAMS_ACCEPTED: &str = "a whole number of at least 1, such as 10000";

/// `MAX_STREAMS` and the live updates' fixed timings.
pub(super) fn parse_live(settings: &Settings) -> Result<LiveOptions, ConfigError> {
    let defaults = LiveOptions::default();
    let Some(value) = settings
        .max_streams
        .as_deref()
        .filter(|value| !value.trim().is_empty())
    else {
        return Ok(defaults);
    };
    let max_streams = value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|max| *max >= 1)
        .ok_or_else(|| ConfigError::invalid("MAX_STREAMS", value, MAX_STREAMS_ACCEPTED))?;
    Ok(LiveOptions {
        max_streams,
        ..defaults
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::DEFAULT_MAX_STREAMS;

    fn max_streams(value: &str) -> Result<usize, ConfigError> {
        parse_live(&Settings {
            max_streams: Some(value.to_owned()),
            ..Settings::default()
        })
        .map(|live| live.max_streams)
    }

    #[test]
    fn max_streams_defaults_to_ten_thousand() {
        let live = parse_live(&Settings::default()).expect("default");
        assert_eq!(live.max_streams, DEFAULT_MAX_STREAMS);
        assert_eq!(DEFAULT_MAX_STREAMS, 10_000);
        assert_eq!(max_streams(" ").expect("empty is unset"), 10_000);
        assert_eq!(max_streams("1").expect("one"), 1);
        assert_eq!(max_streams(" 250 ").expect("spaces"), 250);
    }

    #[test]
    fn zero_and_garbage_are_refused_naming_the_variable() {
        for bad in ["0", "-1", "many", "1.5", "99999999999999999999999"] {
            let err = max_streams(bad).expect_err(bad);
            assert_eq!(err.variable, "MAX_STREAMS");
            assert!(err.to_string().contains("at least 1"), "{err}");
        }
    }
}
