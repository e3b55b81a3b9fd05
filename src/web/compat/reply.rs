//! How the compatible routes read queries and finish answers, in one place, so every route
//! gets the same treatment:
//!
//! - **query parameters** are read loosely, as CountAPI and Abacus read them: unknown ones
//!   (cache busters, CountAPI's `expiration`) are ignored and the first of a repeated one wins;
//! - **bodies** are the dialect's own (`{"value": …}`, `{"error": text}`), not the
//!   `{"error": code, "message": …}` of tally's API, because clients of the two services read
//!   those fields. Only tally's own failures (a store that is down, an internal error, the rate
//!   limit) keep tally's body, status and `Retry-After`;
//! - **`X-Path`** (`namespace/key`) is on every answer once the counter's name is known, as
//!   CountAPI sent it (its JavaScript client returns it as `path`);
//! - **no-cache headers** on the routes that count or change (a cached answer is a visit not
//!   counted);
//! - **JSONP**: a valid `?callback=` on a JSON `GET` route wraps every answer of the route,
//!   failures included, as `callback({…, "status": 404});` with HTTP 200. CountAPI documented
//!   that "JSONP requests will never fail, they will include the HTTP code in the response": a
//!   `<script>` tag runs nothing from an answer whose status is not 2xx. An invalid callback
//!   is a plain JSON 400, checked before anything is counted.

use std::future::Future;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::super::{
    AppError,
    api::{CALLBACK_PATTERN, json_or_jsonp, no_cache, valid_callback},
    cors::X_PATH,
};
use crate::store::{CounterName, StoreError, StoreErrorKind};

/// The query parameters of a request, in order.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Reads a raw query string (none: no parameters), decoded as HTML forms encode it.
    pub fn parse(raw: Option<&str>) -> Params {
        let raw = raw.unwrap_or_default();
        Params(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, value)| value.as_str())
    }

    /// `name` as an integer: `None` when it is absent or empty, `Err(())` when it is not an
    /// integer (an optional sign and decimal digits, as CountAPI and Abacus parsed them).
    pub fn integer(&self, name: &str) -> Result<Option<i64>, ()> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|_| ()),
        }
    }
}

/// A successful answer, or one of the dialect's refusals (403 with the value, 404 with nulls).
pub enum Answer {
    Json(StatusCode, Value),
    /// An SVG badge, 200.
    Svg(String),
    /// A response made elsewhere (the event stream of `/stream`), only given `X-Path`.
    Response(Response),
}

/// Why a route did not do what was asked.
pub enum Failure {
    /// The dialect's own answer: a status and a JSON body.
    Json(StatusCode, Value),
    /// tally's own failure (the store is down, an internal error): its usual answer.
    App(AppError),
}

impl Failure {
    /// `status` with `{"error": text}`.
    pub fn error(status: StatusCode, text: impl Into<String>) -> Failure {
        Failure::Json(status, json!({ "error": text.into() }))
    }

    pub fn bad_request(text: impl Into<String>) -> Failure {
        Failure::error(StatusCode::BAD_REQUEST, text)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err.kind() {
            StoreErrorKind::InvalidInput => Failure::bad_request(err.to_string()),
            StoreErrorKind::Overflow => Failure::error(StatusCode::CONFLICT, err.to_string()),
            _ => Failure::App(err.into()),
        }
    }
}

/// What a route's work gives.
pub type Outcome = Result<Answer, Failure>;

/// 200 with `body`.
pub fn ok(body: Value) -> Outcome {
    Ok(Answer::Json(StatusCode::OK, body))
}

/// A refusal: `status` with the dialect's `body`.
pub fn refuse(status: StatusCode, body: Value) -> Outcome {
    Err(Failure::Json(status, body))
}

/// How one answer is finished: JSONP or not, `X-Path`, the cache headers.
pub struct Reply {
    callback: Option<String>,
    /// The reason a given callback cannot be used.
    bad_callback: Option<String>,
    path: Option<HeaderValue>,
    no_cache: bool,
}

impl Reply {
    /// Plain JSON: `?callback=` is not read (the `POST` routes).
    pub fn json() -> Reply {
        Reply {
            callback: None,
            bad_callback: None,
            path: None,
            no_cache: false,
        }
    }

    /// JSON, or JSONP when `params` name a callback (the JSON `GET` routes).
    pub fn jsonp(params: &Params) -> Reply {
        let mut reply = Reply::json();
        match params.get("callback") {
            None => {}
            Some(callback) if valid_callback(callback) => reply.callback = Some(callback.into()),
            Some(callback) => {
                reply.bad_callback = Some(format!(
                    "callback must match {CALLBACK_PATTERN}, got {callback:?}"
                ));
            }
        }
        reply
    }

    /// Marks the answers as never cacheable: the route counts or changes a counter, or (the
    /// shields) shows a live value that an image proxy would otherwise freeze.
    pub fn never_cached(mut self) -> Reply {
        self.no_cache = true;
        self
    }

    /// Runs `work` on the counter `name` names, unless the callback or the name is invalid,
    /// and finishes whatever comes out.
    pub async fn run<F, Fut>(mut self, name: Result<CounterName, Failure>, work: F) -> Response
    where
        F: FnOnce(CounterName) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        if let Some(reason) = self.bad_callback.take() {
            return self.finish(Err(Failure::bad_request(reason)));
        }
        let name = match name {
            Ok(name) => name,
            Err(failure) => return self.finish(Err(failure)),
        };
        self.path = HeaderValue::from_str(&name.to_string()).ok();
        let outcome = work(name).await;
        self.finish(outcome)
    }

    /// Finishes an answer that is about no counter (`/stats`).
    pub fn answer(mut self, outcome: Outcome) -> Response {
        if let Some(reason) = self.bad_callback.take() {
            return self.finish(Err(Failure::bad_request(reason)));
        }
        self.finish(outcome)
    }

    fn finish(&self, outcome: Outcome) -> Response {
        let answer = match outcome {
            Ok(answer) => answer,
            Err(Failure::Json(status, body)) => Answer::Json(status, body),
            Err(Failure::App(err)) => return self.decorate(err.into_response()),
        };
        let response = match answer {
            Answer::Svg(svg) => {
                let mut response = svg.into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("image/svg+xml; charset=utf-8"),
                );
                response
            }
            Answer::Response(response) => response,
            Answer::Json(status, mut body) => match &self.callback {
                None => (status, Json(body)).into_response(),
                Some(callback) => {
                    if let Some(fields) = body.as_object_mut() {
                        fields.insert("status".to_owned(), status.as_u16().into());
                    }
                    // The callback was checked in `jsonp`; this cannot fail.
                    json_or_jsonp(Some(callback), &body).unwrap_or_else(IntoResponse::into_response)
                }
            },
        };
        self.decorate(response)
    }

    fn decorate(&self, mut response: Response) -> Response {
        if let Some(path) = &self.path {
            response.headers_mut().insert(X_PATH.clone(), path.clone());
        }
        if self.no_cache {
            response = no_cache(response);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_a_repeated_parameter_wins_and_empty_is_absent() {
        let params = Params::parse(Some("value=3&value=4&amount=&x=%2B5&bad=1.5"));
        assert_eq!(params.get("value"), Some("3"));
        assert_eq!(params.integer("value"), Ok(Some(3)));
        assert_eq!(params.integer("amount"), Ok(None));
        assert_eq!(params.integer("missing"), Ok(None));
        assert_eq!(params.integer("x"), Ok(Some(5)));
        assert_eq!(params.integer("bad"), Err(()));
        assert_eq!(Params::parse(None).get("value"), None);
    }
}
