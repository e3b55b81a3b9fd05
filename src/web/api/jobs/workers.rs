//! `GET /api/v1/workers`: the worker processes (and `tally serve`'s in-process workers) seen
//! within the last [`SEEN_WITHIN`], with their last heartbeat. A worker not seen for longer
//! than `JOB_LEASE` is shown `stale`: it stopped or hangs, and its job goes to another worker
//! once its lease runs out. One that stopped cleanly removes itself.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::document::{WorkerDocument, WorkerList};
use crate::{
    store::now_millis,
    web::{
        AppError, AppState,
        api::{auth::require_admin, schema::ErrorBody},
    },
};

/// Workers not seen for this long are left out: gone, most likely killed.
pub const SEEN_WITHIN: Duration = Duration::from_secs(60 * 60);

/// The workers seen within the last hour, by name; needs the admin's token.
#[utoipa::path(
    get,
    path = "/api/v1/workers",
    operation_id = "list_workers",
    tag = "jobs",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The workers seen within the last hour", body = WorkerList),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn workers(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let now = now_millis();
    let since = now.saturating_sub(millis(SEEN_WITHIN));
    let workers = state.store.workers(since).await?;
    let lease = millis(state.job_lease);
    Ok(Json(WorkerList {
        workers: workers
            .iter()
            .map(|worker| WorkerDocument::of(worker, now, lease))
            .collect(),
    })
    .into_response())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
