//! `maintenance`: the periodic housekeeping, scheduled once per hour by the workers (see
//! [`super::worker`]) and startable by hand. Today: deletes jobs finished more than
//! [`JOB_RETENTION`] ago (with their chunks), forgets workers not seen for a day, and deletes
//! the history older than `HISTORY_DAYS` and the salts of past days (on Redis, which
//! expires both by itself, that step deletes nothing).

use std::time::Duration;

use serde_json::{Value, json};

use super::{JobError, running::Running};
use crate::store::{Store, now_millis};

/// How long finished jobs are kept.
pub const JOB_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a worker that stopped without saying so stays listed.
const WORKER_RETENTION: Duration = Duration::from_secs(24 * 3600);

pub async fn run(store: &Store, running: &Running) -> Result<Value, JobError> {
    let now = now_millis();
    running.step(0, Some(3), "deleting old jobs", None);
    let purged = store.purge(now - millis(JOB_RETENTION)).await?;
    running.safe_point()?;
    running.step(1, Some(3), "forgetting old workers", None);
    let cut = now - millis(WORKER_RETENTION);
    let mut forgotten = 0u64;
    for worker in store.workers(0).await? {
        if worker.last_seen < cut {
            store.worker_gone(&worker.name).await?;
            forgotten += 1;
        }
    }
    running.safe_point()?;
    running.step(2, Some(3), "deleting old history", None);
    let trimmed = store.trim_history(now).await?;
    // In the progress message, not the result, whose fields clients already read.
    running.step(
        3,
        Some(3),
        format!("done; {trimmed} old history entries deleted"),
        None,
    );
    Ok(json!({ "jobs_purged": purged, "workers_forgotten": forgotten }))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
