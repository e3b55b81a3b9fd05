//! One counter as a line of an export or an import (README, "Export and import"): everything
//! stored about it, as JSON, so that an export imported elsewhere gives the same counters,
//! times, owners and rules.
//!
//! Times are the API's RFC 3339 strings in UTC with milliseconds; the owner is the lowercase
//! hex of the token's SHA-256 (what is stored), never a token. An import may leave out
//! everything but the name and the value: a missing time is the time of the import, a missing
//! owner none, a missing rule that of a counter created by a hit. Unknown fields are refused,
//! so that a misspelt `owner_hash` cannot silently drop an owner.

use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::schema::Info;
use crate::store::{CounterName, CounterRecord, TokenHash, UpdateRules};

/// A line of an export, in the documented field order: the counter as `GET` shows it
/// ([`Info`], its first five fields), then its owner and rules.
#[derive(Debug, Serialize)]
pub struct ExportedCounter {
    #[serde(flatten)]
    info: Info,
    owner_hash: Option<String>,
    enable_reset: bool,
    update_lowerbound: i64,
    update_upperbound: i64,
}

impl ExportedCounter {
    pub fn of(record: &CounterRecord) -> ExportedCounter {
        ExportedCounter {
            info: Info::of(record),
            owner_hash: record.owner.as_ref().map(hex),
            enable_reset: record.rules.enable_reset,
            update_lowerbound: record.rules.lower_bound,
            update_upperbound: record.rules.upper_bound,
        }
    }
}

/// A line of an import, or an item of the JSON array form, before its checks.
/// One counter of an import. The OpenAPI document declares the three required fields (the
/// others are described in its text: the times' and hashes' rules are not JSON Schema's).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedCounter {
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    namespace: String,
    #[schema(pattern = "^[A-Za-z0-9_.-]{3,64}$")]
    key: String,
    #[serde(deserialize_with = "super::body::integral")]
    #[schema(minimum = 0)]
    value: i64,
    #[schema(ignore)]
    created_at: Option<String>,
    #[schema(ignore)]
    updated_at: Option<String>,
    #[schema(ignore)]
    owner_hash: Option<String>,
    #[schema(ignore)]
    enable_reset: Option<bool>,
    #[schema(ignore)]
    update_lowerbound: Option<i64>,
    #[schema(ignore)]
    update_upperbound: Option<i64>,
}

impl ImportedCounter {
    /// The record to restore, with `now` (milliseconds) for missing times; the error says
    /// which field is wrong and how.
    pub fn into_record(self, now: i64) -> Result<CounterRecord, String> {
        let name = CounterName::parts(&self.namespace, &self.key).map_err(|err| err.to_string())?;
        if self.value < 0 {
            return Err(format!("value is 0 to {}, got {}", i64::MAX, self.value));
        }
        let time = |field: &str, given: Option<String>| {
            match given {
            None => Ok(now),
            Some(text) => millis(&text).ok_or_else(|| {
                format!(
                    "{field} must be an RFC 3339 time in UTC from 1970 on, such as 2024-05-01T12:00:00.000Z, got {text:?}"
                )
            }),
        }
        };
        let created_at = time("created_at", self.created_at)?;
        let updated_at = time("updated_at", self.updated_at)?;
        let owner = self
            .owner_hash
            .map(|text| {
                token_hash(&text).ok_or_else(|| {
                    format!("owner_hash must be 64 hex digits (a SHA-256) or null, got {text:?}")
                })
            })
            .transpose()?;
        let hit = UpdateRules::HIT_CREATED;
        let rules = UpdateRules {
            enable_reset: self.enable_reset.unwrap_or(hit.enable_reset),
            lower_bound: self.update_lowerbound.unwrap_or(hit.lower_bound),
            upper_bound: self.update_upperbound.unwrap_or(hit.upper_bound),
        };
        if rules.lower_bound > 0 || rules.upper_bound < 0 {
            return Err(format!(
                "update_lowerbound must be at most 0 and update_upperbound at least 0, got {} and {}",
                rules.lower_bound, rules.upper_bound
            ));
        }
        Ok(CounterRecord {
            name,
            value: self.value,
            created_at,
            updated_at,
            owner,
            rules,
        })
    }
}

