//! The request line ([`crate::web`]'s one event per request, target `tally::request`) written
//! straight into the line, in exactly the text tracing-subscriber's default format gives it.
//!
//! Why: at INFO every request writes that line, and in a profile of `/healthz` under load the
//! default formatter was most of the line's cost. It is general: it looks up the span the
//! event is in, pads the level and paints level, target and every field name through
//! nu-ansi-term styles (empty ones when colours are off, still written), and formats every
//! field, numbers included, through `core::fmt`. The request line's shape is known: no span
//! around it at INFO, a fixed target, a constant message, three text fields and two numbers.
//!
//! So [`RequestLines`] wraps the default format and takes the short way only for that line,
//! only without colours (a terminal gets the default format, colours and all) and only outside
//! any span (with `RUST_LOG=debug` the connection's span is entered, and the default format
//! writes it); every other event goes to the default format. The text is the same either way,
//! which the tests check by formatting the same events both ways.
//!
//! Shorter still, [`write_request_line`]: with the subscriber tally installs (this format, no
//! colours, lines going to [`LogWriter`]), the request log hands its line over here without
//! making it an event at all. An event records its fields through a `ValueSet` of `dyn Value`s,
//! each `%` field through `core::fmt`, and walks the subscriber's layers; a profile of
//! `/healthz` had that at about 3,000 instructions per request of 22,000, the line's text at a
//! few hundred. The request log checks first that the line is enabled (`RUST_LOG` filters it
//! as it would the event); the line is taken the short way only when the current subscriber is
//! one made with [`RequestLines::writing_to`] and no span is entered, and is otherwise logged
//! as the event. Same text, same writer, same order with the other lines: the tests check it.

use std::fmt::{self, Write as _};

use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{Format, Full, Writer},
        time::FormatTime,
    },
    registry::LookupSpan,
};

use crate::{
    log_time::{self, UtcMicros},
    log_writer::LogWriter,
};

/// The target of the request line; `web::request_log` logs it under this one, so the two
/// cannot drift apart.
pub const REQUEST_TARGET: &str = "tally::request";

/// The default format, with the request line written the short way.
pub struct RequestLines {
    full: Format<Full, UtcMicros>,
    /// Where [`write_request_line`] writes, when the subscriber writes there too.
    direct: Option<LogWriter>,
}

impl RequestLines {
    /// The default format without colours (the timestamp as [`UtcMicros`] writes it).
    pub fn new() -> RequestLines {
        RequestLines {
            full: Format::default().with_timer(UtcMicros).with_ansi(false),
            direct: None,
        }
    }

