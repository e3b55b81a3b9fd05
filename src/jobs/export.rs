//! `export`: every counter as NDJSON, one line per counter in the format of
//! `GET /api/v1/export` (and of the import), stored in the queue as the job's result and
//! downloadable from `GET /api/v1/jobs/{id}/result`.
//!
//! Each attempt writes its own part, `result-<lease token>`, and the job's result names the
//! part of the attempt that succeeded: a worker that lost its lease can never add lines to the
//! result. An attempt that takes a job over starts the export again (an export is a snapshot;
//! resuming one would stitch two moments together) and drops the part of the attempt before,
//! which it finds in the checkpoint.

use serde_json::{Value, json};

use super::{
    JobError,
    chunks::ChunkWriter,
    kinds::{PAGE, count_counters},
    running::Running,
};
use crate::{
    store::{CounterName, Store},
    web::api::counter_line::ExportedCounter,
};

pub async fn run(store: &Store, running: &Running) -> Result<Value, JobError> {
    let job = &running.job;
    if let Some(previous) = &job.checkpoint {
        store.drop_chunks(&job.id, previous).await?;
    }
    let part = format!("result-{}", running.lease.token);
    running.step(0, None, "counting counters", Some(part.clone()));
    // Written now, so that a take-over finds this attempt's part even if it fails early.
    let total = count_counters(store, running).await?;

    let mut writer = ChunkWriter::new(store.clone(), job.id, part.clone());
    let mut after: Option<CounterName> = None;
    let mut done = 0u64;
    let mut line = Vec::new();
    loop {
        running.safe_point()?;
        let page = store.scan(after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        for record in &page {
            line.clear();
            serde_json::to_writer(&mut line, &ExportedCounter::of(record))
                .map_err(|err| JobError::failed(format!("cannot write a line: {err}")))?;
            line.push(b'\n');
            writer.write(&line).await?;
        }
        done += page.len() as u64;
        after = Some(last.name.clone());
        running.step(
            done,
            Some(total.max(done)),
            format!("exported {done} counters"),
            None,
        );
    }
    let bytes = writer.finish().await?;
    Ok(json!({ "counters": done, "bytes": bytes, "part": part }))
}
