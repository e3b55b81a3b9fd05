//! What the store keeps about a counter, beyond its value: the types of the
//! [`super::CounterStore`] capability.
//!
//! Times are milliseconds since the Unix epoch (UTC), taken from the clock of the tally process
//! that made the change: every backend stores the same integer, and the web layer formats it.

use std::fmt;

use super::{CounterName, Name};

/// The SHA-256 of an owner's token. Tokens are 32 random bytes, so a plain hash is the right
/// tool (nothing to brute-force); the token itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The hash of `token` as the client presents it.
    pub fn of(token: &str) -> TokenHash {
        use sha2::{Digest, Sha256};
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Compares in constant time, so the time an answer takes says nothing about how much of
    /// a guessed token was right.
    pub fn matches(&self, other: &TokenHash) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    // Not a secret, but no use in logs either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(…)")
    }
}

/// CountAPI's per-counter rules for its `/set` and `/update` routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateRules {
    /// `/set` may change the value.
    pub enable_reset: bool,
    /// The smallest amount `/update` accepts (at most 0).
    pub lower_bound: i64,
    /// The largest amount `/update` accepts (at least 0).
    pub upper_bound: i64,
}

impl UpdateRules {
    /// What a counter created by its first hit gets: only ever incremented by one (CountAPI's
    /// rule for keys it created on `/hit`).
    pub const HIT_CREATED: UpdateRules = UpdateRules {
        enable_reset: false,
        lower_bound: 0,
        upper_bound: 1,
    };

    /// CountAPI's defaults for `/create`.
    pub const CREATED: UpdateRules = UpdateRules {
        enable_reset: false,
        lower_bound: -1,
        upper_bound: 1,
    };
}

/// A counter to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCounter {
    /// 0 ..= i64::MAX (the facade checks).
    pub value: i64,
    pub owner: Option<TokenHash>,
    pub rules: UpdateRules,
}

/// Everything stored about one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRecord {
    pub name: CounterName,
    pub value: i64,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Milliseconds since the epoch: the last change of the value.
    pub updated_at: i64,
    /// The owner's token hash; `None` for a counter created by its first hit.
    pub owner: Option<TokenHash>,
    pub rules: UpdateRules,
}

/// What `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The new value.
    Added(i64),
    /// The result would leave 0 ..= i64::MAX; nothing changed. The value as it is.
    OutOfRange { current: i64 },
    /// No such counter.
    Missing,
}

/// A counter's value after a change, as the live updates see it: every change an increment,
/// `create`, `set`, `add`, `restore` or `delete` made (`value` 0 once deleted, which is what
/// reading a deleted counter gives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterChange {
    pub name: CounterName,
    pub value: i64,
}

/// One entry of a namespace listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: Name,
    pub value: i64,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
