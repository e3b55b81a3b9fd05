//! Abacus's own routes: `/create/{namespace}/{key}` (`GET` or `POST`), which hands out an
//! admin key, and the `POST` routes that need it: `set`, `reset`, `update`, `delete`.
//!
//! The admin key is a tally owner token, made and stored exactly as `/api/v1`'s `create` does
//! it (32 random bytes shown once; only their SHA-256 is kept), so a counter made here can be
//! changed through `/api/v1` with it, and the reverse. It is read from `Authorization: Bearer`
//! or, as Abacus allowed, `?token=` (the request line that tally logs is the path alone, so a
//! token in the query reaches no log either). The instance's `ADMIN_TOKEN` is accepted too. A
//! missing token is 401, before anything is looked up; a wrong one is 403, once the counter
//! is found (a missing counter is 404). The texts are Abacus's.
//!
//! A counter made here gets the rules of a counter made by its first hit (`/update` by 0 or 1
//! only, no `/set`): CountAPI's routes need no token, so those rules are what anyone without
//! the admin key may do to it, and that is counting.

use std::sync::Arc;

use axum::{
    Extension,
    extract::State,
    http::{HeaderMap, Method, StatusCode},
    response::Response,
};
use serde_json::json;

use super::{
    countapi::key_not_found,
    named::{Abacus, Named},
    reply::{Answer, Failure, Outcome, Params, Reply, ok},
    stats::Stats,
};
use crate::{
    store::{AddOutcome, CounterName, CounterRecord, NewCounter, TokenHash, UpdateRules},
    web::{
        AppState,
        api::{bearer, new_token},
    },
};

/// What CountAPI's token-less routes may do to a counter made by Abacus's `/create`.
const CREATED_RULES: UpdateRules = UpdateRules::HIT_CREATED;

const TOKEN_REQUIRED: &str = "Token is required, please provide a token in the format of a Bearer token header or ?token=ADMIN_TOKEN";
const TOKEN_INVALID: &str = "token is invalid";
const GENUINE: &str = "This entry is genuine and does not have an admin key: only the instance's ADMIN_TOKEN may change it. Counters created with /create get an admin key.";
const VALUE_REQUIRED: &str =
    "value is required, please provide a number in the fmt of ?value=NEW_VALUE";

/// `GET` or `POST /create/{namespace}/{key}?initializer=N`: 201 `{"namespace", "key",
/// "value", "admin_key"}`; 409 when the counter exists.
pub async fn create(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    method: Method,
    Named { name, params, .. }: Named<Abacus>,
) -> Response {
    let reply = if method == Method::GET {
        Reply::jsonp(&params)
    } else {
        Reply::json()
    };
    reply
        .never_cached()
        .run(name, move |name| async move {
            let value = match params.integer("initializer") {
                Ok(value) => value.unwrap_or(0),
                Err(()) => return Err(Failure::bad_request("initializer must be a number")),
            };
            if value < 0 {
                return Err(Failure::bad_request(format!(
                    "initializer must be a number from 0 to {}",
                    i64::MAX
                )));
            }
            let (token, owner) = new_token().map_err(Failure::App)?;
            let counter = NewCounter {
                value,
                owner: Some(owner),
                rules: CREATED_RULES,
            };
            if !state.store.create(&name, &counter).await? {
                return Err(Failure::error(
                    StatusCode::CONFLICT,
                    "Key already exists, please use a different key.",
                ));
            }
            stats.created();
            Ok(Answer::Json(
                StatusCode::CREATED,
                json!({
                    "namespace": name.namespace().as_str(),
                    "key": name.key().as_str(),
                    "value": value,
                    "admin_key": token,
                }),
            ))
        })
        .await
}

/// `POST /set/{namespace}/{key}?value=N` with the admin key: 200 `{"value": N}`.
pub async fn set(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    request: Named<Abacus>,
) -> Response {
    with_admin_key(state, request, new_value, async |state, record, value| {
        set_to(state, &stats, &record, value).await
    })
    .await
}

/// `POST /reset/{namespace}/{key}` with the admin key: 200 `{"value": 0}`.
pub async fn reset(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    request: Named<Abacus>,
) -> Response {
    with_admin_key(state, request, nothing, async |state, record, ()| {
        set_to(state, &stats, &record, 0).await
    })
    .await
}

