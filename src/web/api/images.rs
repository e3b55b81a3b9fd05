//! `badge.svg` and `pixel.gif`: the counting answers for READMEs, pages and e-mails that can
//! only load an image.
//!
//! Both count by default, creating the counter at 0 first as a hit does; the badge with
//! `?count=false` shows the current value (0 for a counter that does not exist, which it does
//! not create). Both are never cacheable (see [`super::no_cache`]): GitHub's image proxy would
//! otherwise freeze the badge and stop counting.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    body::{CounterParams, CounterPath, counter_path},
    no_cache,
    schema::ErrorBody,
};
use crate::{
    badge::{BadgeQuery, PIXEL_GIF, render_svg},
    web::{AppError, AppState, HitVisitor},
};

/// The badge's query, as the OpenAPI document declares it; [`BadgeQuery::parse`] checks the
/// same rules (a unit test holds the two together).
#[allow(dead_code)] // read by the OpenAPI derive only
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BadgeParams {
    /// The left-hand text (default `visitors`), at most 64 characters, no control characters.
    #[param(
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\uFFFE\uFFFF]{0,64}$",
        max_length = 64
    )]
    label: Option<String>,
    /// A shields.io colour name or a 3- or 6-digit hex, with or without `#` (default `blue`).
    #[param(
        pattern = "^(brightgreen|green|yellowgreen|yellow|orange|red|blue|grey|gray|lightgrey|lightgray|success|important|critical|informational|inactive|#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}))$"
    )]
    color: Option<String>,
    /// `flat` (default), `flat-square` or `for-the-badge`.
    #[param(inline)]
    style: Option<BadgeStyleParam>,
    /// Whether this request counts a hit (default `true`).
    #[param(inline)]
    count: Option<CountParam>,
}

#[allow(dead_code)] // read by the OpenAPI derive only
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
enum BadgeStyleParam {
    Flat,
    FlatSquare,
    ForTheBadge,
}

#[allow(dead_code)] // read by the OpenAPI derive only
#[derive(Debug, Deserialize, utoipa::ToSchema)]
enum CountParam {
    #[serde(rename = "true")]
    True,
    #[serde(rename = "1")]
    One,
    #[serde(rename = "false")]
    False,
    #[serde(rename = "0")]
    Zero,
}

/// An SVG badge of the counter; counts a hit unless `count=false`.
#[utoipa::path(
    get,
    path = "/api/v1/counters/{namespace}/{key}/badge.svg",
    tag = "counters",
    params(CounterParams, BadgeParams),
    responses(
        (status = 200, description = "The badge", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A bad name or badge parameter", body = ErrorBody),
        (status = 409, description = "The value would pass the largest count; nothing changed", body = ErrorBody),
        (status = 429, description = "Over the rate limit", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn badge(
    State(state): State<AppState>,
    visitor: HitVisitor,
    path: CounterPath,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    let query = BadgeQuery::parse(raw.as_deref().unwrap_or_default())
        .map_err(|err| AppError::BadRequest(err.to_string()))?;
    let value = if query.count {
        state
            .store
            .increment_from(&name, 1, visitor.as_ref())
            .await?
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

/// Counts a hit and answers a 1×1 transparent GIF.
#[utoipa::path(
    get,
    path = "/api/v1/counters/{namespace}/{key}/pixel.gif",
    tag = "counters",
    params(CounterParams),
    responses(
        (status = 200, description = "The pixel", content(("image/gif"))),
        (status = 400, description = "A bad name", body = ErrorBody),
        (status = 409, description = "The value would pass the largest count; nothing changed", body = ErrorBody),
        (status = 429, description = "Over the rate limit", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn pixel(
    State(state): State<AppState>,
    visitor: HitVisitor,
    path: CounterPath,
) -> Result<Response, AppError> {
    let name = counter_path(path)?;
    state
        .store
        .increment_from(&name, 1, visitor.as_ref())
        .await?;
    let mut response = PIXEL_GIF.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    Ok(no_cache(response))
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;

    use super::BadgeParams;
    use crate::badge::COLOR_PATTERN;

    #[test]
    fn the_documented_colour_pattern_is_the_one_the_badge_checks() {
        let params = BadgeParams::into_params(|| None);
        let color = params
            .iter()
            .find(|param| param.name == "color")
            .expect("color is documented");
        let schema = serde_json::to_value(&color.schema).expect("schema as JSON");
        assert_eq!(schema["pattern"], COLOR_PATTERN, "{schema}");
    }
}
