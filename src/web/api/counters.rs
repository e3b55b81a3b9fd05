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
use serde_json::json;

use super::{
    auth::{new_token, require_admin, require_owner},
    body::{JsonBody, counter_path, json_or_jsonp, query},
    no_cache,
};
use crate::{
    store::{AddOutcome, CounterName, CounterRecord, Name, NewCounter, UpdateRules},
    web::{AppError, AppState},
};

type CounterPath = Result<Path<(String, String)>, PathRejection>;

/// The body of `create`: the first value, 0 when left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    value: i64,
}

/// The body of `set`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    value: Option<i64>,
}

/// The body of `add`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    amount: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonpQuery {
    pub callback: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<String>,
    callback: Option<String>,
}

/// Page sizes of a listing.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// RFC 3339 in UTC with milliseconds.
pub fn timestamp(millis: i64) -> String {
    let since_epoch = Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    humantime::format_rfc3339_millis(UNIX_EPOCH + since_epoch).to_string()
}

fn info_body(record: &CounterRecord) -> serde_json::Value {
    json!({
        "namespace": record.name.namespace().as_str(),
        "key": record.name.key().as_str(),
        "value": record.value,
        "created_at": timestamp(record.created_at),
        "updated_at": timestamp(record.updated_at),
    })
}

/// `POST /api/v1/counters/{namespace}/{key}`: 201 with the owner token, shown this once.
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
        rules: UpdateRules::CREATED,
    };
    if !state.store.create(&name, &counter).await? {
        return Err(AppError::AlreadyExists(name));
    }
    let location = format!("/api/v1/counters/{}/{}", name.namespace(), name.key());
    let body = json!({
        "namespace": name.namespace().as_str(),
        "key": name.key().as_str(),
        "value": body.value,
        "admin_token": token,
    });
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/v1/counters/{namespace}/{key}`.
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
    json_or_jsonp(params.callback.as_deref(), info_body(&record))
}

/// `POST /api/v1/counters/{namespace}/{key}/hit`: +1, creating the counter at 0 first.
pub async fn hit(State(state): State<AppState>, path: CounterPath) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    let value = state.store.increment(&name, 1).await?;
    Ok(no_cache(Json(json!({ "value": value })).into_response()))
}

/// The counter, after checking that the request may change it.
async fn owned(
    state: &AppState,
    headers: &HeaderMap,
    name: CounterName,
) -> Result<CounterRecord, AppError> {
    let record = state
        .store
        .info(&name)
        .await?
        .ok_or(AppError::CounterNotFound(name))?;
    require_owner(headers, state.admin.as_ref(), &record)?;
    Ok(record)
}

/// `PUT /api/v1/counters/{namespace}/{key}` with `{"value": N}` and the owner's token.
pub async fn set(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: CounterPath,
    JsonBody(body): JsonBody<SetBody>,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
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
    Ok(Json(json!({ "value": value, "old_value": old })).into_response())
}

/// `POST /api/v1/counters/{namespace}/{key}/add` with `{"amount": ±N}` and the owner's token.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: CounterPath,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    let amount = body.amount.filter(|amount| *amount != 0).ok_or_else(|| {
        AppError::BadRequest("the body needs {\"amount\": N} with N not 0".to_owned())
    })?;
    let record = owned(&state, &headers, name).await?;
    match state.store.add(&record.name, amount).await? {
        AddOutcome::Added(value) => Ok(Json(json!({ "value": value })).into_response()),
        AddOutcome::OutOfRange { current } => Err(AppError::Conflict(format!(
            "adding {amount} to {} would leave 0 to {}; it stays at {current}",
            record.name,
            i64::MAX
        ))),
        AddOutcome::Missing => Err(AppError::CounterNotFound(record.name)),
    }
}

/// `DELETE /api/v1/counters/{namespace}/{key}` with the owner's token: 204.
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

/// `GET /api/v1/counters/{namespace}?cursor=&limit=` with the admin token: one page, by key.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Path(namespace) = path.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
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
    require_admin(&headers, state.admin.as_ref())?;
    let page = state.store.list(&namespace, cursor.as_ref(), limit).await?;
    let next_cursor = (page.len() == limit)
        .then(|| page.last().map(|last| last.key.as_str().to_owned()))
        .flatten();
    let counters: Vec<_> = page
        .iter()
        .map(|counter| {
            json!({
                "namespace": namespace.as_str(),
                "key": counter.key.as_str(),
                "value": counter.value,
            })
        })
        .collect();
    json_or_jsonp(
        params.callback.as_deref(),
        json!({ "counters": counters, "next_cursor": next_cursor }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
