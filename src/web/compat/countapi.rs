//! CountAPI's routes, all `GET`: `hit`, `get`, `set`, `update`, `create`, `info`, `stats`,
//! with the namespace optional (`default`) wherever a path names a counter.
//!
//! CountAPI had no owners: each counter carries its own rules, set at `/create`
//! ([`UpdateRules`]): `/set` works only on a counter created with `enable_reset=1`, and
//! `/update` only by amounts within its bounds; both refuse with 403 and the value as it
//! stays. A counter created by its first hit may only be counted (`/update` by 0 or 1), as
//! CountAPI had it. `hit`, `get` and `info` are also Abacus's routes: `hit` answers the same in
//! both, `get`'s 404 and `info` carry the fields of both (see the README's "Compatible routes").

use std::sync::Arc;

use axum::{
    Extension,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    named::{CountApi, Named},
    names::{self, Dialect},
    reply::{Failure, Params, Reply, ok, refuse},
    stats::Stats,
};
use crate::{
    store::{AddOutcome, CounterName, CounterRecord, DEFAULT_NAMESPACE, NewCounter, UpdateRules},
    web::{AppState, HitVisitor},
};

/// What `ttl` and `expires_in` say: tally never expires a counter. `-1` is what Redis's `TTL`
/// answers for a key without expiry, the convention both services' stores followed.
pub const NEVER_EXPIRES: i64 = -1;

/// Abacus's answer to a counter that does not exist, also given by the shared `/get`.
pub const KEY_NOT_FOUND: &str = "Key not found";

/// The 404 `{"error": "Key not found"}` of the routes that answer Abacus's bodies.
pub fn key_not_found() -> Failure {
    Failure::error(StatusCode::NOT_FOUND, KEY_NOT_FOUND)
}

/// `/create`'s defaults for the bounds of `/update`, CountAPI's.
const DEFAULT_RULES: UpdateRules = UpdateRules::CREATED;

/// `GET /hit/{namespace}/{key}` and `/hit/{key}`: +1, creating the counter at 0 first.
pub async fn hit(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    visitor: HitVisitor,
    Named { name, params, .. }: Named<CountApi>,
) -> Response {
    Reply::jsonp(&params)
        .never_cached()
        .run(name, move |name| async move {
            let value = state
                .store
                .increment_from(&name, 1, visitor.as_ref())
                .await?;
            stats.updated();
            ok(json!({ "value": value }))
        })
        .await
}

/// `GET /get/{namespace}/{key}` and `/get/{key}`: the value; 404 `{"value": null, "error":
/// "Key not found"}` (CountAPI's body and Abacus's in one) when there is no such counter.
pub async fn get(
    State(state): State<AppState>,
    Named { name, params, .. }: Named<CountApi>,
) -> Response {
    Reply::jsonp(&params)
        .run(name, move |name| async move {
            match state.store.info(&name).await? {
                Some(record) => ok(json!({ "value": record.value })),
                None => refuse(
                    StatusCode::NOT_FOUND,
                    json!({ "value": null, "error": KEY_NOT_FOUND }),
                ),
            }
        })
        .await
}

/// `GET /set/{namespace}/{key}?value=N` and `/set/{key}`: only on a counter created with
/// `enable_reset=1`; 200 `{"old_value", "value"}`, else 403 with the value as it stays.
pub async fn set(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    Named { name, params, .. }: Named<CountApi>,
) -> Response {
    Reply::jsonp(&params)
        .never_cached()
        .run(name, move |name| async move {
            let value = match params.integer("value") {
                Ok(Some(value)) if value >= 0 => value,
                Ok(None) => return Err(Failure::bad_request("value is required")),
                _ => return Err(value_range("value")),
            };
            let missing = json!({ "old_value": null, "value": null });
            let Some(record) = state.store.info(&name).await? else {
                return refuse(StatusCode::NOT_FOUND, missing);
            };
            if !record.rules.enable_reset {
                let current = record.value;
                return refuse(
                    StatusCode::FORBIDDEN,
                    json!({ "old_value": current, "value": current }),
                );
            }
            match state.store.set(&name, value).await? {
                Some(old) => {
                    stats.updated();
                    ok(json!({ "old_value": old, "value": value }))
                }
                None => refuse(StatusCode::NOT_FOUND, missing),
            }
        })
        .await
}

