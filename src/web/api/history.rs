//! `/api/v1/counters/{ns}/{key}/history` and `/history.svg`: a counter's last days in a time
//! zone, as JSON and as a bar chart. Public, like the counter's value: anyone who may read
//! the count may read its days.
//!
//! The days come from [`crate::history::daily`]; these handlers only read the query: `days`
//! (1 to `HISTORY_DAYS`, default 30) and `tz` (an IANA zone, default `UTC`), each a 400
//! naming itself when it is wrong. A counter that does not exist has no history: every day
//! is 0, as a badge with `count=false` shows 0, so a chart embedded before the first hit
//! draws instead of breaking.

use std::sync::LazyLock;

use axum::{
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{RefOr, Schema, schema::ObjectBuilder},
};

use super::{
    body::{CounterParams, CounterPath, counter_path, json_or_jsonp, query},
    schema::ErrorBody,
};
use crate::{
    history::{self, DayCount, chart::render_svg},
    store::{DEFAULT_HISTORY_DAYS, now_millis},
    web::{AppError, AppState},
};

/// Days shown when the query names none.
pub const DEFAULT_DAYS: u32 = 30;

/// The query of `/history`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Days to show, ending with today in `tz`: 1 to the server's `HISTORY_DAYS` (400 unless
    /// configured otherwise); default 30.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 400)]
    days: Option<String>,
    /// The IANA time zone whose days are shown (default `UTC`), e.g. `Europe/Berlin`.
    #[param(value_type = Option<ZoneName>)]
    tz: Option<String>,
    /// JSONP: answer `callback(body);` as `application/javascript`.
    #[param(pattern = "^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$")]
    callback: Option<String>,
}

/// The query of `/history.svg`: the same days and zone. Other parameters are ignored, as on
/// the badge, since image URLs carry cache busters (`?v=2`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// Days to show, ending with today in `tz`: 1 to the server's `HISTORY_DAYS` (400 unless
    /// configured otherwise); default 30.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 400)]
    days: Option<String>,
    /// The IANA time zone whose days are shown (default `UTC`), e.g. `Europe/Berlin`.
    #[param(value_type = Option<ZoneName>)]
    tz: Option<String>,
}

/// One day of a history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryDay {
    /// The day in the zone asked for.
    #[schema(format = Date)]
    pub date: String,
    /// Hits within that day.
    #[schema(minimum = 0)]
    pub hits: i64,
    /// Estimated unique visitors (HyperLogLog, within 2 %) of the UTC day that holds the
    /// day's noon.
    #[schema(minimum = 0)]
    pub uniques: u64,
}

impl HistoryDay {
    fn of(day: &DayCount) -> HistoryDay {
        HistoryDay {
            date: day.date.to_string(),
            hits: day.hits,
            uniques: day.uniques,
        }
    }
}

/// The IANA zone names tally knows (its bundled database), as the OpenAPI document lists
/// them: `tz` must be one of them, spelt exactly.
pub struct ZoneName;

/// Every zone name of the bundled database, sorted.
static ZONE_NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_owned())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
});

impl PartialSchema for ZoneName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An IANA time zone name"))
            .enum_values(Some(ZONE_NAMES.iter().map(String::as_str)))
            .into()
    }
}

impl ToSchema for ZoneName {
    fn name() -> std::borrow::Cow<'static, str> {
        "TimeZone".into()
    }
}

/// The zone and the number of days a query asks for, or a 400 naming the parameter.
fn span(days: Option<&str>, tz: Option<&str>, most: u32) -> Result<(TimeZone, u32), AppError> {
    let days = match days {
        None => DEFAULT_DAYS.min(most),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|days| (1..=most).contains(days))
            .ok_or_else(|| AppError::BadRequest(format!("days is 1 to {most}, got {text:?}")))?,
    };
    let tz = match tz {
        None => TimeZone::UTC,
        Some(name)
            if ZONE_NAMES
                .binary_search_by(|known| known.as_str().cmp(name))
                .is_ok() =>
        {
            history::zone(name).map_err(|err| AppError::BadRequest(format!("tz: {err}")))?
        }
        Some(name) => {
            return Err(AppError::BadRequest(format!(
                "tz must be an IANA time zone such as Europe/Berlin or UTC, got {name:?}"
            )));
        }
    };
    Ok((tz, days))
}

