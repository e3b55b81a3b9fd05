//! `/api/v1/jobs` and `/api/v1/workers`: background jobs (README, "Background jobs"; the
//! design's §9), for the instance admin only: every route checks `ADMIN_TOKEN` before it looks
//! at anything else, like the export and the import.
//!
//! - [`queue`]: start a job, list them, show one, cancel, retry;
//! - [`upload`]: start an import, its NDJSON body stored as chunks before the job is queued
//!   (so a worker on another host can read it);
//! - [`result`]: download an export's NDJSON;
//! - [`events`]: follow one job as server-sent events;
//! - [`workers`]: the workers and their last heartbeat;
//! - [`document`]: what these answer.
//!
//! The handlers only translate: the checks of a request are [`crate::jobs`]'s, the queue is
//! the store's ([`crate::store::JobQueue`]), and jobs are run by the workers, never here.

pub mod document;
pub mod events;
pub mod queue;
pub mod result;
pub mod upload;
pub mod workers;

use axum::extract::{Path, rejection::PathRejection};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    store::{Store, job::JobId, job::JobRecord},
    web::AppError,
};

/// A job in a path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobParams {
    /// The job's id, a UUID in its hyphenated form.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub id: String,
}

/// A job path as a handler receives it.
pub type JobPath = Result<Path<JobParams>, PathRejection>;

/// The id of a `/{id}` path, or a 400. Only the hyphenated form is an id here (the one the
/// API shows and the document declares), though the UUID parser would take others too.
pub fn job_id(path: JobPath) -> Result<JobId, AppError> {
    let Path(JobParams { id }) =
        path.map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
    let hyphenated = id.len() == 36
        && id
            .char_indices()
            .all(|(at, c)| matches!(at, 8 | 13 | 18 | 23) == (c == '-'));
    if !hyphenated {
        return Err(AppError::BadRequest(format!(
            "{id:?} is not a job id: a UUID such as 0190c2a0-7d4e-7c3a-9f1e-2b8d5c6e7f80"
        )));
    }
    Ok(JobId::parse(&id)?)
}

/// The job `id`, or a 404.
pub async fn find(store: &Store, id: JobId) -> Result<JobRecord, AppError> {
    store.job(&id).await?.ok_or(AppError::JobNotFound(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<JobId, AppError> {
        job_id(Ok(Path(JobParams { id: text.into() })))
    }

    #[test]
    fn ids_are_hyphenated_uuids_only() {
        let id = JobId::new();
        assert_eq!(parse(&id.to_string()).expect("an id"), id);
        let upper = id.to_string().to_uppercase();
        assert_eq!(parse(&upper).expect("any case"), id);
        for bad in [
            "",
            "import",
            "not-a-uuid-at-all-but-36-characters!",
            &id.to_string().replace('-', ""),
            &format!("{{{id}}}"),
            &format!("urn:uuid:{id}"),
            "0190c2a0-7d4e-7c3a-9f1e-2b8d5c6e7fzz",
        ] {
            assert!(
                matches!(parse(bad), Err(AppError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
