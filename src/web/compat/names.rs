//! The counter a compatible route names: the namespace (`default` when the path has none) and
//! the key, reserved words replaced ([`super::placeholders`]), checked against tally's name
//! rule, which is CountAPI's and Abacus's.
//!
//! An invalid name is a 400 with the text of the service whose route it is: CountAPI's
//! `Malformed Namespace/Key` on the routes CountAPI had (`hit`, `get`, `info`, its `set`,
//! `update` and `create`), Abacus's detailed texts on the routes only Abacus had.

use std::collections::HashMap;

use axum::extract::{Path, rejection::PathRejection};
use axum::http::HeaderMap;

use super::{placeholders::expand, reply::Failure};
use crate::store::{
    CounterName, DEFAULT_NAMESPACE, MAX_NAME_LEN, MIN_NAME_LEN, NAME_PATTERN, is_name_char,
};

/// The path parameters `namespace` (optional) and `key`.
pub type RawPath = Result<Path<HashMap<String, String>>, PathRejection>;

/// Whose route it is, for the text of a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    CountApi,
    Abacus,
}

/// CountAPI's answer to a name it cannot use.
pub const MALFORMED: &str = "Malformed Namespace/Key";

/// The counter the path names.
pub fn from_path(
    path: RawPath,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<CounterName, Failure> {
    let Path(params) = path.map_err(|rejection| match dialect {
        Dialect::CountApi => Failure::bad_request(MALFORMED),
        Dialect::Abacus => Failure::bad_request(rejection.body_text()),
    })?;
    let namespace = params
        .get("namespace")
        .map_or(DEFAULT_NAMESPACE, String::as_str);
    let key = params.get("key").map_or("", String::as_str);
    from_parts(namespace, key, headers, dialect)
}

/// The counter `namespace` and `key` name, as given in a path or a query.
pub fn from_parts(
    namespace: &str,
    key: &str,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<CounterName, Failure> {
    let namespace = expand(namespace, headers);
    let key = expand(key, headers);
    if dialect == Dialect::Abacus {
        abacus_check("namespace", &namespace)?;
        abacus_check("key", &key)?;
    }
    CounterName::parts(&namespace, &key).map_err(|err| match dialect {
        Dialect::CountApi => Failure::bad_request(MALFORMED),
        Dialect::Abacus => Failure::bad_request(err.to_string()),
    })
}

/// Abacus's two checks, in its order and with its texts.
fn abacus_check(what: &str, name: &str) -> Result<(), Failure> {
    if !(MIN_NAME_LEN..=MAX_NAME_LEN).contains(&name.len()) {
        return Err(Failure::bad_request(format!(
            "Invalid {what}: length must be between {MIN_NAME_LEN} and {MAX_NAME_LEN} characters inclusive"
        )));
    }
    if !name.chars().all(is_name_char) {
        return Err(Failure::bad_request(format!(
            "Invalid {what}: must match the pattern {NAME_PATTERN}"
        )));
    }
    Ok(())
}
