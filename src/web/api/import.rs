//! `POST /api/v1/import`: sets counters from an export, for the instance admin (README,
//! "Export and import").
//!
//! The body is NDJSON, one counter a line as the export writes them, or a JSON array of
//! counters (told apart by its first byte that is not a space: `[`). Each counter is *set*
//! with [`Store::restore`](crate::store::Store::restore), so importing the same body twice
//! gives what importing it once gives.
//!
//! NDJSON is applied as it arrives: the body is read chunk by chunk and split into lines of
//! at most [`MAX_LINE`] bytes, and each line is applied before the next is read, so an import
//! of any size holds one chunk and one line. The first bad line stops the import with a `400`
//! naming it; the lines before it stay applied, each whole (one store call each). The body may
//! have at most `IMPORT_LIMIT` bytes: past it the import stops with a `413`, the lines that
//! ended within the limit applied. Every answer says how many counters were applied
//! (`imported`), the errors too.
//!
//! The JSON array form is for small, hand-written imports: it is read whole, so it may have
//! at most the API's 16 KiB; big imports use NDJSON.
//!
//! An import that stops early is answered at once, and the rest of its body, up to the limit,
//! is read and dropped meanwhile, so that clients that send a whole body before reading the
//! answer get it too.
//!
//! A long import outlives the request deadline, so this route is served outside it (see
//! [`super::import_router`]); what bounds it instead is `IMPORT_LIMIT` and
//! [`IMPORT_IDLE_TIMEOUT`](super::limited_body::IMPORT_IDLE_TIMEOUT), the longest the client
//! may send nothing ([`super::limited_body`]).

use axum::{
    Json,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    auth::require_admin,
    body::BODY_LIMIT,
    counter_line::{ImportedCounter, parse_import_line},
    limited_body::{LimitedBody, Read},
    line_splitter::{LineSplitter, LineTooLong},
};
use crate::{
    store::{CounterRecord, Store, now_millis},
    web::{AppError, AppState},
};

/// The longest line of an NDJSON import, without its line ending. An exported line is a few
/// hundred bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// Sets every counter of an NDJSON body (or a JSON array of at most 16 KiB), as it streams
/// in; needs the admin's token. A bad line stops it with a 400 naming the line; the lines
/// before it stay applied.
#[utoipa::path(
    post,
    path = "/api/v1/import",
    tag = "instance",
    security(("bearer" = [])),
    request_body(
        content(
            ("application/x-ndjson"),
            (Vec<super::counter_line::ImportedCounter> = "application/json"),
        ),
        description = "NDJSON: one counter a line, as the export writes them (`namespace`, `key`, `value`, and optionally `created_at`, `updated_at` (RFC 3339, UTC, from 1970), `owner_hash` (64 lowercase hex digits or null), `enable_reset`, `update_lowerbound` (0 or less), `update_upperbound` (0 or more)); or a JSON array of the same objects, up to 16 KiB",
    ),
    responses(
        (status = 200, description = "How many counters were set", body = super::schema::Imported),
        (status = 400, description = "A bad line (named), with how many were set before it", body = super::schema::ErrorBody),
        (status = 401, description = "No token", body = super::schema::ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = super::schema::ErrorBody),
        (status = 408, description = "The body stopped arriving", body = super::schema::ErrorBody),
        (status = 413, description = "The body passed IMPORT_LIMIT", body = super::schema::ErrorBody),
        (status = 503, description = "The store is unavailable", body = super::schema::ErrorBody),
    )
)]
pub async fn import(State(state): State<AppState>, request: Request) -> Response {
    if let Err(err) = require_admin(request.headers(), state.admin.as_ref()) {
        return err.into_response();
    }
    let mut body = LimitedBody::new(request.into_body().into_data_stream(), state.import_limit);
    let mut importer = Importer {
        store: &state.store,
        now: now_millis(),
        imported: 0,
    };
    match importer.run(&mut body).await {
        // No body at all is a mistake (a forgotten `--data-binary`), not an import of nothing.
        Ok(()) if body.nothing_read() => AppError::BadRequest(
            "the body is empty: send NDJSON, one counter a line, or a JSON array".to_owned(),
        )
        .into_response(),
        Ok(()) => Json(json!({ "imported": importer.imported })).into_response(),
        Err(err) => {
            tokio::spawn(body.drain());
            let mut extra = serde_json::Map::new();
            extra.insert("imported".to_owned(), importer.imported.into());
            err.into_response_with(extra)
        }
    }
}