    /// The same, for a subscriber whose lines go to `writer`: the request log's line is then
    /// written there straight away ([`write_request_line`]).
    pub fn writing_to(writer: LogWriter) -> RequestLines {
        RequestLines {
            direct: Some(writer),
            ..RequestLines::new()
        }
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
/// the current subscriber, if that is one made with [`RequestLines::writing_to`] and no span is
/// entered; false when it did not, and the caller logs the line as an event. The caller has
/// checked that the line is enabled.
fn write_request_line(line: &RequestLine<'_>) -> bool {
    tracing::dispatcher::get_default(|dispatch| {
        let Some(writer) = dispatch
            .downcast_ref::<RequestLines>()
            .and_then(|format| format.direct.as_ref())
        else {
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
            writer.append(text.as_bytes());
            // Keep a buffer of a line's size, not the longest line's.
            text.shrink_to(1024);
            true
        })
    })
}

/// The request line as the default format writes the event `web::request_log` logs.
fn format_request_line(out: &mut String, line: &RequestLine<'_>) {
    if log_time::write_now(out).is_err() {
        out.push_str("<unknown time>");
    }
    out.push(' ');
    out.push_str(level(Level::INFO));
    out.push(' ');
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

impl Default for RequestLines {
    fn default() -> Self {
        RequestLines::new()
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
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != REQUEST_TARGET
            || writer.has_ansi_escapes()
            || ctx.event_scope().is_some()
        {
            return self.full.format_event(ctx, writer, event);
        }
        #[cfg(test)]
        tests::SHORT_WAY.with(|n| n.set(n.get() + 1));
        // What the default format writes, in its order: time, level, target, fields.
        if UtcMicros.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_char(' ')?;
        writer.write_str(level(*meta.level()))?;
        writer.write_char(' ')?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = Fields {
            writer: writer.by_ref(),
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// The level as the default format writes it without colours: padded to five.
fn level(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

/// Writes the fields as the default format does: the message bare, then `name=value`, one
/// space between; text through `Debug` (quoted) and `%` values through `Display`, numbers
/// without `core::fmt`.
struct Fields<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_> {
    /// The space before a field and its `name=`; false when nothing more is to be written.
    fn begin(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        if !self.first {
            self.result = self.writer.write_char(' ');
        }
        self.first = false;
        let name = field.name();
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }

    fn number(&mut self, field: &Field, digits: &str) {
        if self.begin(field) {
            self.result = self.writer.write_str(digits);
        }
    }
}

impl tracing::field::Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.number(field, if value { "true" } else { "false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.begin(field) {
            self.result = if field.name() == "message" {
                write!(Escaping(&mut self.writer), "{value:?}")
            } else {
                write!(self.writer, "{value:?}")
            };
        }
    }
}

/// Writes a message as the default format does: the control characters a terminal could take
/// for the start of an escape sequence are written as escapes, so a message cannot recolour
/// or rewrite the terminal it is read on.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Most messages have none: one write. (0xc2 leads the UTF-8 of U+0080 to U+00BF.)
        if !text
            .bytes()
            .any(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f | 0xc2))
        {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\u{1b}' => self.0.write_str("\\x1b")?,
                '\u{07}' => self.0.write_str("\\x07")?,
                '\u{08}' => self.0.write_str("\\x08")?,
                '\u{0c}' => self.0.write_str("\\x0c")?,
                '\u{7f}' => self.0.write_str("\\x7f")?,
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    thread_local! {
        /// Lines written the short way on this thread.
        pub(super) static SHORT_WAY: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

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

    /// The events of a request's life: request lines with every kind of field, others, and a
    /// request line inside a span.
    fn log_some_events() {
        let id = "0af7651916cd43dd8448eb211c80319c";
        tracing::info!(
            target: "tally::request",
            method = %"GET",
            path = %"/count",
            request_id = %id,
            status = 200_u16,
            latency_us = 1234_u64,
            "request"
        );
        tracing::info!(
            target: "tally::request",
            method = %"POST",
            path = %"/api/v1/counters/a/b/hit",
            request_id = %"-",
            status = 503_u16,
            latency_us = 0_u64,
            "request"
        );
        tracing::info!(
            target: "tally::request",
            quoted = "a \"text\"",
            negative = -7_i64,
            flag = true,
            r#type = %"raw",
            "a line\twith\u{1b}[31m escapes\u{85}\u{7}"
        );
        tracing::warn!(error = %"the store is down", "another line");
        tracing::info!(target: "tally::request", message = "a text message\u{1b}", n = 1_u64);
        let span = tracing::info_span!("connection", n = 1);
        let _inside = span.enter();
        tracing::info!(target: "tally::request", status = 200_u16, "request");
    }

    /// What `format` makes of [`log_some_events`], the timestamps cut off.
    fn lines<E>(format: E) -> Vec<String>
    where
        E: for<'w> FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, log_some_events);
        captured
            .text()
            .lines()
            .map(|line| {
                let (time, rest) = line.split_once(' ').expect("a timestamp first");
                assert_eq!(time.len(), "2026-12-01T21:25:17.200822Z".len(), "{line}");
                rest.to_owned()
            })
            .collect()
    }

    #[test]
    fn the_short_way_writes_what_the_default_format_writes() {
        let short = lines(RequestLines::new());
        // The request lines outside the span; not the others, nor the one inside it.
        assert_eq!(SHORT_WAY.with(std::cell::Cell::get), 4);
        let default = lines(Format::default().with_timer(UtcMicros).with_ansi(false));
        assert_eq!(short, default);
        assert_eq!(short.len(), 6);
        assert_eq!(
            short[0],
            " INFO tally::request: request method=GET path=/count \
             request_id=0af7651916cd43dd8448eb211c80319c status=200 latency_us=1234"
        );
        assert!(short[2].contains("quoted=\"a \\\"text\\\"\" negative=-7 flag=true type=raw"));
        assert!(!short[2].contains('\u{1b}'), "{}", short[2]);
        assert!(
            short[4].contains("tally::request: a text message\\x1b n=1"),
            "{}",
            short[4]
        );
        assert!(short[5].contains("connection{n=1}: tally::request: request status=200"));
    }

    /// A request line with every field set.
    const LINE: RequestLine<'static> = RequestLine {
        method: "PATCH",
        path: "/api/v1/counters/a/b",
        request_id: "client-chosen-id",
        status: 429,
        latency_us: 98_765,
    };

    /// Runs `log` under a subscriber of tally's own kind (`direct`: made with
    /// [`RequestLines::writing_to`]) writing through a [`LogWriter`]; its lines, timestamps cut.
    fn through_log_writer(direct: bool, log: impl FnOnce()) -> Vec<String> {
        let captured = Captured::default();
        let (writer, flush) =
            LogWriter::spawn(captured.clone(), crate::log_writer::LIMIT).expect("a thread");
        let format = if direct {
            RequestLines::writing_to(writer.clone())
        } else {
            RequestLines::new()
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        drop(flush);
        captured
            .text()
            .lines()
            .map(|line| {
                let (time, rest) = line.split_once(' ').expect("a timestamp first");
                let parsed: Result<jiff::Timestamp, _> = time.parse();
                assert!(parsed.is_ok(), "{line}");
                rest.to_owned()
            })
            .collect()
    }

    #[test]
    fn the_direct_line_is_the_events_text_in_order_with_the_other_lines() {
        let lines = through_log_writer(true, || {
            tracing::warn!("before");
            assert!(
                write_request_line(&LINE),
                "tally's own subscriber: written directly"
            );
            request_event(&LINE);
            tracing::warn!("after");
        });
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[1], lines[2], "direct and as an event");
        assert_eq!(
            lines[1],
            " INFO tally::request: request method=PATCH path=/api/v1/counters/a/b \
             request_id=client-chosen-id status=429 latency_us=98765"
        );
        assert!(
            lines[0].ends_with("before") && lines[3].ends_with("after"),
            "{lines:?}"
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
        // A subscriber whose format does not write to a log writer of its own.
        let lines = through_log_writer(false, || assert!(!write_request_line(&LINE)));
        assert!(lines.is_empty(), "{lines:?}");
        // Another format altogether (JSON), and no subscriber at all.
        let json = tracing_subscriber::fmt()
            .json()
            .with_writer(Captured::default())
            .finish();
        tracing::subscriber::with_default(json, || assert!(!write_request_line(&LINE)));
        let none = tracing::subscriber::NoSubscriber::default();
        tracing::subscriber::with_default(none, || assert!(!write_request_line(&LINE)));
    }
}
