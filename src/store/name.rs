//! Counter names: a namespace and a key.
//!
//! Each part is 3 to 64 characters from `A-Z a-z 0-9 _ - .`, the rule of CountAPI and Abacus, so
//! their users' names carry over. Names are used verbatim in Redis keys and SQL rows, so they are
//! checked once, here, instead of in every backend; none of them can contain `/`, which keeps
//! `namespace/key` unambiguous.
//!
//! The namespace `default` is used where a route omits it. `/count`'s counter is
//! `default/visitor_count`, and in Redis a counter of the default namespace is stored under its
//! bare key, so the `visitor_count` that the Flask + Redis tutorial filled keeps counting.

use std::fmt;

use super::StoreError;

/// The namespace used where none is given.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The key of the counter behind `/count`, in the default namespace.
pub const DEFAULT_COUNTER: &str = "visitor_count";

/// The key `tally tick` counts by default, in the default namespace.
pub const DEFAULT_TICK_COUNTER: &str = "tick_count";

/// The shortest and longest namespace or key.
pub const MIN_NAME_LEN: usize = 3;
pub const MAX_NAME_LEN: usize = 64;

/// The rule as a regular expression, for documents (the OpenAPI `pattern`) and messages.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{3,64}$";

/// A validated namespace or key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// Checks `name`; `what` ("namespace", "key") names the part in the error.
    pub fn parse(what: &str, name: &str) -> Result<Name, StoreError> {
        if !(MIN_NAME_LEN..=MAX_NAME_LEN).contains(&name.len()) {
            return Err(StoreError::invalid_input(format!(
                "a {what} has {MIN_NAME_LEN} to {MAX_NAME_LEN} characters, got {}",
                name.chars().count()
            )));
        }
        if let Some(bad) = name.chars().find(|c| !is_name_char(*c)) {
            return Err(StoreError::invalid_input(format!(
                "a {what} may only contain A-Z, a-z, 0-9, '_', '-' and '.', found {bad:?}"
            )));
        }
        Ok(Name(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True for the characters a namespace or key may hold.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated counter name: namespace and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterName {
    namespace: Name,
    key: Name,
}

impl CounterName {
    pub fn new(namespace: Name, key: Name) -> CounterName {
        CounterName { namespace, key }
    }

    /// `key` (in the default namespace) or `namespace/key`.
    pub fn parse(name: &str) -> Result<CounterName, StoreError> {
        match name.split_once('/') {
            Some((namespace, key)) => CounterName::parts(namespace, key),
            None => CounterName::parts(DEFAULT_NAMESPACE, name),
        }
    }

    /// From a namespace and a key given separately (as in a URL path).
    pub fn parts(namespace: &str, key: &str) -> Result<CounterName, StoreError> {
        Ok(CounterName {
            namespace: Name::parse("namespace", namespace)?,
            key: Name::parse("key", key)?,
        })
    }

    /// The counter behind `/count`: `default/visitor_count`.
    pub fn default_counter() -> CounterName {
        CounterName {
            namespace: Name(DEFAULT_NAMESPACE.to_owned()),
            key: Name(DEFAULT_COUNTER.to_owned()),
        }
    }

    /// Sorts before every counter of `namespace`: where a listing of it starts.
    pub(super) fn before_all_of(namespace: &Name) -> CounterName {
        CounterName {
            namespace: namespace.clone(),
            key: Name(String::new()),
        }
    }

    /// tally's own counters (`/count`'s `default/visitor_count` and `tally tick`'s default
    /// `default/tick_count`): they exist from their first count on and are nobody's to
    /// create, so no one can own them and set or lower them.
    pub fn is_reserved(&self) -> bool {
        self.namespace.as_str() == DEFAULT_NAMESPACE
            && matches!(self.key.as_str(), DEFAULT_COUNTER | DEFAULT_TICK_COUNTER)
    }

    pub fn namespace(&self) -> &Name {
        &self.namespace
    }

    pub fn key(&self) -> &Name {
        &self.key
    }

    /// The string a key-value store keeps the value under: the bare key in the default
    /// namespace (so `visitor_count` stays `visitor_count` in Redis), `namespace/key` otherwise.
    /// Unambiguous, since neither part can contain `/`.
    pub fn storage_key(&self) -> String {
        if self.namespace.as_str() == DEFAULT_NAMESPACE {
            self.key.0.clone()
        } else {
            format!("{}/{}", self.namespace, self.key)
        }
    }
}

impl fmt::Display for CounterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.key)
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
            "abc",
            "blog.post-1",
            "site.example/home",
            &"x".repeat(64),
            &format!("{}/{}", "n".repeat(64), "k".repeat(64)),
        ] {
            CounterName::parse(name).expect(name);
        }
        let home = CounterName::parse("site.example/home").expect("valid");
        assert_eq!(home.namespace().as_str(), "site.example");
        assert_eq!(home.key().as_str(), "home");
        assert_eq!(home.storage_key(), "site.example/home");
        assert_eq!(home.to_string(), "site.example/home");
    }

    #[test]
    fn the_default_namespace_is_stored_under_the_bare_key() {
        let default = CounterName::default_counter();
        assert_eq!(default.to_string(), "default/visitor_count");
        assert_eq!(default.storage_key(), "visitor_count");
        assert_eq!(CounterName::parse("visitor_count").expect("valid"), default);
        assert_eq!(
            CounterName::parse("default/visitor_count").expect("valid"),
            default
        );
    }

    #[test]
    fn rejects_short_long_and_odd_names_as_invalid_input() {
        for name in [
            "",
            "ab",
            &"x".repeat(65),
            "has space",
            "page:home",
            "tab\t",
            "ünïcode",
            "a/b/c",
            "ns/",
            "/key",
            "new\nline",
        ] {
            let err = CounterName::parse(name).expect_err(name);
            assert_eq!(err.kind(), StoreErrorKind::InvalidInput, "{name:?}");
        }
    }
}
