//! `GET /api/v1/counters/{namespace}/{key}/events`: a counter's value as it changes, as
//! server-sent events (README, "Live counts"; the stream itself is [`crate::web::live`]).
//! Public, like reading the value: a counter that does not exist is the 404 that `GET` of the
//! counter answers.

use axum::{
    Extension,
    extract::State,
    response::{IntoResponse, Response},
};

use super::{
    body::{CounterParams, CounterPath, counter_path},
    schema::ErrorBody,
};
use crate::{
    live::Hub,
    web::{
        AppError, AppState,
        live::{Refused, open},
    },
};

/// The counter's value now and after each change, as server-sent events.
#[utoipa::path(
    get,
    path = "/api/v1/counters/{namespace}/{key}/events",
    operation_id = "counter_events",
    tag = "counters",
    params(CounterParams),
    responses(
        (status = 200, description = "`data: {\"value\": N}` at once, then after each change, at most one event every 100 ms and always ending on the latest value; a comment line after 15 s of silence; the stream ends when the server shuts down", content((String = "text/event-stream"))),
        (status = 400, description = "A bad name", body = ErrorBody),
        (status = 404, description = "No such counter", body = ErrorBody),
        (status = 503, description = "The store is unavailable, or MAX_STREAMS streams are open", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Extension(hub): Extension<Hub>,
    path: CounterPath,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    match open(&hub, &state.store, &name).await {
        Ok(opened) => Ok(opened.into_response(&hub, state.shutdown.clone())),
        Err(Refused::Full { max }) => Err(AppError::TooManyStreams { max }),
        Err(Refused::Missing) => Err(AppError::CounterNotFound(name)),
        Err(Refused::Store(err)) => Err(err.into()),
    }
    .map(IntoResponse::into_response)
}
