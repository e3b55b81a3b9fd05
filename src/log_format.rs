//! The request line ([`crate::web`]'s one line per request, target `tally::request`) written
//! straight into the log writer, in exactly the text tracing-subscriber's default format gives
//! the event.
//!
//! Why: at INFO every request writes that line. As a tracing event it records its fields
//! through a `ValueSet` of `dyn Value`s, each `%` field through `core::fmt`, walks the
//! subscriber's layers, and is then formatted by the default format, which is general: it
//! looks up the span the event is in, paints level, target and every field name through
//! nu-ansi-term styles (empty ones when colours are off, still written), and formats numbers
//! through `core::fmt`. A profile of `/healthz` under load had the line at about a seventh of
//! the instructions of a request (3,000 of 22,000); written here, it is about 900. The line's
//! shape is known: a fixed target, a constant message, three text fields and two numbers.
//!
//! How: when tally logs in the human format without colours, its subscriber's format is
//! [`RequestLines`], the default format holding the [`LogWriter`] the subscriber writes to. The
//! request log checks first that the line is enabled (`RUST_LOG` filters it as it would the
//! event), then [`log_request_line`] writes its text into that writer when the current
//! subscriber is one of these and no span is entered. Otherwise it logs the event, for the
//! subscriber's format to write: inside a span (with `RUST_LOG=debug` the connection's span is
//! entered, and the default format writes it), with colours (a terminal), in JSON, or under any
//! other subscriber. Same text, same writer, same order with the other lines: the tests check
//! it against the default format.

use tracing::Subscriber;
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{Format, Full, Writer},
    },
    registry::LookupSpan,
};

use crate::{
    log_time::{self, UtcMicros},
    log_writer::LogWriter,
};

/// The target of the request line; `web::request_log` checks it under this one, so the two
/// cannot drift apart.
pub const REQUEST_TARGET: &str = "tally::request";

/// The default format without colours (the timestamp as [`UtcMicros`] writes it), for a
/// subscriber whose lines go to a [`LogWriter`]: the request line is written there straight
/// away ([`log_request_line`]).
pub struct RequestLines {
    full: Format<Full, UtcMicros>,
    direct: LogWriter,
}

impl RequestLines {
    /// The format of a subscriber writing to `writer`.
    pub fn writing_to(writer: LogWriter) -> RequestLines {
        RequestLines {
            full: Format::default().with_timer(UtcMicros).with_ansi(false),
            direct: writer,
        }
    }
}

impl<S, N> FormatEvent<S, N> for RequestLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        self.full.format_event(ctx, writer, event)
    }
}

/// The fields of the request line (`web::request_log`'s).
pub struct RequestLine<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub request_id: &'a str,
    pub status: u16,
    pub latency_us: u64,
}

