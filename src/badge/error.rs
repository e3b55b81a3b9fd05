//! [`BadgeQueryError`]: one badge parameter that cannot be used.
//!
//! Like the configuration errors, each message names the parameter, what was given and what
//! is accepted, so the web layer can pass it on unchanged in its `400 invalid_query` body.

use std::fmt;

/// The longest part of a rejected value repeated in a message, in characters: enough to
/// recognise it, short enough that a huge query does not come back in the error.
const SHOWN_CHARS: usize = 40;

/// A badge query parameter that was given but is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeQueryError {
    /// The query parameter, e.g. `color`.
    pub parameter: &'static str,
    pub message: String,
}

impl BadgeQueryError {
    pub(super) fn new(parameter: &'static str, message: impl Into<String>) -> Self {
        BadgeQueryError {
            parameter,
            message: message.into(),
        }
    }

    pub(super) fn invalid(parameter: &'static str, given: &str, accepted: &str) -> Self {
        BadgeQueryError::new(
            parameter,
            format!("{} is not valid; accepted: {accepted}", shown(given)),
        )
    }
}

impl fmt::Display for BadgeQueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.parameter, self.message)
    }
}

impl std::error::Error for BadgeQueryError {}

/// `value` quoted, with control characters escaped and cut after [`SHOWN_CHARS`].
fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quote_the_value_and_cut_long_ones() {
        let error = BadgeQueryError::invalid("style", "plastic", "flat");
        assert_eq!(
            error.to_string(),
            r#"invalid style: "plastic" is not valid; accepted: flat"#
        );
        let long = "é".repeat(100);
        let message = BadgeQueryError::invalid("color", &long, "x").message;
        assert!(message.starts_with(&format!("{:?}…", "é".repeat(SHOWN_CHARS))));
    }
}
