//! Log settings (`RUST_LOG`, `LOG_FORMAT`), checked here with the rest so that a bad filter
//! stops tally with exit code 2 instead of being half-applied by [`crate::telemetry`].

use super::error::ConfigError;
use crate::cli::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

pub(super) fn parse_log(settings: &Settings) -> Result<LogConfig, ConfigError> {
    let filter = settings.log.clone().unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|_| {
        ConfigError::invalid(
            "RUST_LOG",
            &filter,
            "a tracing filter such as info, debug or tally=debug,sqlx=warn",
        )
    })?;
    let format = match settings.log_format.as_deref().map(str::trim) {
        None => LogFormat::Pretty,
        Some(format) if format.eq_ignore_ascii_case("pretty") => LogFormat::Pretty,
        Some(format) if format.eq_ignore_ascii_case("json") => LogFormat::Json,
        Some(other) => return Err(ConfigError::invalid("LOG_FORMAT", other, "pretty or json")),
    };
    Ok(LogConfig { filter, format })
}

#[cfg(test)]
mod tests {
    use crate::config::{rejected, settings};

    #[test]
    fn bad_rust_log_is_rejected() {
        let mut s = settings();
        s.log = Some("info,=[".into());
        assert_eq!(rejected(&s).variable, "RUST_LOG");
    }
}
