//! `/api/v1/counters/…`: named counters with owners.
//!
//! Only `hit` creates an absent counter (and the badge and pixel, elsewhere); reading, setting,
//! adding to or deleting one that does not exist is a 404. A change is checked against the
//! counter's owner first and then applied by one atomic store call; a counter deleted and made
//! again by someone else between the two is the one case where the check saw the old owner, and
//! the store call then finds either no counter (404) or the new one.

use std::time::{Duration, UNIX_EPOCH};

use axum::{
    Json,
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    auth::{bearer, missing_token, new_token, require_admin, require_owner},
    body::{
        CounterParams, CounterPath, JsonBody, NamespaceParams, counter_path, integral,
        integral_option, json_or_jsonp, query,
    },
    no_cache,
    schema::{Created, ErrorBody, Info, Listed, Page, SetResult, Value},
};
use crate::{
    store::{AddOutcome, CounterName, CounterRecord, Name, NewCounter, TokenHash, UpdateRules},
    web::{AppError, AppState, HitVisitor},
};

/// The body of `create` (optional): the first value, 0 when left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default, deserialize_with = "integral")]
    #[schema(minimum = 0)]
    value: i64,
}

/// The body of `set`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    #[serde(default, deserialize_with = "integral_option")]
    #[schema(required = true, value_type = i64, minimum = 0)]
    value: Option<i64>,
}

/// The body of `add`: a positive or negative amount (0 changes nothing).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    #[serde(default, deserialize_with = "integral_option")]
    #[schema(required = true, value_type = i64)]
    amount: Option<i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JsonpQuery {
    /// JSONP: answer `callback(body);` as `application/javascript`.
    #[param(pattern = "^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")]
    pub callback: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The last key of the previous page; any valid name.
    #[param(pattern = "^[A-Za-z0-9_.-]{3,64}$", min_length = 3, max_length = 64)]
    cursor: Option<String>,
    /// Counters per page, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// JSONP: answer `callback(body);` as `application/javascript`.
    #[param(pattern = "^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")]
    callback: Option<String>,
}

/// Page sizes of a listing.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// RFC 3339 in UTC with milliseconds.
pub fn timestamp(millis: i64) -> String {
    // The last millisecond RFC 3339 can write (9999-12-31T23:59:59.999Z); a stored time past
    // it (a row edited by hand) is shown as that, not a panic.
    const LATEST: u64 = 253_402_300_799_999;
    let since_epoch = Duration::from_millis(u64::try_from(millis).unwrap_or(0).min(LATEST));
    humantime::format_rfc3339_millis(UNIX_EPOCH + since_epoch).to_string()
}

impl Info {
    /// `record` as `GET` shows it.
    pub fn of(record: &CounterRecord) -> Info {
        Info {
            namespace: record.name.namespace().to_string(),
            key: record.name.key().to_string(),
            value: record.value,
            created_at: timestamp(record.created_at),
            updated_at: timestamp(record.updated_at),
        }
    }
}

