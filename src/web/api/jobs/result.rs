//! `GET /api/v1/jobs/{id}/result`: a succeeded export's NDJSON, read back from the chunks its
//! job stored (under the part its `result` names) and streamed chunk by chunk, so the answer
//! holds one chunk (1 MiB) in memory whatever the size of the export.
//!
//! The first chunk is read before answering, so a store that is down is a `503`, not a `200`
//! that breaks; a failure after that ends the body as a broken transfer, as the direct export
//! does ([`super::super::export`]), so a client can tell a truncated download from a whole one.

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use futures_util::stream;

use super::{JobParams, JobPath, find, job_id};
use crate::{
    jobs::chunks::ChunkReader,
    store::job::{JobKind, JobStatus},
    web::{
        AppError, AppState,
        api::{auth::require_admin, export::NDJSON, schema::ErrorBody},
    },
};

/// A succeeded export's NDJSON (one counter a line, as `GET /api/v1/export` writes them);
/// needs the admin's token.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/result",
    operation_id = "job_result",
    tag = "jobs",
    params(JobParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One counter a line", content(("application/x-ndjson")), headers(("Content-Disposition" = String, description = "attachment; filename=\"tally-export-<id>.ndjson\""))),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Not an export, or not succeeded (yet)", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn result(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: JobPath,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let id = job_id(path)?;
    let job = find(&state.store, id).await?;
    if job.kind != JobKind::Export {
        return Err(AppError::Conflict(format!(
            "the job {id} is a {} job: only an export has a result to download",
            job.kind
        )));
    }
    if job.status != JobStatus::Succeeded {
        let now = match job.status {
            JobStatus::Queued | JobStatus::Running => {
                "not done yet: try again once it has succeeded"
            }
            _ => "did not succeed, so it has no result",
        };
        return Err(AppError::Conflict(format!(
            "the export {id} is {} and {now}",
            job.status
        )));
    }
    let part = job
        .result
        .as_ref()
        .and_then(|result| result.get("part"))
        .and_then(|part| part.as_str())
        .ok_or_else(|| {
            AppError::Internal(
                format!("the export {id} succeeded without naming its result part").into(),
            )
        })?;
    let mut reader = ChunkReader::new(state.store.clone(), id, part);
    let start = match reader.next().await? {
        Some(chunk) => Download::First(chunk, reader),
        None => Download::Done,
    };
    let chunks = stream::unfold(start, move |download| async move {
        match download {
            Download::First(chunk, reader) => {
                Some((Ok(Bytes::from(chunk)), Download::Next(reader)))
            }
            Download::Next(mut reader) => match reader.next().await {
                Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Download::Next(reader))),
                Ok(None) => None,
                Err(err) => {
                    tracing::error!(
                        job = %id,
                        error = %err,
                        "the export download stopped; the client gets a truncated body"
                    );
                    Some((Err(err), Download::Done))
                }
            },
            Download::Done => None,
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"tally-export-{id}.ndjson\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// Where a download is.
enum Download {
    /// The chunk read before answering, to send first.
    First(Vec<u8>, ChunkReader),
    /// Read the next chunk and send it.
    Next(ChunkReader),
    Done,
}
