//! [`ConfigError`]: the one line tally prints before exiting with code 2.
//!
//! Every check in this module ends in this type so that each mistake reads the same way:
//! the variable, what was given, what is accepted. The flag is not named: the variable is
//! what people set in `.env` and compose files.

use std::fmt;

/// A setting that was given but cannot be used. Displayed as one line for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable (the flag is its lower-case, dashed twin).
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            variable,
            message: message.into(),
        }
    }

    pub(super) fn invalid(variable: &'static str, given: &str, accepted: &str) -> Self {
        ConfigError::new(
            variable,
            format!("{given:?} is not valid; accepted: {accepted}"),
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}
