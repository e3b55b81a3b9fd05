//! Counter names.
//!
//! A name is used verbatim as a Redis key and as a primary key in SQL, so it is checked once,
//! here, instead of in every backend: 1 to 128 characters from `A-Z a-z 0-9 _ - . :`. That
//! keeps names printable, unambiguous in URLs (for the JSON API) and free of whitespace.

use std::fmt;

use super::StoreError;

/// The counter behind `/count`. In Redis its key is exactly this, so a Redis that the Flask
/// tutorial filled keeps its count.
pub const DEFAULT_COUNTER: &str = "visitor_count";

/// The longest accepted name, in bytes (all accepted characters are ASCII).
pub const MAX_NAME_LEN: usize = 128;

/// A validated counter name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterName(String);

impl CounterName {
    pub fn parse(name: &str) -> Result<CounterName, StoreError> {
        if name.is_empty() {
            return Err(StoreError::invalid_input(
                "a counter name must not be empty",
            ));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(StoreError::invalid_input(format!(
                "a counter name has at most {MAX_NAME_LEN} characters, got {}",
                name.len()
            )));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
        {
            return Err(StoreError::invalid_input(format!(
                "a counter name may only contain A-Z, a-z, 0-9, '_', '-', '.' and ':', found {bad:?}"
            )));
        }
        Ok(CounterName(name.to_owned()))
    }

    /// The counter behind `/count`.
    pub fn default_counter() -> CounterName {
        CounterName(DEFAULT_COUNTER.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CounterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreErrorKind;

    #[test]
    fn accepts_the_default_and_usual_names() {
        for name in [
            DEFAULT_COUNTER,
            "a",
            "page:home",
            "blog.post-1",
            &"x".repeat(128),
        ] {
            let parsed = CounterName::parse(name).expect(name);
            assert_eq!(parsed.as_str(), name);
        }
    }

    #[test]
    fn rejects_empty_long_and_odd_names_as_invalid_input() {
        for name in [
            "",
            &"x".repeat(129),
            "has space",
            "tab\t",
            "ünïcode",
            "a/b",
            "new\nline",
        ] {
            let err = CounterName::parse(name).expect_err(name);
            assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "{name}");
        }
    }
}