/// `GET /update/{namespace}/{key}?amount=A` and `/update/{key}`: adds `A` (negative
/// subtracts) when it lies within the counter's bounds; 403 with the value as it stays when
/// not, or when the result would leave 0 ..= i64::MAX.
pub async fn update(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    Named { name, params, .. }: Named<CountApi>,
) -> Response {
    Reply::jsonp(&params)
        .never_cached()
        .run(name, move |name| async move {
            let amount = match params.integer("amount") {
                Ok(Some(amount)) => amount,
                Ok(None) => return Err(Failure::bad_request("amount is required")),
                Err(()) => return Err(Failure::bad_request("amount must be an integer")),
            };
            let missing = json!({ "value": null });
            let Some(record) = state.store.info(&name).await? else {
                return refuse(StatusCode::NOT_FOUND, missing);
            };
            let rules = record.rules;
            if amount < rules.lower_bound || amount > rules.upper_bound {
                return refuse(StatusCode::FORBIDDEN, json!({ "value": record.value }));
            }
            if amount == 0 {
                return ok(json!({ "value": record.value }));
            }
            match state.store.add(&name, amount).await? {
                AddOutcome::Added(value) => {
                    stats.updated();
                    ok(json!({ "value": value }))
                }
                AddOutcome::OutOfRange { current } => {
                    refuse(StatusCode::FORBIDDEN, json!({ "value": current }))
                }
                AddOutcome::Missing => refuse(StatusCode::NOT_FOUND, missing),
            }
        })
        .await
}

/// `GET /create?namespace=&key=&value=&enable_reset=&update_lowerbound=&update_upperbound=`:
/// every parameter optional (namespace `default`, key a random UUID v4, value 0, no reset,
/// bounds -1 and 1); 200 `{"namespace", "key", "value"}`, 409 with nulls when it exists.
pub async fn create(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = Params::parse(raw.as_deref());
    let given = |name| params.get(name).filter(|value| !value.is_empty());
    let namespace = given("namespace").unwrap_or(DEFAULT_NAMESPACE);
    let key = given("key").map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    let name = names::from_parts(namespace, &key, &headers, Dialect::CountApi);
    Reply::jsonp(&params)
        .never_cached()
        .run(name, move |name| async move {
            let counter = new_counter(&params)?;
            if !state.store.create(&name, &counter).await? {
                return refuse(
                    StatusCode::CONFLICT,
                    json!({ "namespace": null, "key": null, "value": null }),
                );
            }
            stats.created();
            ok(json!({
                "namespace": name.namespace().as_str(),
                "key": name.key().as_str(),
                "value": counter.value,
            }))
        })
        .await
}

/// The counter `/create`'s parameters describe.
fn new_counter(params: &Params) -> Result<NewCounter, Failure> {
    let value = match params.integer("value") {
        Ok(None) => 0,
        Ok(Some(value)) if value >= 0 => value,
        _ => return Err(value_range("value")),
    };
    let enable_reset = match params.get("enable_reset") {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true") => true,
        Some(_) => return Err(Failure::bad_request("enable_reset must be 0 or 1")),
    };
    let bound = |name, default| {
        params
            .integer(name)
            .map(|bound| bound.unwrap_or(default))
            .map_err(|()| Failure::bad_request(format!("{name} must be an integer")))
    };
    let lower_bound = bound("update_lowerbound", DEFAULT_RULES.lower_bound)?;
    let upper_bound = bound("update_upperbound", DEFAULT_RULES.upper_bound)?;
    if upper_bound < 0 {
        return Err(Failure::bad_request("update_upperbound must be positive"));
    }
    if lower_bound > 0 {
        return Err(Failure::bad_request("update_lowerbound must be negative"));
    }
    Ok(NewCounter {
        value,
        owner: None,
        rules: UpdateRules {
            enable_reset,
            lower_bound,
            upper_bound,
        },
    })
}

