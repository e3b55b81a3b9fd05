//! `badge.svg` and `pixel.gif`: the counting answers for READMEs, pages and e-mails that can
//! only load an image.
//!
//! Both count by default, creating the counter at 0 first as a hit does; the badge with
//! `?count=false` shows the current value (0 for a counter that does not exist, which it does
//! not create). Both are never cacheable (see [`super::no_cache`]): GitHub's image proxy would
//! otherwise freeze the badge and stop counting.

use axum::{
    extract::{Path, RawQuery, State, rejection::PathRejection},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::{body::counter_path, no_cache};
use crate::{
    badge::{BadgeQuery, PIXEL_GIF, render_svg},
    web::{AppError, AppState},
};

type CounterPath = Result<Path<(String, String)>, PathRejection>;

/// `GET /api/v1/counters/{namespace}/{key}/badge.svg?label=&color=&style=&count=`.
pub async fn badge(
    State(state): State<AppState>,
    path: CounterPath,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    let query = BadgeQuery::parse(raw.as_deref().unwrap_or_default())
        .map_err(|err| AppError::BadRequest(err.to_string()))?;
    let value = if query.count {
        state.store.increment(&name, 1).await?
    } else {
        state.store.get(&name).await?
    };
    let svg = render_svg(&query.label, value, &query.options);
    let mut response = svg.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
    );
    Ok(no_cache(response))
}

/// `GET /api/v1/counters/{namespace}/{key}/pixel.gif`: counts, answers a 1×1 transparent GIF.
pub async fn pixel(State(state): State<AppState>, path: CounterPath) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    state.store.increment(&name, 1).await?;
    let mut response = PIXEL_GIF.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    Ok(no_cache(response))
}
