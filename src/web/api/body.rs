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
use serde::{Deserialize, de::DeserializeOwned};
use utoipa::IntoParams;

use super::super::AppError;
use crate::store::CounterName;

/// The largest body the counting API reads (the import has its own, streamed limit).
pub const BODY_LIMIT: usize = 16 * 1024;

/// A JSON body, or `T::default()` for an empty one or `null`.
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
        // `null` is the JSON way of saying "no body": the defaults, as for an empty one.
        serde_json::from_slice::<Option<T>>(&bytes)
            .map(|body| JsonBody(body.unwrap_or_default()))
            .map_err(|err| AppError::BadRequest(format!("the JSON body is not valid: {err}")))
    }
}

/// The query string as `T`, or a 400 that says which parameter was wrong.
pub fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, AppError> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| AppError::BadRequest(rejection.body_text()))
}

/// A counter in a path: the extractor, and what the OpenAPI document declares.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CounterParams {
    /// 3 to 64 characters from `A-Z a-z 0-9 _ - .`
    #[param(pattern = "^[A-Za-z0-9_.-]{3,64}$", min_length = 3, max_length = 64)]
    pub namespace: String,
    /// 3 to 64 characters from `A-Z a-z 0-9 _ - .`
    #[param(pattern = "^[A-Za-z0-9_.-]{3,64}$", min_length = 3, max_length = 64)]
    pub key: String,
}

/// A namespace in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct NamespaceParams {
    /// 3 to 64 characters from `A-Z a-z 0-9 _ - .`
    #[param(pattern = "^[A-Za-z0-9_.-]{3,64}$", min_length = 3, max_length = 64)]
    pub namespace: String,
}

/// A counter path as a handler receives it.
pub type CounterPath = Result<Path<CounterParams>, PathRejection>;

/// The counter named by a `/{namespace}/{key}` path, or a 400 naming the part that is wrong.
pub fn counter_path(path: CounterPath) -> Result<CounterName, AppError> {
    let Path(CounterParams { namespace, key }) =
        path.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    Ok(CounterName::parts(&namespace, &key)?)
}

/// Reads an `i64` that JSON wrote as an integer or as a number with no fraction (`5.0`): JSON
/// Schema, and so the OpenAPI document, calls both integers, and some clients (JavaScript's
/// `JSON.stringify` of a computed value, Python's floats) send the second.
pub fn integral<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(value) = number.as_i64() {
        return Ok(value);
    }
    // Every f64 at or past 2^63 in size is out of range; below it, a whole f64 is exact.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match number.as_f64() {
        Some(value) if value.fract() == 0.0 && value > -LIMIT && value < LIMIT =>
        {
            #[allow(clippy::cast_possible_truncation)]
            Ok(value as i64)
        }
        _ => Err(D::Error::custom(format!(
            "{number} is not a whole number from {} to {}",
            i64::MIN,
            i64::MAX
        ))),
    }
}

/// [`integral`] for an optional field.
pub fn integral_option<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "integral")] i64);
    Option::<Whole>::deserialize(deserializer).map(|whole| whole.map(|Whole(value)| value))
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
pub fn json_or_jsonp<T: serde::Serialize>(
    callback: Option<&str>,
    body: &T,
) -> Result<Response, AppError> {
    let Some(callback) = callback else {
        return Ok(Json(body).into_response());
    };
    if !valid_callback(callback) {
        return Err(AppError::BadRequest(format!(
            "callback must match {CALLBACK_PATTERN}, got {callback:?}"
        )));
    }
    let body = serde_json::to_string(body)
        .map_err(|err| AppError::Internal(format!("cannot write JSON: {err}").into()))?;
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

    #[derive(Debug, Deserialize)]
    struct Amount {
        #[serde(deserialize_with = "integral")]
        amount: i64,
    }

    #[test]
    fn whole_numbers_are_read_as_integers_and_fractions_are_refused() {
        let read = |json: &str| serde_json::from_str::<Amount>(json).map(|a| a.amount);
        assert_eq!(read(r#"{"amount": 5}"#).expect("int"), 5);
        assert_eq!(read(r#"{"amount": -1148.0}"#).expect("whole float"), -1148);
        assert_eq!(read(r#"{"amount": 1e3}"#).expect("exponent"), 1000);
        assert_eq!(
            read(r#"{"amount": 9223372036854775807}"#).expect("max"),
            i64::MAX
        );
        for bad in [
            r#"{"amount": 1.5}"#,
            r#"{"amount": 9223372036854775808}"#,
            r#"{"amount": 9.3e18}"#,
            r#"{"amount": "5"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

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