/// `GET /info/{namespace}/{key}` and `/info/{key}`: CountAPI's fields and Abacus's in one
/// body; 404 with CountAPI's nulls and Abacus's `"exists": false` when there is no counter.
pub async fn info(
    State(state): State<AppState>,
    Named { name, params, .. }: Named<CountApi>,
) -> Response {
    Reply::jsonp(&params)
        .run(name, move |name| async move {
            match state.store.info(&name).await? {
                Some(record) => ok(info_body(&record)),
                None => refuse(StatusCode::NOT_FOUND, missing_info_body(&name)),
            }
        })
        .await
}

fn info_body(record: &CounterRecord) -> Value {
    json!({
        // CountAPI's fields.
        "namespace": record.name.namespace().as_str(),
        "key": record.name.key().as_str(),
        "value": record.value,
        "ttl": NEVER_EXPIRES,
        "created": record.created_at,
        "enable_reset": record.rules.enable_reset,
        "update_lowerbound": record.rules.lower_bound,
        "update_upperbound": record.rules.upper_bound,
        // Abacus's.
        "full_key": record.name.to_string(),
        "is_genuine": record.owner.is_none(),
        "expires_in": NEVER_EXPIRES,
        "expires_str": "never",
        "exists": true,
    })
}

fn missing_info_body(name: &CounterName) -> Value {
    json!({
        "namespace": null,
        "key": null,
        "value": null,
        "ttl": null,
        "created": null,
        "enable_reset": null,
        "update_lowerbound": null,
        "update_upperbound": null,
        "full_key": name.to_string(),
        "is_genuine": null,
        "expires_in": null,
        "expires_str": null,
        "exists": false,
    })
}

/// `GET /stats`: what this process counted on the compatible routes (see [`Stats`]).
pub async fn stats(Extension(stats): Extension<Arc<Stats>>, RawQuery(raw): RawQuery) -> Response {
    Reply::jsonp(&Params::parse(raw.as_deref())).answer(ok(stats.body()))
}

/// The 400 for a value outside what a counter holds.
fn value_range(parameter: &str) -> Failure {
    Failure::bad_request(format!(
        "{parameter} must be an integer from 0 to {}",
        i64::MAX
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `/create` makes of a query: the counter, or the status of the refusal.
    fn outcome_of(query: &str) -> Result<NewCounter, u16> {
        new_counter(&Params::parse(Some(query))).map_err(|failure| match failure {
            Failure::Json(status, _) => status.as_u16(),
            Failure::App(_) => 500,
        })
    }

    #[test]
    fn create_defaults_are_countapis() {
        let counter = outcome_of("").expect("defaults");
        assert_eq!(counter.value, 0);
        assert_eq!(counter.owner, None);
        assert_eq!(counter.rules, UpdateRules::CREATED);
        let counter =
            outcome_of("value=5&enable_reset=true&update_lowerbound=0&update_upperbound=0")
                .expect("valid");
        assert_eq!(counter.value, 5);
        assert!(counter.rules.enable_reset);
        assert_eq!(
            (counter.rules.lower_bound, counter.rules.upper_bound),
            (0, 0)
        );
    }

    #[test]
    fn create_refuses_what_a_counter_cannot_hold() {
        for query in [
            "value=-1",
            "value=x",
            "value=1.5",
            "enable_reset=yes",
            "update_lowerbound=1",
            "update_upperbound=-1",
            "update_lowerbound=a",
        ] {
            assert_eq!(outcome_of(query).err(), Some(400), "{query}");
        }
    }
}
