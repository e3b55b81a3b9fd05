//! Logging setup: `RUST_LOG` filters, `LOG_FORMAT` picks human-readable or JSON lines.
//!
//! Logs go to stderr so that stdout stays clean for what commands print on purpose
//! (`tally tick`'s `Counter: N` lines, `tally healthcheck`'s verdict).

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. A second call (tests start many apps) is a no-op.
pub fn init(log: &LogConfig) {
    // The filter was validated with the rest of the configuration.
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: escape codes in a log file or `docker logs` are noise.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _already_set = match log.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}
