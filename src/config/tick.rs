//! [`TickConfig`]: the settings only `tally tick` reads (`TICK_INTERVAL`, `TICK_COUNTER`).
//!
//! They are checked apart from [`super::Config`] because they belong to one subcommand: a
//! `TICK_INTERVAL` left in a shared `.env` must not stop `tally serve`.

use std::time::Duration;

use super::{error::ConfigError, parse::parse_duration};
use crate::{cli::TickArgs, store::CounterName};

pub const DEFAULT_TICK_INTERVAL: Duration = Duration::from_secs(2);
pub use crate::store::DEFAULT_TICK_COUNTER;

/// What `tally tick` needs.
#[derive(Debug, Clone)]
pub struct TickConfig {
    pub interval: Duration,
    pub counter: CounterName,
}

impl TickConfig {
    pub fn from_args(args: &TickArgs) -> Result<TickConfig, ConfigError> {
        let interval = match non_empty(&args.interval) {
            None => DEFAULT_TICK_INTERVAL,
            Some(value) => parse_duration("TICK_INTERVAL", value)?,
        };
        let counter = CounterName::parse(non_empty(&args.counter).unwrap_or(DEFAULT_TICK_COUNTER))
            .map_err(|err| ConfigError::new("TICK_COUNTER", err.to_string()))?;
        Ok(TickConfig { interval, counter })
    }
}

/// An empty value counts as unset.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_settings_are_checked() {
        let ok = TickConfig::from_args(&TickArgs::default()).expect("defaults are valid");
        assert_eq!(ok.interval, Duration::from_secs(2));
        assert_eq!(ok.counter.to_string(), "default/tick_count");
        let bad = TickConfig::from_args(&TickArgs {
            interval: Some("fast".into()),
            counter: None,
        });
        assert_eq!(bad.expect_err("invalid").variable, "TICK_INTERVAL");
        let bad = TickConfig::from_args(&TickArgs {
            interval: None,
            counter: Some("a b".into()),
        });
        assert_eq!(bad.expect_err("invalid").variable, "TICK_COUNTER");
    }
}