thread_local! {
    /// The text of [`write_request_line`]'s line, kept from line to line.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Logs the request line: straight to the log writer where [`write_request_line`] can, as the
/// event otherwise. The caller has checked that the line is enabled.
pub fn log_request_line(line: &RequestLine<'_>) {
    if !write_request_line(line) {
        request_event(line);
    }
}

/// The request line as a tracing event.
fn request_event(line: &RequestLine<'_>) {
    tracing::info!(
        target: REQUEST_TARGET,
        method = %line.method,
        path = %line.path,
        request_id = %line.request_id,
        status = line.status,
        latency_us = line.latency_us,
        "request"
    );
}

/// Writes the request line, in the text the event would have, straight to the log writer of
/// the current subscriber, if its format is [`RequestLines`] and no span is entered; false
/// when it did not.
fn write_request_line(line: &RequestLine<'_>) -> bool {
    tracing::dispatcher::get_default(|dispatch| {
        let Some(format) = dispatch.downcast_ref::<RequestLines>() else {
            return false;
        };
        if dispatch.current_span().id().is_some() {
            return false;
        }
        LINE.with(|text| {
            let Ok(mut text) = text.try_borrow_mut() else {
                // Only a line written while this one is being written could find it taken.
                return false;
            };
            text.clear();
            format_request_line(&mut text, line);
            format.direct.append(text.as_bytes());
            // Keep a buffer of a line's size, not the longest line's.
            text.shrink_to(1024);
            true
        })
    })
}

/// The request line as the default format writes the event of [`request_event`] without
/// colours: time, level padded to five, target, the message bare, then `name=value` fields
/// (`%` ones through `Display`, unquoted).
fn format_request_line(out: &mut String, line: &RequestLine<'_>) {
    if log_time::write_now(out).is_err() {
        out.push_str("<unknown time>");
    }
    out.push_str("  INFO ");
    out.push_str(REQUEST_TARGET);
    out.push_str(": request method=");
    out.push_str(line.method);
    out.push_str(" path=");
    out.push_str(line.path);
    out.push_str(" request_id=");
    out.push_str(line.request_id);
    out.push_str(" status=");
    out.push_str(itoa::Buffer::new().format(line.status));
    out.push_str(" latency_us=");
    out.push_str(itoa::Buffer::new().format(line.latency_us));
    out.push('\n');
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what a test's subscriber writes (the request log's tests use it too).
    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub(crate) fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// A request line with every field set.
    const LINE: RequestLine<'static> = RequestLine {
        method: "PATCH",
        path: "/api/v1/counters/a/b",
        request_id: "client-chosen-id",
        status: 429,
        latency_us: 98_765,
    };

    /// Runs `log` under a subscriber writing through a [`LogWriter`] without colours, its
    /// format [`RequestLines`] (`tallys`: as tally installs it) or tracing-subscriber's
    /// default one; its lines, timestamps cut.
    fn through_log_writer(tallys: bool, log: impl FnOnce()) -> Vec<String> {
        let captured = Captured::default();
        let (writer, flush) =
            LogWriter::spawn(captured.clone(), crate::log_writer::LIMIT).expect("a thread");
        let builder = tracing_subscriber::fmt()
            .with_writer(writer.clone())
            .with_timer(UtcMicros)
            .with_ansi(false);
        if tallys {
            let subscriber = builder
                .event_format(RequestLines::writing_to(writer))
                .finish();
            tracing::subscriber::with_default(subscriber, log);
        } else {
            tracing::subscriber::with_default(builder.finish(), log);
        }
        drop(flush);
        captured
            .text()
            .lines()
            .map(|line| {
                let (time, rest) = line.split_once(' ').expect("a timestamp first");
                let parsed: Result<jiff::Timestamp, _> = time.parse();
                assert!(parsed.is_ok(), "{line}");
                assert_eq!(time.len(), "2026-12-01T21:25:17.200822Z".len(), "{line}");
                rest.to_owned()
            })
            .collect()
    }

    #[test]
    fn the_direct_line_is_the_events_text_in_order_with_the_other_lines() {
        let direct = through_log_writer(true, || {
            tracing::warn!("before");
            assert!(
                write_request_line(&LINE),
                "tally's own subscriber: written directly"
            );
            tracing::warn!("after");
        });
        let event = through_log_writer(false, || {
            tracing::warn!("before");
            request_event(&LINE);
            tracing::warn!("after");
        });
        assert_eq!(
            direct, event,
            "the direct line and the default format's event"
        );
        assert_eq!(direct.len(), 3, "{direct:?}");
        assert_eq!(
            direct[1],
            " INFO tally::request: request method=PATCH path=/api/v1/counters/a/b \
             request_id=client-chosen-id status=429 latency_us=98765"
        );
        assert!(
            direct[0].ends_with("before") && direct[2].ends_with("after"),
            "{direct:?}"
        );
    }

    /// Events of several kinds, and the request line inside a span.
    fn some_events() {
        tracing::warn!(error = %"the store is down", "a line\twith\u{1b}[31m escapes\u{85}");
        tracing::info!(
            quoted = "a \"text\"",
            negative = -7_i64,
            flag = true,
            "fields"
        );
        let span = tracing::info_span!("connection", n = 1);
        let _inside = span.enter();
        log_request_line(&LINE);
    }

    #[test]
    fn other_lines_and_the_request_line_in_a_span_are_the_default_formats() {
        let tallys = through_log_writer(true, some_events);
        assert_eq!(tallys, through_log_writer(false, some_events));
        assert_eq!(tallys.len(), 3, "{tallys:?}");
        assert!(!tallys[0].contains('\u{1b}'), "{}", tallys[0]);
        assert!(
            tallys[2].starts_with(" INFO connection{n=1}: tally::request: request method=PATCH"),
            "inside a span, the event with the span: {}",
            tallys[2]
        );
    }

    #[test]
    fn the_line_is_left_to_the_event_elsewhere() {
        // Inside a span: the default format writes the span, so the event does.
        let lines = through_log_writer(true, || {
            let span = tracing::info_span!("connection", n = 1);
            let _inside = span.enter();
            assert!(!write_request_line(&LINE));
        });
        assert!(lines.is_empty(), "{lines:?}");
        // A subscriber of another format: the default one, JSON; no subscriber at all.
        let lines = through_log_writer(false, || assert!(!write_request_line(&LINE)));
        assert!(lines.is_empty(), "{lines:?}");
        let json = tracing_subscriber::fmt()
            .json()
            .with_writer(Captured::default())
            .finish();
        tracing::subscriber::with_default(json, || assert!(!write_request_line(&LINE)));
        let none = tracing::subscriber::NoSubscriber::default();
        tracing::subscriber::with_default(none, || assert!(!write_request_line(&LINE)));
    }
}
