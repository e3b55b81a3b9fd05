//! `IMPORT_LIMIT`: the largest body `POST /api/v1/import` reads (README, "Export and import").
//!
//! The import is streamed line by line into the store, so the limit is not about memory: it
//! is how much an admin's import may write in one request, a guard against a runaway upload
//! (a wrong file, a pipe that never ends). Given as a byte size, decimal (`10MB`) or binary
//! (`512MiB`), or a plain number of bytes; zero is refused, since it would refuse every import.

use super::error::ConfigError;
use crate::cli::Settings;

/// The limit when `IMPORT_LIMIT` is unset: 1 GiB, some ten million exported counters.
pub const DEFAULT_IMPORT_LIMIT: u64 = 1 << 30;

const IMPORT_LIMIT_ACCEPTED: &str = "a size above zero such as 1GiB, 512MiB, 10MB or 1024 (bytes; kB, MB, GB, TB are powers of 1000, KiB, MiB, GiB, TiB of 1024)";

/// `IMPORT_LIMIT`, in bytes.
pub(super) fn parse_import_limit(settings: &Settings) -> Result<u64, ConfigError> {
    let Some(value) = settings
        .import_limit
        .as_deref()
        .filter(|value| !value.trim().is_empty())
    else {
        return Ok(DEFAULT_IMPORT_LIMIT);
    };
    parse_size(value)
        .filter(|size| *size > 0)
        .ok_or_else(|| ConfigError::invalid("IMPORT_LIMIT", value, IMPORT_LIMIT_ACCEPTED))
}

/// `1024`, `10MB`, `512MiB`, `1 GiB` (units case-insensitive, `B` optional after a number);
/// `None` for anything else or a size past `u64`.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(value: &str) -> Result<u64, ConfigError> {
        parse_import_limit(&Settings {
            import_limit: Some(value.to_owned()),
            ..Settings::default()
        })
    }

    #[test]
    fn sizes_are_bytes_decimal_or_binary_units() {
        assert_eq!(
            parse_import_limit(&Settings::default()).expect("default"),
            1 << 30
        );
        assert_eq!(limit(" ").expect("empty is unset"), DEFAULT_IMPORT_LIMIT);
        for (text, bytes) in [
            ("1024", 1024),
            ("1GiB", 1 << 30),
            ("512MiB", 512 << 20),
            ("10MB", 10_000_000),
            ("10mb", 10_000_000),
            ("64 KiB", 64 << 10),
            ("2kB", 2000),
            ("7B", 7),
            ("1TiB", 1 << 40),
        ] {
            assert_eq!(limit(text).expect(text), bytes, "{text}");
        }
    }

    #[test]
    fn zero_garbage_and_overflow_are_refused_naming_the_variable() {
        for bad in [
            "0",
            "0MiB",
            "lots",
            "MiB",
            "-1",
            "1.5GiB",
            "10 XB",
            "99999999999TiB",
        ] {
            let err = limit(bad).expect_err(bad);
            assert_eq!(err.variable, "IMPORT_LIMIT");
            assert!(err.to_string().contains("512MiB"), "{err}");
        }
    }
}
