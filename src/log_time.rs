//! The timestamp of every log line, written the way tracing-subscriber writes it
//! (`2026-12-01T21:25:17.200822Z`, UTC, microseconds), but without formatting the whole date
//! for every line.
//!
//! tracing-subscriber's own timer turns the time into a calendar date and formats its eight
//! fields through `core::fmt` on every event; with one request line per request, that showed up
//! in profiles. Here each thread keeps the text up to the second (`2026-12-01T21:25:17.`) and
//! rebuilds it only when the second changes; a line adds six digits and a `Z`.

use std::{
    cell::RefCell,
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

/// The timer given to the subscriber.
#[derive(Clone, Copy, Debug, Default)]
pub struct UtcMicros;

/// One thread's text of the current second.
#[derive(Default)]
struct Second {
    at: Option<i64>,
    text: String,
}

thread_local! {
    static SECOND: RefCell<Second> = RefCell::new(Second::default());
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write_now(w)
    }
}

/// Writes the time now as a line's stamp (what [`UtcMicros`] gives the subscriber, for a line
/// written without it: [`crate::log_format`]'s request line).
pub fn write_now(w: &mut impl fmt::Write) -> fmt::Result {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        write_time(&mut second, seconds, since.subsec_micros(), w)
    })
}

fn write_time(
    second: &mut Second,
    seconds: i64,
    micros: u32,
    w: &mut impl fmt::Write,
) -> fmt::Result {
    if second.at != Some(seconds) {
        second.text.clear();
        match jiff::Timestamp::from_second(seconds) {
            Ok(time) => {
                use fmt::Write as _;
                write!(second.text, "{}.", time.strftime("%Y-%m-%dT%H:%M:%S"))?;
            }
            // Past the year 9999: say so rather than fail the line.
            Err(_) => second.text.push_str("out-of-range."),
        }
        second.at = Some(seconds);
    }
    w.write_str(&second.text)?;
    let mut digits = [b'0'; 6];
    let mut rest = micros.min(999_999);
    for digit in digits.iter_mut().rev() {
        // A digit is below 10, so the cast cannot truncate.
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)?;
    w.write_char('Z')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(second: &mut Second, micros_since_epoch: i64) -> String {
        let mut out = String::new();
        let seconds = micros_since_epoch.div_euclid(1_000_000);
        let micros = u32::try_from(micros_since_epoch.rem_euclid(1_000_000)).expect("in range");
        write_time(second, seconds, micros, &mut out).expect("formats");
        out
    }

    #[test]
    fn the_same_text_as_a_full_formatting_across_seconds_days_and_years() {
        let mut second = Second::default();
        for micros in [
            0,
            1,
            999_999,
            1_000_000,
            1_764_624_317_200_822,
            1_764_624_317_999_999,
            1_764_624_318_000_007,
            1_767_225_599_999_999,
            1_767_225_600_000_000,
            4_102_444_800_123_456,
        ] {
            let expected = jiff::Timestamp::from_microsecond(micros)
                .expect("in range")
                .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
                .to_string();
            assert_eq!(formatted(&mut second, micros), expected, "{micros}");
        }
    }

    #[test]
    fn the_timer_writes_a_line_stamp_of_now() {
        let mut out = String::new();
        UtcMicros
            .format_time(&mut Writer::new(&mut out))
            .expect("formats");
        let parsed: jiff::Timestamp = out.parse().expect("RFC 3339");
        let now = jiff::Timestamp::now();
        assert!((now - parsed).as_secs().abs() < 5, "{out}");
        assert_eq!(out.len(), "2026-12-01T21:25:17.200822Z".len(), "{out}");
    }
}
