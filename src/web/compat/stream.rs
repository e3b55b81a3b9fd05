//! Abacus's `GET /stream/{namespace}/{key}`: the counter's value as it changes, as
//! server-sent events `data: {"value": N}` (the stream itself is [`crate::web::live`]).
//!
//! It answers like the other routes here: Abacus's texts for a bad name, `X-Path`, and what
//! `/get` answers for a counter that does not exist (`404 {"value": null, "error": "Key not
//! found"}`); tally's own failures (a store that is down, `MAX_STREAMS` reached) keep tally's
//! body. No JSONP: an event stream is not a script.

use axum::{Extension, extract::State, http::StatusCode, response::Response};
use serde_json::json;

use super::{
    countapi::KEY_NOT_FOUND,
    named::{Abacus, Named},
    reply::{Answer, Failure, Reply, refuse},
};
use crate::{
    live::Hub,
    web::{
        AppError, AppState,
        live::{Refused, open},
    },
};

pub async fn stream(
    State(state): State<AppState>,
    Extension(hub): Extension<Hub>,
    Named { name, .. }: Named<Abacus>,
) -> Response {
    Reply::json()
        .run(name, move |name| async move {
            match open(&hub, &state.store, &name).await {
                Ok(opened) => Ok(Answer::Response(
                    opened.into_response(&hub, state.shutdown.clone()),
                )),
                Err(Refused::Missing) => refuse(
                    StatusCode::NOT_FOUND,
                    json!({ "value": null, "error": KEY_NOT_FOUND }),
                ),
                Err(Refused::Full { max }) => Err(Failure::App(AppError::TooManyStreams { max })),
                Err(Refused::Store(err)) => Err(err.into()),
            }
        })
        .await
}
