//! Logging setup: `RUST_LOG` filters, `LOG_FORMAT` picks human-readable or JSON lines.
//!
//! Logs go to stderr so that stdout stays clean for what commands print on purpose
//! (`tally tick`'s `Counter: N` lines, `tally healthcheck`'s verdict).
//!
//! Lines are written by a thread of their own ([`crate::log_writer`]): a request never waits
//! on a slow terminal, pipe or log collector. The buffer between the two is bounded; when it is
//! full, a line is dropped rather than a request held, and the drop is counted: `/metrics`
//! shows `log_lines_dropped_total`. The buffer is flushed when [`LogGuard`] is dropped, at the
//! end of `main`.

use std::{io::IsTerminal, sync::OnceLock};

use tracing_subscriber::{EnvFilter, fmt, fmt::MakeWriter};

use crate::{
    config::{LogConfig, LogFormat},
    log_format::RequestLines,
    log_time::UtcMicros,
    log_writer::{self, FlushGuard, LogWriter},
};

/// The installed writer, for its count of dropped lines; set by [`init`].
static WRITER: OnceLock<LogWriter> = OnceLock::new();

/// Flushes the log buffer when dropped; keep it alive for as long as the process logs.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    /// Held only for its `Drop`, which flushes what the writer thread still has.
    _flush: Option<FlushGuard>,
}

/// Installs the global subscriber. A second call (tests start many apps) is a no-op and
/// returns an empty guard.
pub fn init(log: &LogConfig) -> LogGuard {
    match LogWriter::spawn(std::io::stderr(), log_writer::LIMIT) {
        Ok((writer, guard)) => {
            if !install(log, writer.clone(), Some(writer.clone())) {
                return LogGuard { _flush: None };
            }
            let _first = WRITER.set(writer);
            LogGuard {
                _flush: Some(guard),
            }
        }
        Err(err) => {
            // No thread to spare: log straight to stderr rather than not at all.
            eprintln!(
                "tally: cannot start the log writer thread ({err}); logging to stderr directly"
            );
            let _installed = install(log, std::io::stderr, None);
            LogGuard { _flush: None }
        }
    }
}

/// Installs the subscriber writing to `writer`, which is `direct` when it is a [`LogWriter`]
/// (the request line can then skip the event); false when one was installed before.
fn install<W>(log: &LogConfig, writer: W, direct: Option<LogWriter>) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // The filter was validated with the rest of the configuration.
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: escape codes in a log file or `docker logs` are noise.
    let ansi = std::io::stderr().is_terminal();
    let builder = fmt()
        .with_timer(UtcMicros)
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let installed = match log.format {
        // Without colours, into the log writer: the request line is written there straight
        // away, in the same text (see `log_format`).
        LogFormat::Pretty => match direct {
            Some(direct) if !ansi => builder
                .event_format(RequestLines::writing_to(direct))
                .try_init(),
            _ => builder.try_init(),
        },
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    installed.is_ok()
}

/// Log lines dropped so far because the writer fell behind.
pub fn dropped_lines() -> u64 {
    WRITER.get().map_or(0, LogWriter::dropped_lines)
}