/// Creates a counter; the owner token in the answer is shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/counters/{namespace}/{key}",
    tag = "counters",
    params(CounterParams),
    request_body(content = Option<CreateBody>, content_type = "application/json", description = "The first value; no body or `{}` starts at 0"),
    responses(
        (status = 201, description = "Created", body = Created, headers(("Location" = String, description = "The counter's URL"))),
        (status = 400, description = "A bad name or body", body = ErrorBody),
        (status = 409, description = "The counter exists", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 429, description = "Over the rate limit", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    path: CounterPath,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    if body.value < 0 {
        return Err(AppError::BadRequest(format!(
            "value is 0 to {}, got {}",
            i64::MAX,
            body.value
        )));
    }
    let (token, owner) = new_token()?;
    let counter = NewCounter {
        value: body.value,
        owner: Some(owner),
        // Only +1 without a token: CountAPI's `/update` must not let anyone take from (or add
        // to) a counter that has an owner.
        rules: UpdateRules::HIT_CREATED,
    };
    if !state.store.create(&name, &counter).await? {
        return Err(AppError::AlreadyExists(name));
    }
    let location = format!("/api/v1/counters/{}/{}", name.namespace(), name.key());
    let body = Created {
        namespace: name.namespace().to_string(),
        key: name.key().to_string(),
        value: body.value,
        admin_token: token,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// A counter's value and times.
#[utoipa::path(
    get,
    path = "/api/v1/counters/{namespace}/{key}",
    tag = "counters",
    params(CounterParams, JsonpQuery),
    responses(
        (status = 200, description = "The counter", content(
            (Info = "application/json"),
            (String = "application/javascript"),
        )),
        (status = 400, description = "A bad name or callback", body = ErrorBody),
        (status = 404, description = "No such counter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn info(
    State(state): State<AppState>,
    path: CounterPath,
    params: Result<Query<JsonpQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    let params = query(params)?;
    let record = state
        .store
        .info(&name)
        .await?
        .ok_or(AppError::CounterNotFound(name))?;
    json_or_jsonp(params.callback.as_deref(), &Info::of(&record))
}

/// Counts one hit, creating the counter at 0 first.
#[utoipa::path(
    post,
    path = "/api/v1/counters/{namespace}/{key}/hit",
    tag = "counters",
    params(CounterParams),
    responses(
        (status = 200, description = "The new value", body = Value),
        (status = 400, description = "A bad name", body = ErrorBody),
        (status = 409, description = "The value would pass the largest count; nothing changed", body = ErrorBody),
        (status = 429, description = "Over the rate limit", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn hit(
    State(state): State<AppState>,
    visitor: HitVisitor,
    path: CounterPath,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    let value = state
        .store
        .increment_from(&name, 1, visitor.as_ref())
        .await?;
    Ok(no_cache(Json(Value { value }).into_response()))
}

/// The counter, after checking that the request may change it: no token is 401 whether or
/// not the counter exists, then a missing counter is 404, then a token that does not own it 403.
async fn owned(
    state: &AppState,
    headers: &HeaderMap,
    name: CounterName,
) -> Result<CounterRecord, AppError> {
    let Some(token) = bearer(headers) else {
        return Err(missing_token());
    };
    let Some(record) = state.store.info(&name).await? else {
        // Only the admin learns that a counter does not exist; any other token owns nothing
        // here, so it is refused like a wrong token.
        let is_admin = state
            .admin
            .as_ref()
            .is_some_and(|admin| admin.matches(&TokenHash::of(token)));
        return Err(if is_admin {
            AppError::CounterNotFound(name)
        } else {
            AppError::Forbidden(format!("the token does not own a counter {name}"))
        });
    };
    require_owner(headers, state.admin.as_ref(), &record)?;
    Ok(record)
}

/// Sets a counter's value; needs its owner's token or the admin's.
#[utoipa::path(
    put,
    path = "/api/v1/counters/{namespace}/{key}",
    tag = "counters",
    params(CounterParams),
    request_body(content = SetBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new and the old value", body = SetResult),
        (status = 400, description = "A bad name or body", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "The token does not own the counter", body = ErrorBody),
        (status = 404, description = "No such counter", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn set(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: CounterPath,
    body: Result<JsonBody<SetBody>, AppError>,
) -> Result<Response, AppError> {
    // A missing token is 401 whatever else is wrong with the request.
    if bearer(&headers).is_none() {
        return Err(missing_token());
    }
    let name = counter_path(path)?;
    let JsonBody(body) = body?;
    let value = body
        .value
        .ok_or_else(|| AppError::BadRequest("the body needs {\"value\": N}".to_owned()))?;
    if value < 0 {
        return Err(AppError::BadRequest(format!(
            "value is 0 to {}, got {value}",
            i64::MAX
        )));
    }
    let record = owned(&state, &headers, name).await?;
    let old = state
        .store
        .set(&record.name, value)
        .await?
        .ok_or(AppError::CounterNotFound(record.name))?;
    Ok(Json(SetResult {
        value,
        old_value: old,
    })
    .into_response())
}

/// Adds a positive or negative amount to a counter; needs its owner's token or the admin's.
/// A result outside 0 ..= 9223372036854775807 is refused (409) and changes nothing; an amount
/// of 0 changes nothing and answers the value.
#[utoipa::path(
    post,
    path = "/api/v1/counters/{namespace}/{key}/add",
    tag = "counters",
    params(CounterParams),
    request_body(content = AddBody, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new value", body = Value),
        (status = 400, description = "A bad name or body", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "The token does not own the counter", body = ErrorBody),
        (status = 404, description = "No such counter", body = ErrorBody),
        (status = 409, description = "The result would leave 0 to 9223372036854775807; nothing changed", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: CounterPath,
    body: Result<JsonBody<AddBody>, AppError>,
) -> Result<Response, AppError> {
    // A missing token is 401 whatever else is wrong with the request.
    if bearer(&headers).is_none() {
        return Err(missing_token());
    }
    let name = counter_path(path)?;
    let JsonBody(body) = body?;
    let amount = body
        .amount
        .ok_or_else(|| AppError::BadRequest("the body needs {\"amount\": N}".to_owned()))?;
    let record = owned(&state, &headers, name).await?;
    if amount == 0 {
        return Ok(Json(Value {
            value: record.value,
        })
        .into_response());
    }
    match state.store.add(&record.name, amount).await? {
        AddOutcome::Added(value) => Ok(Json(Value { value }).into_response()),
        AddOutcome::OutOfRange { current } => Err(AppError::Conflict(format!(
            "adding {amount} to {} would leave 0 to {}; it stays at {current}",
            record.name,
            i64::MAX
        ))),
        AddOutcome::Missing => Err(AppError::CounterNotFound(record.name)),
    }
}

/// Deletes a counter; needs its owner's token or the admin's.
#[utoipa::path(
    delete,
    path = "/api/v1/counters/{namespace}/{key}",
    tag = "counters",
    params(CounterParams),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A bad name", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "The token does not own the counter", body = ErrorBody),
        (status = 404, description = "No such counter", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: CounterPath,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    let record = owned(&state, &headers, name).await?;
    if !state.store.delete(&record.name).await? {
        return Err(AppError::CounterNotFound(record.name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One page of a namespace's counters, by key (byte order); needs the admin's token.
#[utoipa::path(
    get,
    path = "/api/v1/counters/{namespace}",
    tag = "counters",
    params(NamespaceParams, ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", content(
            (Page = "application/json"),
            (String = "application/javascript"),
        )),
        (status = 400, description = "A bad namespace, cursor, limit or callback", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<NamespaceParams>, PathRejection>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    // The admin's token first: without it, nothing else about the request is answered.
    require_admin(&headers, state.admin.as_ref())?;
    let Path(NamespaceParams { namespace }) =
        path.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    let namespace = Name::parse("namespace", &namespace)?;
    let params = query(params)?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                AppError::BadRequest(format!("limit is 1 to {MAX_LIMIT}, got {limit:?}"))
            })?,
    };
    let cursor = params
        .cursor
        .as_deref()
        .map(|cursor| Name::parse("cursor", cursor))
        .transpose()?;
    let page = state.store.list(&namespace, cursor.as_ref(), limit).await?;
    let next_cursor = (page.len() == limit)
        .then(|| page.last().map(|last| last.key.as_str().to_owned()))
        .flatten();
    let counters = page
        .iter()
        .map(|counter| Listed {
            namespace: namespace.to_string(),
            key: counter.key.to_string(),
            value: counter.value,
        })
        .collect();
    json_or_jsonp(
        params.callback.as_deref(),
        &Page {
            counters,
            next_cursor,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(timestamp(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(timestamp(-5), "1970-01-01T00:00:00.000Z");
    }
}
