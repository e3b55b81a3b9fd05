//! `GET /api/v1/export`: every counter as NDJSON, for the instance admin (README, "Export and
//! import").
//!
//! The body is streamed: one [`Store::scan`] page at a time is read, written as lines and
//! handed to the connection, and the next page is read only once the connection has taken
//! the last one. So an export of a million counters holds about one page in memory, and a
//! slow client slows the reads instead of filling the server's memory.
//!
//! Each page goes out as one piece of whole lines. When the store fails midway the error is
//! logged and the body ends as a broken transfer (the chunked encoding's last chunk is not
//! sent), so the client can tell a truncated export from a whole one, and what it did receive
//! ends with a whole line. The export only reads; each page is its own store call under the
//! store timeout, and the request deadline does not cut a long export, since the answer is
//! sent as soon as the first page is ready.

use axum::{
    BoxError,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use futures_util::stream;

use super::{auth::require_admin, counter_line::ExportedCounter};
use crate::{
    store::{CounterName, Store},
    web::{AppError, AppState},
};

/// Counters read per store call.
pub const EXPORT_PAGE: usize = 500;

/// The media type of the export and of the import's lines.
pub const NDJSON: &str = "application/x-ndjson";

/// Where the walk is.
enum Walk {
    /// Read the page after this counter (`None`: the first page).
    After(Option<CounterName>),
    Done,
}

/// Every counter, streamed as NDJSON (one object a line, by namespace and key); needs the
/// admin's token.
#[utoipa::path(
    get,
    path = "/api/v1/export",
    tag = "instance",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One counter a line", content(("application/x-ndjson"))),
        (status = 401, description = "No token", body = super::schema::ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = super::schema::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::schema::ErrorBody),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let store = state.store.clone();
    let pages = stream::unfold(Walk::After(None), move |walk| {
        let store = store.clone();
        async move {
            let Walk::After(after) = walk else {
                return None;
            };
            match page(&store, after.as_ref()).await {
                Ok(None) => None,
                Ok(Some((bytes, next))) => Some((Ok(bytes), next)),
                Err(err) => {
                    tracing::error!(
                        error = %err,
                        after = ?after.as_ref().map(ToString::to_string),
                        "the export stopped; the client gets a truncated body"
                    );
                    Some((Err(err), Walk::Done))
                }
            }
        }
    });
    let mut response = Body::from_stream(pages).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The page after `after` as lines, and where to go on; `None` when there is nothing left.
async fn page(
    store: &Store,
    after: Option<&CounterName>,
) -> Result<Option<(Bytes, Walk)>, BoxError> {
    let records = store.scan(after, EXPORT_PAGE).await?;
    let Some(last) = records.last() else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(records.len() * 256);
    for record in &records {
        serde_json::to_writer(&mut bytes, &ExportedCounter::of(record))?;
        bytes.push(b'\n');
    }
    // A short page is the last: no need to ask for an empty one.
    let next = if records.len() < EXPORT_PAGE {
        Walk::Done
    } else {
        Walk::After(Some(last.name.clone()))
    };
    Ok(Some((Bytes::from(bytes), next)))
}
