//! The web layer's one error type and its mapping to HTTP.
//!
//! Handlers return `Result<_, AppError>`; this is the only place that decides status codes and
//! error bodies. Every error body is JSON, `{"error": "<code>", "message": "<what was wrong>"}`,
//! so scripts can branch on `error` and people can read `message`. Causes of server-side
//! failures are logged with their chain and never echoed to the client.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::request_log;
use crate::{
    config::RateLimit,
    store::{Backend, CounterName, StoreError, StoreErrorKind, job::JobId},
};

/// Seconds a client should wait before retrying after a 503. Short: most outages tally sees are
/// restarts of PostgreSQL or Redis.
pub const RETRY_AFTER_SECONDS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 503 with `Retry-After`: the store (or PostgreSQL for `/hello`) is down or did not answer
    /// within the store timeout. The client may try again; a failed increment is not retried
    /// by tally itself.
    #[error("{} is unavailable", .0.backend().map_or("the store", Backend::as_str))]
    Unavailable(StoreError),

    /// 503 with `Retry-After`: the request as a whole outlived the request deadline (a backstop
    /// behind the store timeout).
    #[error("the request took longer than {}", humantime::format_duration(*after))]
    RequestTimedOut { after: std::time::Duration },

    /// 503 with `Retry-After`: `MAX_STREAMS` live event streams are open in this process.
    #[error("this server already serves {max} live event streams (MAX_STREAMS)")]
    TooManyStreams { max: usize },

    /// 503: `/hello` was asked for but no PostgreSQL is configured. Not a client mistake and
    /// not transient either, so no `Retry-After`; the message says how to configure it.
    #[error(
        "no PostgreSQL is configured for this check: set DATABASE_URI=postgres://user:password@host:5432/db"
    )]
    PostgresNotConfigured,

    /// 400: the request asked for something invalid (a bad counter name or amount).
    #[error("{0}")]
    BadRequest(String),

    /// 409: the counter cannot grow by that much; it was left unchanged.
    #[error("{0}")]
    Conflict(String),

    /// 401: the route needs a token and none was sent.
    #[error("{0}")]
    Unauthorized(String),

    /// 403: the token sent does not grant this.
    #[error("{0}")]
    Forbidden(String),

    /// 404: no such counter.
    #[error("there is no counter {0}")]
    CounterNotFound(CounterName),

    /// 404: no such job (never queued, or finished and purged after its 7 days).
    #[error("there is no job {0}")]
    JobNotFound(JobId),

    /// 409: `create` of a counter that exists.
    #[error("the counter {0} exists already")]
    AlreadyExists(CounterName),

    /// 413: the body is larger than the route accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },

    /// 413: an import's body passed its limit (`IMPORT_LIMIT`, or the API's 16 KiB for the
    /// JSON array form); the message says which, and what to do.
    #[error("{0}")]
    ImportTooLarge(String),

    /// 408: a streamed request body (an import) sent nothing for `after`.
    #[error("the request body sent nothing for {}", humantime::format_duration(*after))]
    BodyTimedOut { after: std::time::Duration },

    /// 415: the body is not `application/json`.
    #[error("the request body must be JSON, sent with Content-Type: application/json")]
    UnsupportedMediaType,

    /// 404: no route matches the path.
    #[error("no route for {method} {path}")]
    NotFound { method: String, path: String },

    /// 405: the path exists, but not for this method.
    #[error("{path} does not accept {method}")]
    MethodNotAllowed { method: String, path: String },

    /// 429 with `Retry-After`: this client address used up `RATE_LIMIT` for the current
    /// window; `retry_after` is the whole seconds until it resets (at least 1).
    #[error(
        "more than {} requests in {} from this address; try again in {retry_after} s",
        limit.requests(),
        humantime::format_duration(limit.window())
    )]
    RateLimited { limit: RateLimit, retry_after: u64 },

    /// 500: anything else. Logged with its cause; the client gets a generic message.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err.kind() {
            StoreErrorKind::Unavailable | StoreErrorKind::TimedOut => AppError::Unavailable(err),
            StoreErrorKind::InvalidInput => AppError::BadRequest(err.to_string()),
            StoreErrorKind::Overflow => AppError::Conflict(err.to_string()),
            StoreErrorKind::Failed => AppError::Internal(err.into()),
        }
    }
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::Unavailable(_)
            | AppError::RequestTimedOut { .. }
            | AppError::TooManyStreams { .. }
            | AppError::PostgresNotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) | AppError::AlreadyExists(_) => StatusCode::CONFLICT,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } | AppError::CounterNotFound(_) | AppError::JobNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            AppError::PayloadTooLarge { .. } | AppError::ImportTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            AppError::BodyTimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` field of the body.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unavailable(_) => "store_unavailable",
            AppError::RequestTimedOut { .. } => "timeout",
            AppError::TooManyStreams { .. } => "too_many_streams",
            AppError::PostgresNotConfigured => "postgres_not_configured",
            AppError::BadRequest(_) => "bad_request",
            AppError::Conflict(_) => "conflict",
            AppError::AlreadyExists(_) => "already_exists",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::CounterNotFound(_) => "counter_not_found",
            AppError::JobNotFound(_) => "job_not_found",
            AppError::PayloadTooLarge { .. } | AppError::ImportTooLarge(_) => "payload_too_large",
            AppError::BodyTimedOut { .. } => "request_timeout",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::NotFound { .. } => "not_found",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.into_response_with(serde_json::Map::new())
    }
}

impl AppError {
    /// The error's response with `extra` fields beside `error` and `message`, for answers
    /// that say more (how many lines an import applied before it stopped).
    pub fn into_response_with(self, extra: serde_json::Map<String, serde_json::Value>) -> Response {
        match &self {
            AppError::Unavailable(err) => tracing::warn!(
                request_id = %request_log::current(),
                error = %err,
                "store unavailable"
            ),
            AppError::RequestTimedOut { .. } => {
                tracing::warn!(request_id = %request_log::current(), "{self}");
            }
            AppError::Internal(err) => tracing::error!(
                request_id = %request_log::current(),
                error = ?err,
                "internal error"
            ),
            _ => {}
        }
        let retry = matches!(
            self,
            AppError::Unavailable(_)
                | AppError::RequestTimedOut { .. }
                | AppError::TooManyStreams { .. }
        );
        let mut message = self.to_string();
        if retry {
            message.push_str("; try again shortly");
        }
        let mut body = json!({ "error": self.code(), "message": message });
        if let Some(fields) = body.as_object_mut() {
            fields.extend(extra);
        }
        let body = Json(body);
        let mut response = (self.status(), body).into_response();
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if let AppError::RateLimited { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        }
        response
    }
}