/// The 413 of an import over `IMPORT_LIMIT`.
fn over_limit(body: &LimitedBody) -> AppError {
    AppError::ImportTooLarge(format!(
        "the import is larger than IMPORT_LIMIT ({} bytes); the lines that ended before it were applied",
        body.limit()
    ))
}

struct Importer<'a> {
    store: &'a Store,
    /// The time of the import: what a counter without times gets.
    now: i64,
    /// Counters applied so far.
    imported: u64,
}

impl Importer<'_> {
    async fn run(&mut self, body: &mut LimitedBody) -> Result<(), AppError> {
        let mut lines = LineSplitter::new(MAX_LINE);
        // Leading blank lines are lines too: they go to the splitter, to keep the numbers.
        let mut head = Vec::new();
        loop {
            let chunk = match body.read().await? {
                Read::Data(chunk) => chunk,
                Read::End => break,
                Read::OverLimit => return Err(over_limit(body)),
            };
            let first = chunk.iter().find(|byte| !byte.is_ascii_whitespace());
            if first == Some(&b'[') {
                head.extend_from_slice(&chunk);
                return self.array(body, head).await;
            }
            if first.is_some() {
                lines.push(&head);
                lines.push(&chunk);
                self.lines(&mut lines).await?;
                return self.ndjson(body, lines).await;
            }
            head.extend_from_slice(&chunk);
            if head.len() > MAX_LINE {
                lines.push(&head);
                head.clear();
                self.lines(&mut lines).await?;
            }
        }
        // A body of nothing but blank lines: nothing to import.
        Ok(())
    }

    /// The rest of an NDJSON body, after the lines already in `lines`.
    async fn ndjson(
        &mut self,
        body: &mut LimitedBody,
        mut lines: LineSplitter,
    ) -> Result<(), AppError> {
        loop {
            match body.read().await? {
                Read::Data(chunk) => {
                    lines.push(&chunk);
                    self.lines(&mut lines).await?;
                }
                Read::End => break,
                Read::OverLimit => return Err(over_limit(body)),
            }
        }
        if let Some(last) = lines.finish() {
            let (number, line) = last.map_err(too_long)?;
            let record = parse_line(number, line, self.now)?;
            self.apply(record).await?;
        }
        Ok(())
    }

    /// Applies every whole line `lines` holds.
    async fn lines(&mut self, lines: &mut LineSplitter) -> Result<(), AppError> {
        while let Some(line) = lines.next_line() {
            let (number, line) = line.map_err(too_long)?;
            let record = parse_line(number, line, self.now)?;
            self.apply(record).await?;
        }
        Ok(())
    }

    /// The JSON array form: `head` and the rest of the body, read whole up to the API's body
    /// limit, then applied item by item.
    async fn array(&mut self, body: &mut LimitedBody, mut head: Vec<u8>) -> Result<(), AppError> {
        loop {
            if head.len() > BODY_LIMIT {
                return Err(AppError::ImportTooLarge(format!(
                    "a JSON array import is read whole and may have at most {BODY_LIMIT} bytes; send larger imports as NDJSON, one counter a line"
                )));
            }
            match body.read().await? {
                Read::Data(chunk) => head.extend_from_slice(&chunk),
                Read::End => break,
                Read::OverLimit => return Err(over_limit(body)),
            }
        }
        let items: Vec<serde_json::Value> = serde_json::from_slice(&head)
            .map_err(|err| AppError::BadRequest(format!("the JSON array is not valid: {err}")))?;
        for (index, item) in items.into_iter().enumerate() {
            let item_error =
                |message: String| AppError::BadRequest(format!("item {}: {message}", index + 1));
            let record = serde_json::from_value::<ImportedCounter>(item)
                .map_err(|err| item_error(err.to_string()))?
                .into_record(self.now)
                .map_err(item_error)?;
            self.apply(Some(record)).await?;
        }
        Ok(())
    }

    /// Restores `record` (nothing for a blank line).
    async fn apply(&mut self, record: Option<CounterRecord>) -> Result<(), AppError> {
        if let Some(record) = record {
            self.store.restore(&record).await?;
            self.imported += 1;
        }
        Ok(())
    }
}

/// The counter on line `number`, `None` for a blank line, or a 400 naming the line.
fn parse_line(number: u64, line: &[u8], now: i64) -> Result<Option<CounterRecord>, AppError> {
    parse_import_line(number, line, now).map_err(AppError::BadRequest)
}

fn too_long(err: LineTooLong) -> AppError {
    AppError::BadRequest(format!(
        "line {}: longer than {MAX_LINE} bytes; a counter's line is a few hundred",
        err.number
    ))
}