/// The days of `name` that a query asks for, ending today.
async fn days_of(
    state: &AppState,
    path: CounterPath,
    days: Option<&str>,
    tz: Option<&str>,
) -> Result<(String, Vec<DayCount>), AppError> {
    let name = counter_path(path)?;
    let (zone, days) = span(days, tz, state.store.history_days())?;
    let today = history::today(&zone, now_millis())?;
    let counts = history::daily(&state.store, &name, &zone, today, days).await?;
    Ok((name.to_string(), counts))
}

/// A counter's hits and unique visitors per day, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/counters/{namespace}/{key}/history",
    tag = "counters",
    params(CounterParams, HistoryQuery),
    responses(
        (status = 200, description = "The last `days` days in `tz`, oldest first, today last; days without hits are 0", content(
            (Vec<HistoryDay> = "application/json"),
            (String = "application/javascript"),
        )),
        (status = 400, description = "A bad name, days, tz or callback", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    path: CounterPath,
    params: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let params = query(params)?;
    let (_, days) = days_of(&state, path, params.days.as_deref(), params.tz.as_deref()).await?;
    let body: Vec<HistoryDay> = days.iter().map(HistoryDay::of).collect();
    json_or_jsonp(params.callback.as_deref(), &body)
}

/// The same days as a small SVG bar chart: hits, with unique visitors darker inside.
#[utoipa::path(
    get,
    path = "/api/v1/counters/{namespace}/{key}/history.svg",
    tag = "counters",
    params(CounterParams, ChartQuery),
    responses(
        (status = 200, description = "The chart", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A bad name, days or tz", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn chart(
    State(state): State<AppState>,
    path: CounterPath,
    params: Result<Query<ChartQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let params = query(params)?;
    let zone = params.tz.as_deref().unwrap_or("UTC").to_owned();
    let (title, days) = days_of(&state, path, params.days.as_deref(), params.tz.as_deref()).await?;
    let mut response = render_svg(&title, &zone, &days).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
    );
    // Days change slowly; a minute keeps an embedded chart fresh without a store read on
    // every view.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

/// What the document's `maximum` for `days` says: the default `HISTORY_DAYS`.
const _: () = assert!(DEFAULT_HISTORY_DAYS == 400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_zones_are_checked_naming_their_parameter() {
        let (zone, days) = span(None, None, 400).expect("defaults");
        assert_eq!((zone.iana_name(), days), (Some("UTC"), 30));
        assert_eq!(span(None, None, 7).expect("small").1, 7);
        let (zone, days) = span(Some("400"), Some("Asia/Kolkata"), 400).expect("valid");
        assert_eq!((zone.iana_name(), days), (Some("Asia/Kolkata"), 400));
        for (days, tz, named) in [
            (Some("0"), None, "days"),
            (Some("401"), None, "days"),
            (Some("x"), None, "days"),
            (None, Some("Mars/Olympus"), "tz"),
            (None, Some("asia/kolkata"), "tz"),
            (None, Some(""), "tz"),
        ] {
            let Err(AppError::BadRequest(message)) = span(days, tz, 400) else {
                panic!("{days:?} {tz:?} accepted");
            };
            assert!(message.starts_with(named), "{message}");
        }
    }

    #[test]
    fn the_zone_list_holds_the_zones_tests_use() {
        for name in [
            "UTC",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "America/St_Johns",
            "Australia/Lord_Howe",
            "Europe/Berlin",
        ] {
            assert!(ZONE_NAMES.iter().any(|known| known == name), "{name}");
        }
    }
}
