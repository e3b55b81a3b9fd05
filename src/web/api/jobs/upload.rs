//! `POST /api/v1/jobs/import`: an import run as a job. The NDJSON body is streamed into the
//! queue as chunks ([`ChunkWriter`] under [`INPUT`]) and the job is queued only once the whole
//! body is stored, so a worker on any host can read it and a broken upload queues nothing.
//!
//! The body is not checked here: the job reads it line by line and fails naming the first bad
//! line, like `POST /api/v1/import` does at once. What is checked here is its size: empty is a
//! 400 (a forgotten `--data-binary`), past `IMPORT_LIMIT` a 413, with the chunks stored so far
//! dropped in both cases, as after any other failure. Like the import, it is served outside
//! the request deadline, bounded by the limit and the idle timeout instead
//! ([`super::super::limited_body`]).
//!
//! A process killed mid-upload leaves its chunks without a job; they are small in number (one
//! per MiB) and never read.

use axum::{
    extract::{Request, State},
    response::{IntoResponse, Response},
};

use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

use super::queue::accepted;
use crate::{
    jobs::{
        chunks::{ChunkWriter, INPUT},
        import_job,
    },
    store::{Store, job::JobId},
    web::{
        AppError, AppState,
        api::{
            auth::require_admin,
            limited_body::{LimitedBody, Read},
            schema::ErrorBody,
        },
    },
};

/// The body as text (for clients that send it as `text/plain`; the type is not checked, the
/// bytes are stored as they came): at least one byte. Written out because utoipa's derive
/// takes no length bounds on a newtype.
pub struct NdjsonText;

impl utoipa::PartialSchema for NdjsonText {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .description(Some("NDJSON, one counter a line"))
            .into()
    }
}

impl utoipa::ToSchema for NdjsonText {}

/// Stores the NDJSON body and queues an import of it; needs the admin's token.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/import",
    operation_id = "start_import_job",
    tag = "jobs",
    security(("bearer" = [])),
    request_body(
        content(("application/x-ndjson"), (NdjsonText = "text/plain")),
        description = "NDJSON, one counter a line, as the export writes them (see `POST /api/v1/import`), at most IMPORT_LIMIT bytes; checked by the job, which fails naming the first bad line. The content type is not checked.",
    ),
    responses(
        (status = 202, description = "Stored and queued", body = super::document::JobDocument, headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "The body is empty", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 408, description = "The body stopped arriving", body = ErrorBody),
        (status = 413, description = "The body passed IMPORT_LIMIT; nothing was queued", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn import(State(state): State<AppState>, request: Request) -> Response {
    if let Err(err) = require_admin(request.headers(), state.admin.as_ref()) {
        return err.into_response();
    }
    let id = JobId::new();
    let mut body = LimitedBody::new(request.into_body().into_data_stream(), state.import_limit);
    match store(&state.store, id, &mut body).await {
        Ok(response) => response,
        Err(err) => {
            // Best effort: a store that failed the upload may fail this too, and then the
            // chunks stay behind, unread.
            if let Err(drop_err) = state.store.drop_chunks(&id, INPUT).await {
                tracing::warn!(job = %id, error = %drop_err, "the chunks of a failed upload stay behind");
            }
            tokio::spawn(body.drain());
            err.into_response()
        }
    }
}

/// Writes the body under `id` and queues its job.
async fn store(store: &Store, id: JobId, body: &mut LimitedBody) -> Result<Response, AppError> {
    let mut writer = ChunkWriter::new(store.clone(), id, INPUT);
    loop {
        match body.read().await? {
            Read::Data(chunk) => writer.write(&chunk).await?,
            Read::End => break,
            Read::OverLimit => {
                return Err(AppError::ImportTooLarge(format!(
                    "the import is larger than IMPORT_LIMIT ({} bytes); nothing was queued",
                    body.limit()
                )));
            }
        }
    }
    if writer.is_empty() {
        return Err(AppError::BadRequest(
            "the body is empty: send NDJSON, one counter a line".to_owned(),
        ));
    }
    let bytes = writer.finish().await?;
    let (job, _created) = store.enqueue(&import_job(id, bytes)).await?;
    Ok(accepted(&job))
}
