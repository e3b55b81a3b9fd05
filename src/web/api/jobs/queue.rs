//! Starting, listing, showing, cancelling and retrying jobs.
//!
//! Status codes say what happened to the job: `202` when work was queued or asked to stop
//! (it happens later, on a worker), `200` when the answer is already final (a queued job
//! cancelled at once), `409` when the job is in a state that does not allow the change
//! (cancelling a finished job, retrying one that did not fail). The body is always the job
//! document, or the usual error body.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::{
    JobParams, JobPath,
    document::{JobDocument, JobPage, NewJobBody},
    find, job_id,
};
use crate::{
    jobs::JobRequest,
    store::job::{JobId, JobRecord, JobStatus},
    web::{
        AppError, AppState,
        api::{
            auth::require_admin,
            body::{JsonBody, query},
            schema::ErrorBody,
        },
    },
};

/// Page sizes of the listing.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// `202` with the document and where to follow the job.
pub fn accepted(job: &JobRecord) -> Response {
    let mut response = (StatusCode::ACCEPTED, Json(JobDocument::of(job))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Queues an export, a copy into another store, or the maintenance; needs the admin's token.
/// A request tally cannot run (an unknown kind, a target URI it cannot parse) is a 400 and
/// queues nothing.
#[utoipa::path(
    post,
    path = "/api/v1/jobs",
    operation_id = "create_job",
    tag = "jobs",
    security(("bearer" = [])),
    request_body(content = NewJobBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued", body = JobDocument, headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "An unknown kind, a missing or unusable target, an unknown field", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 413, description = "The body is over 16 KiB", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, AppError>,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let JsonBody(body) = body?;
    let request = JobRequest::from_json(&body).map_err(AppError::BadRequest)?;
    let (job, _created) = state.store.enqueue(&request.into_job()).await?;
    Ok(accepted(&job))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the jobs with this status.
    #[param(value_type = Option<super::document::JobStatusName>)]
    status: Option<String>,
    /// The `next_cursor` of the page before: the jobs older than this id.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
    /// Jobs per page, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// One page of jobs, newest first, optionally of one status; needs the admin's token.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page, newest first", body = JobPage),
        (status = 400, description = "A bad status, cursor or limit", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let params = query(params)?;
    let status = params.status.as_deref().map(JobStatus::parse).transpose()?;
    let cursor = params
        .cursor
        .map(|cursor| job_id(Ok(axum::extract::Path(JobParams { id: cursor }))))
        .transpose()
        .map_err(|err| AppError::BadRequest(format!("cursor: {err}")))?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(limit) => limit
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                AppError::BadRequest(format!("limit is 1 to {MAX_LIMIT}, got {limit:?}"))
            })?,
    };
    // One more than asked, to know whether there is a next page without asking again.
    let mut jobs = state.store.jobs(status, cursor.as_ref(), limit + 1).await?;
    let more = jobs.len() > limit;
    jobs.truncate(limit);
    let next_cursor = more
        .then(|| jobs.last().map(|last| last.id.to_string()))
        .flatten();
    Ok(Json(JobPage {
        jobs: jobs.iter().map(JobDocument::of).collect(),
        next_cursor,
    })
    .into_response())
}

/// One job; needs the admin's token.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    operation_id = "show_job",
    tag = "jobs",
    params(JobParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job", body = JobDocument),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: JobPath,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let job = find(&state.store, job_id(path)?).await?;
    Ok(Json(JobDocument::of(&job)).into_response())
}

/// Cancels a job: a queued one at once (`200`, now `cancelled`), a running one at its
/// worker's next heartbeat, within about a second (`202`, still `running`); needs the admin's
/// token.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/cancel",
    operation_id = "cancel_job",
    tag = "jobs",
    params(JobParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = JobDocument),
        (status = 202, description = "Running: its worker stops it at its next heartbeat", body = JobDocument),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job has finished already", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: JobPath,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let id = job_id(path)?;
    let before = find(&state.store, id).await?;
    if before.status.is_finished() {
        return Err(finished_already(&before));
    }
    // The store leaves a finished job as it is, so a job that finished between the two calls
    // comes back finished, and is a 409 like any other.
    let after = state
        .store
        .cancel(&id)
        .await?
        .ok_or(AppError::JobNotFound(id))?;
    match after.status {
        JobStatus::Cancelled => Ok(Json(JobDocument::of(&after)).into_response()),
        JobStatus::Queued | JobStatus::Running => {
            Ok((StatusCode::ACCEPTED, Json(JobDocument::of(&after))).into_response())
        }
        JobStatus::Succeeded | JobStatus::Failed => Err(finished_already(&after)),
    }
}

fn finished_already(job: &JobRecord) -> AppError {
    AppError::Conflict(format!(
        "the job {} has finished already ({}); there is nothing to cancel",
        job.id, job.status
    ))
}

/// Queues a failed or cancelled job again, as new (attempts, error and progress reset); needs
/// the admin's token.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/retry",
    operation_id = "retry_job",
    tag = "jobs",
    params(JobParams),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued again", body = JobDocument, headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not failed or cancelled", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: JobPath,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let id = job_id(path)?;
    let before = find(&state.store, id).await?;
    if !retriable(before.status) {
        return Err(not_retriable(id, before.status));
    }
    let after = state
        .store
        .retry(&id)
        .await?
        .ok_or(AppError::JobNotFound(id))?;
    // The store leaves other statuses as they are: a job that a worker took between the two
    // calls (after another retry) comes back running, a 409 like any other.
    if after.status != JobStatus::Queued {
        return Err(not_retriable(id, after.status));
    }
    Ok(accepted(&after))
}

fn retriable(status: JobStatus) -> bool {
    matches!(status, JobStatus::Failed | JobStatus::Cancelled)
}

fn not_retriable(id: JobId, status: JobStatus) -> AppError {
    AppError::Conflict(format!(
        "the job {id} is {status}: only a failed or cancelled job can be retried"
    ))
}
