//! Logging setup: `RUST_LOG` filters, `LOG_FORMAT` picks human-readable or JSON lines.
//!
//! Logs go to stderr so that stdout stays clean for what commands print on purpose
//! (`tally tick`'s `Counter: N` lines, `tally healthcheck`'s verdict).
//!
//! Lines are written by a thread of their own (tracing-appender's non-blocking writer): a
//! request never waits on a slow terminal, pipe or log collector. The buffer between the two
//! is bounded ([`BUFFERED_LINES`]); when it is full, a line is dropped rather than a request
//! held, and the drop is counted: `/metrics` shows `log_lines_dropped_total`. The buffer is
//! flushed when [`LogGuard`] is dropped, at the end of `main`.

use std::{io::IsTerminal, sync::OnceLock};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogConfig, LogFormat};

/// Lines that may wait for the writer thread before new ones are dropped: a burst of a few
/// thousand requests at once is logged whole; a writer stuck for longer loses lines, not time.
pub const BUFFERED_LINES: usize = 16_384;

/// Counts the lines dropped by the installed writer; set by [`init`].
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Flushes the log buffer when dropped; keep it alive for as long as the process logs.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    /// Held only for its `Drop`, which flushes what the writer thread still has.
    _flush: Option<WorkerGuard>,
}

/// Installs the global subscriber. A second call (tests start many apps) is a no-op and
/// returns an empty guard.
pub fn init(log: &LogConfig) -> LogGuard {
    // The filter was validated with the rest of the configuration.
    let filter = EnvFilter::try_new(&log.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a terminal: escape codes in a log file or `docker logs` are noise.
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        .thread_name("tally-log-writer")
        .finish(std::io::stderr());
    let counter = writer.error_counter();
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let installed = match log.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    if installed.is_err() {
        return LogGuard { _flush: None };
    }
    let _first = DROPPED.set(counter);
    LogGuard {
        _flush: Some(guard),
    }
}

/// Log lines dropped so far because the writer fell behind.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{
            Mutex,
            mpsc::{Receiver, channel},
        },
    };

    use tracing_appender::non_blocking::NonBlockingBuilder;

    /// A writer whose first write waits until released, as a stuck pipe would.
    struct Stuck(Mutex<Option<Receiver<()>>>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let held = self.0.lock().ok().and_then(|mut held| held.take());
            if let Some(release) = held {
                let _released = release.recv();
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_writer_loses_lines_and_counts_them_instead_of_blocking_the_logger() {
        let (release, held) = channel();
        let (mut writer, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(4)
            .lossy(true)
            .finish(Stuck(Mutex::new(Some(held))));
        let counter = writer.error_counter();
        // If a full buffer blocked, this loop would never end: the writer is stuck.
        for line in 0..100 {
            writer
                .write_all(format!("line {line}\n").as_bytes())
                .expect("a lossy writer never fails");
        }
        let dropped = counter.dropped_lines();
        assert!(
            (95..=99).contains(&dropped),
            "at most the buffer (4) and the line in the writer's hands survive: {dropped} dropped"
        );
        release.send(()).expect("the writer thread waits");
        drop(guard);
    }
}
