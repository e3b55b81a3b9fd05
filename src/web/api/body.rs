//! Reading requests the counting API's way: every mistake is a JSON error that says what was
//! wrong (axum's own rejections are plain text), bodies are JSON of at most [`BODY_LIMIT`]
//! bytes, and an empty body means "all defaults".
//!
//! Also JSONP for the JSON `GET` routes (`?callback=name`), for pages that still load counts
//! with a `<script>` tag, as CountAPI's and Abacus's users did.

use axum::{
    Json,
    body::Bytes,
    extract::{
        FromRequest, Path, Query, Request, rejection::PathRejection, rejection::QueryRejection,
    },
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;

use super::super::AppError;
use crate::store::CounterName;

/// The largest body the counting API reads (the import has its own, streamed limit).
pub const BODY_LIMIT: usize = 16 * 1024;

/// A JSON body, or `T::default()` for an empty one.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let mime = value.split(';').next().unwrap_or_default().trim();
                mime.eq_ignore_ascii_case("application/json")
            });
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge { limit: BODY_LIMIT }
                } else {
                    AppError::BadRequest(format!("cannot read the request body: {rejection}"))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(T::default()));
        }
        if !is_json {
            return Err(AppError::UnsupportedMediaType);
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| AppError::BadRequest(format!("the JSON body is not valid: {err}")))
    }
}

/// The query string as `T`, or a 400 that says which parameter was wrong.
pub fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, AppError> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| AppError::BadRequest(rejection.body_text()))
}

/// The counter named by a `/{namespace}/{key}` path, or a 400 naming the part that is wrong.
pub fn counter_path(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<CounterName, AppError> {
    let Path((namespace, key)) =
        path.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    Ok(CounterName::parts(&namespace, &key)?)
}

/// JSONP callback names: a JavaScript identifier path, nothing that could close the call.
pub const CALLBACK_PATTERN: &str = r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$";

/// True when `name` matches [`CALLBACK_PATTERN`].
pub fn valid_callback(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
}

/// `body` as JSON, or as `callback(body);` (`application/javascript`) when a callback is given.
pub fn json_or_jsonp(
    callback: Option<&str>,
    body: serde_json::Value,
) -> Result<Response, AppError> {
    let Some(callback) = callback else {
        return Ok(Json(body).into_response());
    };
    if !valid_callback(callback) {
        return Err(AppError::BadRequest(format!(
            "callback must match {CALLBACK_PATTERN}, got {callback:?}"
        )));
    }
    let mut response = format!("{callback}({body});").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_identifier_paths_only() {
        for good in ["cb", "_x", "$", "jQuery123_456", "a.b.c", &"a".repeat(64)] {
            assert!(valid_callback(good), "{good}");
        }
        for bad in [
            "",
            "1a",
            "a b",
            "a(b)",
            "alert();x",
            "a-b",
            "a</script>",
            &"a".repeat(65),
        ] {
            assert!(!valid_callback(bad), "{bad}");
        }
    }
}