/// The counter on line `number` of an NDJSON import, `None` for a blank line, or what is
/// wrong with it, prefixed with the line number.
pub fn parse_import_line(
    number: u64,
    line: &[u8],
    now: i64,
) -> Result<Option<CounterRecord>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let bad = |message: String| format!("line {number}: {message}");
    let counter: ImportedCounter = serde_json::from_slice(line).map_err(|err| {
        // serde_json says "at line 1 column N": within this line, so the column is what helps.
        let text = err.to_string();
        let position = format!(" at line {} column {}", err.line(), err.column());
        bad(match text.strip_suffix(&position) {
            Some(message) => format!("{message} (column {})", err.column()),
            None => text,
        })
    })?;
    counter.into_record(now).map(Some).map_err(bad)
}

/// Lowercase hex.
fn hex(hash: &TokenHash) -> String {
    hash.0.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// 64 hex digits, either case.
fn token_hash(text: &str) -> Option<TokenHash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(TokenHash(hash))
}

/// Milliseconds since the epoch of an RFC 3339 time in UTC (`Z`); finer digits are dropped.
fn millis(text: &str) -> Option<i64> {
    let time = humantime::parse_rfc3339(text).ok()?;
    let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imported(json: &str) -> Result<CounterRecord, String> {
        serde_json::from_str::<ImportedCounter>(json)
            .map_err(|err| err.to_string())?
            .into_record(1_700_000_000_000)
    }

    #[test]
    fn an_exported_line_imports_as_the_same_record() {
        let record = CounterRecord {
            name: CounterName::parts("site", "home").expect("name"),
            value: 42,
            created_at: 1_600_000_000_123,
            updated_at: 1_650_000_000_456,
            owner: Some(TokenHash::of("a token")),
            rules: UpdateRules::CREATED,
        };
        let line = serde_json::to_string(&ExportedCounter::of(&record)).expect("JSON");
        assert_eq!(
            line,
            format!(
                r#"{{"namespace":"site","key":"home","value":42,"created_at":"2020-09-13T12:26:40.123Z","updated_at":"2022-04-15T05:20:00.456Z","owner_hash":"{}","enable_reset":false,"update_lowerbound":-1,"update_upperbound":1}}"#,
                hex(&TokenHash::of("a token"))
            )
        );
        assert_eq!(imported(&line), Ok(record));
    }

    #[test]
    fn missing_fields_are_now_no_owner_and_the_hit_rules() {
        let record = imported(r#"{"namespace":"site","key":"home","value":3}"#).expect("valid");
        assert_eq!(record.value, 3);
        assert_eq!(record.created_at, 1_700_000_000_000);
        assert_eq!(record.updated_at, 1_700_000_000_000);
        assert_eq!(record.owner, None);
        assert_eq!(record.rules, UpdateRules::HIT_CREATED);
    }

    #[test]
    fn owner_hashes_are_64_hex_digits_of_either_case() {
        let hash = TokenHash::of("t");
        let upper = hex(&hash).to_ascii_uppercase();
        let line =
            format!(r#"{{"namespace":"site","key":"home","value":0,"owner_hash":"{upper}"}}"#);
        assert_eq!(imported(&line).expect("valid").owner, Some(hash));
        let null = r#"{"namespace":"site","key":"home","value":0,"owner_hash":null}"#;
        assert_eq!(imported(null).expect("valid").owner, None);
    }

    #[test]
    fn each_wrong_field_is_named() {
        for (line, named) in [
            (r#"{"namespace":"s","key":"home","value":1}"#, "namespace"),
            (r#"{"namespace":"site","key":"a/b","value":1}"#, "key"),
            (r#"{"namespace":"site","key":"home","value":-1}"#, "value"),
            (r#"{"namespace":"site","key":"home"}"#, "value"),
            (
                r#"{"namespace":"site","key":"home","value":"1"}"#,
                "invalid type",
            ),
            (
                r#"{"namespace":"site","key":"home","value":1,"created_at":"yesterday"}"#,
                "created_at",
            ),
            (
                r#"{"namespace":"site","key":"home","value":1,"updated_at":"2024-05-01T12:00:00+02:00"}"#,
                "updated_at",
            ),
            (
                r#"{"namespace":"site","key":"home","value":1,"owner_hash":"abc"}"#,
                "owner_hash",
            ),
            (
                r#"{"namespace":"site","key":"home","value":1,"update_lowerbound":1}"#,
                "update_lowerbound",
            ),
            (
                r#"{"namespace":"site","key":"home","value":1,"owner":"x"}"#,
                "unknown field `owner`",
            ),
        ] {
            let err = imported(line).expect_err(line);
            assert!(err.contains(named), "{line}: {err}");
        }
    }
}
