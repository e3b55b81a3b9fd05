//! `HEADER_TIMEOUT`, `KEEPALIVE_TIMEOUT`, `SHUTDOWN_TIMEOUT` and `MAX_CONNECTIONS`: what the
//! README's "Slow, idle and stuck clients" section promises, parsed in one place. Whether
//! `MAX_CONNECTIONS` fits the process's open-file limit is checked when the server starts
//! (`crate::server::open_files`), since that is a fact of the machine, not of the settings.

use std::time::Duration;

use super::{ConfigError, parse::parse_duration};
use crate::cli::Settings;

pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Under Docker's 10 s between SIGTERM and SIGKILL, so tally always exits by itself.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(8);
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request head must arrive within this, from the connection (first request) or from
    /// its first byte (later requests).
    pub header_timeout: Duration,
    /// A keep-alive connection idle this long between requests is closed.
    pub keepalive_timeout: Duration,
    /// How long a stop waits for requests in flight before cutting them.
    pub shutdown_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Whether `MAX_CONNECTIONS` was given: a given value is never lowered behind the user's
    /// back, the default is.
    pub max_connections_given: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_given: false,
        }
    }
}

impl ServerLimits {
    /// Validates the four settings. Pure.
    pub fn from_settings(settings: &Settings) -> Result<ServerLimits, ConfigError> {
        let duration = |variable, value: &Option<String>, default| match value.as_deref() {
            None => Ok(default),
            Some(value) => parse_duration(variable, value),
        };
        let max_connections = settings
            .max_connections
            .as_deref()
            .map(|value| {
                value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|max| *max >= 1)
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            "MAX_CONNECTIONS",
                            value,
                            "a whole number of at least 1, such as 10000",
                        )
                    })
            })
            .transpose()?;
        Ok(ServerLimits {
            header_timeout: duration(
                "HEADER_TIMEOUT",
                &settings.header_timeout,
                DEFAULT_HEADER_TIMEOUT,
            )?,
            keepalive_timeout: duration(
                "KEEPALIVE_TIMEOUT",
                &settings.keepalive_timeout,
                DEFAULT_KEEPALIVE_TIMEOUT,
            )?,
            shutdown_timeout: duration(
                "SHUTDOWN_TIMEOUT",
                &settings.shutdown_timeout,
                DEFAULT_SHUTDOWN_TIMEOUT,
            )?,
            max_connections: max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            max_connections_given: max_connections.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn defaults_apply_when_nothing_or_empty_values_are_given() {
        let limits = ServerLimits::from_settings(&Settings::default()).expect("defaults");
        assert_eq!(limits, ServerLimits::default());
        let mut empty = Settings {
            header_timeout: Some(" ".into()),
            max_connections: Some(String::new()),
            ..Settings::default()
        };
        empty.normalize(&HashSet::new());
        let limits = ServerLimits::from_settings(&empty).expect("empty is unset");
        assert_eq!(limits, ServerLimits::default());
    }

    #[test]
    fn given_values_are_used_and_marked() {
        let s = Settings {
            header_timeout: Some("500ms".into()),
            keepalive_timeout: Some("2m".into()),
            shutdown_timeout: Some("3s".into()),
            max_connections: Some(" 250 ".into()),
            ..Settings::default()
        };
        let limits = ServerLimits::from_settings(&s).expect("valid");
        assert_eq!(limits.header_timeout, Duration::from_millis(500));
        assert_eq!(limits.keepalive_timeout, Duration::from_secs(120));
        assert_eq!(limits.shutdown_timeout, Duration::from_secs(3));
        assert_eq!(limits.max_connections, 250);
        assert!(limits.max_connections_given);
    }
}