/// `POST /update/{namespace}/{key}?value=N` with the admin key: adds N (not 0; negative
/// subtracts), 200 `{"value": <new>}`; 409 when the result would leave 0 ..= i64::MAX.
pub async fn update(
    State(state): State<AppState>,
    Extension(stats): Extension<Arc<Stats>>,
    request: Named<Abacus>,
) -> Response {
    with_admin_key(
        state,
        request,
        amount,
        async |state, record, amount| match state.store.add(&record.name, amount).await? {
            AddOutcome::Added(value) => {
                stats.updated();
                ok(json!({ "value": value }))
            }
            AddOutcome::OutOfRange { current } => Err(Failure::error(
                StatusCode::CONFLICT,
                format!(
                    "changing the value by {amount} would leave 0 to {}; it stays at {current}",
                    i64::MAX
                ),
            )),
            AddOutcome::Missing => Err(key_not_found()),
        },
    )
    .await
}

/// `POST /delete/{namespace}/{key}` with the admin key: 200 `{"status": "ok", "message":
/// "Deleted key: namespace/key"}`.
pub async fn delete(State(state): State<AppState>, request: Named<Abacus>) -> Response {
    with_admin_key(state, request, nothing, async |state, record, ()| {
        if !state.store.delete(&record.name).await? {
            return Err(key_not_found());
        }
        let name = &record.name;
        ok(json!({ "status": "ok", "message": format!("Deleted key: {name}") }))
    })
    .await
}

/// How every admin-key route runs, in Abacus's order: a missing token is 401 before anything
/// else is read, then `read` takes the route's input from the query (400), then the counter
/// must exist (404) and the token be its admin key or the instance's (403); `work` then
/// changes the counter.
async fn with_admin_key<T>(
    state: AppState,
    request: Named<Abacus>,
    read: impl FnOnce(&Params) -> Result<T, Failure>,
    work: impl AsyncFnOnce(&AppState, CounterRecord, T) -> Outcome,
) -> Response {
    let Named {
        name,
        params,
        headers,
        ..
    } = request;
    Reply::json()
        .run(name, move |name| async move {
            let token = presented(&headers, &params)?;
            let input = read(&params)?;
            let record = owned(&state, &name, &token).await?;
            work(&state, record, input).await
        })
        .await
}

/// `set`'s `?value=`: a value a counter holds.
fn new_value(params: &Params) -> Result<i64, Failure> {
    match params.integer("value") {
        Ok(Some(value)) if value >= 0 => Ok(value),
        Ok(Some(_)) => Err(Failure::bad_request(format!(
            "value must be a number from 0 to {}",
            i64::MAX
        ))),
        Ok(None) => Err(Failure::bad_request(VALUE_REQUIRED)),
        Err(()) => Err(Failure::bad_request("value must be a number")),
    }
}

/// `update`'s `?value=`: an amount other than 0.
fn amount(params: &Params) -> Result<i64, Failure> {
    match params.integer("value") {
        Ok(Some(0)) => Err(Failure::bad_request(
            "changing value by 0 does nothing, please provide a non-zero value in the fmt of ?value=NEW_VALUE",
        )),
        Ok(Some(amount)) => Ok(amount),
        Ok(None) => Err(Failure::bad_request(VALUE_REQUIRED)),
        Err(()) => Err(Failure::bad_request(
            "value must be a number, this means no floats.",
        )),
    }
}

/// The input of the routes that read none from the query (`reset`, `delete`).
fn nothing(_: &Params) -> Result<(), Failure> {
    Ok(())
}

/// Sets `record`'s counter to `value` (what `set` and `reset` do once the token is checked):
/// 200 `{"value": value}`.
async fn set_to(state: &AppState, stats: &Stats, record: &CounterRecord, value: i64) -> Outcome {
    state
        .store
        .set(&record.name, value)
        .await?
        .ok_or_else(key_not_found)?;
    stats.updated();
    ok(json!({ "value": value }))
}

/// The hash of the token the request presents: `Authorization: Bearer`, else `?token=`.
fn presented(headers: &HeaderMap, params: &Params) -> Result<TokenHash, Failure> {
    bearer(headers)
        .or_else(|| params.get("token").filter(|token| !token.is_empty()))
        .map(TokenHash::of)
        .ok_or_else(|| Failure::error(StatusCode::UNAUTHORIZED, TOKEN_REQUIRED))
}

/// The counter, once `token` has been checked against its owner's and the instance admin's.
async fn owned(
    state: &AppState,
    name: &CounterName,
    token: &TokenHash,
) -> Result<CounterRecord, Failure> {
    let record = state.store.info(name).await?.ok_or_else(key_not_found)?;
    let is_owner = record
        .owner
        .as_ref()
        .is_some_and(|owner| owner.matches(token));
    let is_admin = state
        .admin
        .as_ref()
        .is_some_and(|admin| admin.matches(token));
    if is_owner || is_admin {
        return Ok(record);
    }
    let reason = if record.owner.is_some() {
        TOKEN_INVALID
    } else {
        GENUINE
    };
    Err(Failure::error(StatusCode::FORBIDDEN, reason))
}
