//! `copy`: every counter, with its value, times, owner and rules, into another store given by
//! URI: how a user moves from one store to another without losing counts (README, "Moving
//! between stores").
//!
//! The target is written with `restore_many`, which writes each record as given, so copying
//! twice gives what copying once gives, and a page written again after a take-over changes
//! nothing. That is what makes the checkpoint (the last counter of the last page written)
//! safe to resume from: the next holder starts with the page after it, and at worst writes
//! again a page the dead worker had written after its last heartbeat.

use serde_json::{Value, json};

use super::{
    JobError,
    kinds::{PAGE, count_counters},
    request::target_of,
    running::Running,
};
use crate::{
    config::{redact, target_store},
    store::{self, CounterName, Store, StoreError},
};

pub async fn run(store: &Store, running: &Running) -> Result<Value, JobError> {
    let uri = target_of(&running.job.params)?;
    let shown = redact(uri);
    let spec = target_store(uri).map_err(JobError::failed)?;
    let target = store::open(&spec, store.timeout())
        .map_err(|err| JobError::failed(format!("cannot open the target {shown}: {err}")))?;
    let copied = copy_into(store, &target, running, &shown).await;
    target.close().await;
    copied
}

async fn copy_into(
    store: &Store,
    target: &Store,
    running: &Running,
    shown: &str,
) -> Result<Value, JobError> {
    let at_target = |err: StoreError| -> JobError {
        let message = format!("the target {shown} failed: {err}");
        if err.is_transient() {
            JobError::transient(message)
        } else {
            JobError::failed(message)
        }
    };
    target.migrate().await.map_err(at_target)?;

    let resume = match &running.job.checkpoint {
        Some(checkpoint) => Some(CounterName::parse(checkpoint)?),
        None => None,
    };
    let total = match (&resume, running.job.progress.total) {
        (Some(_), Some(total)) => total,
        _ => count_counters(store, running).await?,
    };
    let mut done = if resume.is_some() {
        running.job.progress.done
    } else {
        0
    };
    let mut after = resume;
    running.step(done, Some(total), format!("copying into {shown}"), None);
    loop {
        running.safe_point()?;
        let page = store.scan(after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        target.restore_many(&page).await.map_err(at_target)?;
        done += page.len() as u64;
        after = Some(last.name.clone());
        running.step(
            done,
            Some(total.max(done)),
            format!("copied {done} counters into {shown}"),
            Some(last.name.to_string()),
        );
    }
    Ok(json!({ "counters": done, "target": shown }))
}
