//! Runs a claimed job by its kind, and what every kind shares: walking every counter of the
//! store a page at a time.

use serde_json::Value;

use super::{JobError, copy, export, import, maintenance, running::Running};
use crate::store::{CounterName, Store, job::JobKind};

/// Counters per page of a walk: one `scan`, and for a copy one `restore_many`.
pub const PAGE: usize = 500;

/// Runs `running`'s job to its result.
pub async fn run(store: Store, running: Running) -> Result<Value, JobError> {
    match running.job.kind {
        JobKind::Export => export::run(&store, &running).await,
        JobKind::Import => import::run(&store, &running).await,
        JobKind::Copy => copy::run(&store, &running).await,
        JobKind::Maintenance => maintenance::run(&store, &running).await,
    }
}

/// How many counters `store` holds: one walk of its pages, stopping at a safe point if asked.
pub async fn count_counters(store: &Store, running: &Running) -> Result<u64, JobError> {
    let mut after: Option<CounterName> = None;
    let mut total = 0u64;
    loop {
        running.safe_point()?;
        let page = store.scan(after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(total);
        };
        total += page.len() as u64;
        after = Some(last.name.clone());
        running.step(0, None, format!("counting counters: {total} so far"), None);
    }
}
