//! `GET /api/v1/jobs/{id}/events`: one job followed as server-sent events. The first event is
//! the job document as it is; then one more each time the document changes (a progress step,
//! a status), until the event that shows it finished, after which the stream ends.
//!
//! Changes are found by reading the job from the store every [`POLL_INTERVAL`] and comparing
//! the document with the last one sent. Polling, rather than a notification from the workers,
//! because these streams are for the instance admin only, so there are few of them, and each
//! costs four small reads a second; a notification would need a channel in each of the four
//! stores (and across hosts, since workers may run anywhere) for no gain at that scale.
//!
//! A comment line is sent after [`KEEP_ALIVE`] without an event, so proxies do not close a
//! quiet stream; `X-Accel-Buffering: no` asks nginx not to buffer it, `Cache-Control:
//! no-store` keeps it out of caches. A store failure while following is sent as an `error`
//! event (the usual error body) and ends the stream; the client may reconnect. The stream
//! also ends when the server shuts down, so it never holds a graceful shutdown.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::stream::{self, Stream};
use serde_json::json;

use super::{JobParams, JobPath, document::JobDocument, find, job_id};
use crate::{
    store::{
        Store,
        job::{JobId, JobRecord},
    },
    web::{
        AppError, AppState, Shutdown,
        api::{auth::require_admin, schema::ErrorBody},
    },
};

/// How often the store is asked for the job.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The longest the stream stays silent: then a comment line is sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The job's document now and at each change, as server-sent events, until it has finished;
/// needs the admin's token.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/events",
    operation_id = "job_events",
    tag = "jobs",
    params(JobParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`data: <job document>` at once and at each change, ending after the one that shows the job finished; `event: error` with an error body if the store fails meanwhile", content((String = "text/event-stream"))),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "No token", body = ErrorBody),
        (status = 403, description = "Not the admin's token, or ADMIN_TOKEN is not set", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: JobPath,
) -> Result<Response, AppError> {
    require_admin(&headers, state.admin.as_ref())?;
    let id = job_id(path)?;
    // Read before answering, so an unknown job is a 404 and a store that is down a 503.
    let first = find(&state.store, id).await?;
    let follow = Follow {
        store: state.store.clone(),
        id,
        shutdown: state.shutdown.clone(),
        last: None,
        done: false,
    };
    let mut response = Sse::new(follow.events(first))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One stream's state.
struct Follow {
    store: Store,
    id: JobId,
    shutdown: Shutdown,
    /// The document last sent.
    last: Option<JobDocument>,
    /// The last event has gone out.
    done: bool,
}

impl Follow {
    fn events(self, first: JobRecord) -> impl Stream<Item = Result<Event, Infallible>> {
        stream::unfold((self, Some(first)), |(mut follow, first)| async move {
            let event = match first {
                Some(job) => follow.sent(&job),
                None => follow.next().await?,
            };
            Some((Ok(event), (follow, None)))
        })
    }

    /// The next event: the document once it changed, an error, or `None` at the end.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = self.shutdown.begun() => return None,
            }
            match self.store.job(&self.id).await {
                Ok(Some(job)) => {
                    if self.last.as_ref() != Some(&JobDocument::of(&job)) {
                        return Some(self.sent(&job));
                    }
                }
                // Purged (a week after it finished) while followed: nothing more to say.
                Ok(None) => return None,
                Err(err) => {
                    tracing::warn!(job = %self.id, error = %err, "a job's event stream ends on a store error");
                    self.done = true;
                    let error = AppError::from(err);
                    let body = json!({ "error": error.code(), "message": error.to_string() });
                    return Some(Event::default().event("error").data(body.to_string()));
                }
            }
        }
    }

    /// The event of `job`'s document, remembered as the last sent; the last event when the
    /// job has finished.
    fn sent(&mut self, job: &JobRecord) -> Event {
        let document = JobDocument::of(job);
        // A document is strings, numbers and JSON values: it always serializes.
        let data = serde_json::to_string(&document).unwrap_or_default();
        self.done = job.status.is_finished();
        self.last = Some(document);
        Event::default().data(data)
    }
}
