//! The in-memory job queue: jobs, workers and chunks in maps behind one `std::sync::Mutex`.
//!
//! Like the memory counters it is a real backend: `tally serve` with `COUNTER_STORE=memory`
//! runs its jobs with its in-process workers (a separate `tally worker` cannot share it, since
//! the queue lives in the server's memory). Holding the lock for each whole operation makes
//! every operation atomic, which is all the contract asks; no critical section awaits.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard, PoisonError},
};

use async_trait::async_trait;

use super::{
    JobQueue, StoreError,
    job::{
        Held, JobCount, JobEnd, JobId, JobRecord, JobStatus, Lease, NewJob, Progress, WorkerRecord,
    },
};

#[derive(Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<JobId, JobRecord>,
    unique: HashMap<String, JobId>,
    workers: BTreeMap<String, WorkerRecord>,
    chunks: BTreeMap<(JobId, String, u32), Vec<u8>>,
}

impl MemoryQueue {
    /// Every change is applied after its checks, in one go, so a poisoned lock holds no half
    /// change and is safe to keep using.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The job `lease` names, if that lease still holds it.
    fn held(&mut self, lease: &Lease) -> Option<&mut JobRecord> {
        self.jobs.get_mut(&lease.job).filter(|job| {
            job.status == JobStatus::Running && job.lease_token.as_deref() == Some(&lease.token)
        })
    }

    fn drop_chunks(&mut self, id: &JobId, part: Option<&str>) {
        self.chunks
            .retain(|(job, stored, _), _| !(job == id && part.is_none_or(|part| part == stored)));
    }
}

fn let_go(job: &mut JobRecord, now: i64) {
    job.worker = None;
    job.lease_token = None;
    job.lease_until = None;
    job.updated_at = now;
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &NewJob) -> Result<(JobRecord, bool), StoreError> {
        let mut state = self.state();
        if let Some(key) = &job.unique_key
            && let Some(existing) = state.unique.get(key).and_then(|id| state.jobs.get(id))
        {
            return Ok((existing.clone(), false));
        }
        let record = JobRecord {
            id: job.id,
            kind: job.kind,
            status: JobStatus::Queued,
            params: job.params.clone(),
            progress: Progress::default(),
            attempts: 0,
            max_attempts: job.max_attempts,
            error: None,
            result: None,
            worker: None,
            lease_token: None,
            lease_until: None,
            run_after: job.created_at,
            cancel_requested: false,
            checkpoint: None,
            unique_key: job.unique_key.clone(),
            created_at: job.created_at,
            started_at: None,
            finished_at: None,
            updated_at: job.created_at,
        };
        if let Some(key) = &job.unique_key {
            state.unique.insert(key.clone(), job.id);
        }
        state.jobs.insert(job.id, record.clone());
        Ok((record, true))
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.state().jobs.get(id).cloned())
    }

    async fn jobs(
        &self,
        status: Option<JobStatus>,
        before: Option<&JobId>,
        limit: usize,
    ) -> Result<Vec<JobRecord>, StoreError> {
        let state = self.state();
        let older = match before {
            Some(before) => state.jobs.range(..*before),
            None => state.jobs.range(..),
        };
        Ok(older
            .rev()
            .map(|(_, job)| job)
            .filter(|job| status.is_none_or(|status| job.status == status))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn settle_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let mut settled = 0;
        for job in state.jobs.values_mut() {
            let expired = job.status == JobStatus::Running
                && job.lease_until.is_some_and(|until| until < now);
            if !expired {
                continue;
            }
            if job.cancel_requested {
                job.status = JobStatus::Cancelled;
            } else if job.attempts >= job.max_attempts {
                job.status = JobStatus::Failed;
                job.error = Some(expired_error(job));
            } else {
                continue;
            }
            let_go(job, now);
            job.finished_at = Some(now);
            settled += 1;
        }
        Ok(settled)
    }

    async fn claim(
        &self,
        worker: &str,
        token: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let mut state = self.state();
        let Some(job) = state.jobs.values_mut().find(|job| claimable(job, now)) else {
            return Ok(None);
        };
        job.status = JobStatus::Running;
        job.worker = Some(worker.to_owned());
        job.lease_token = Some(token.to_owned());
        job.lease_until = Some(lease_until);
        job.attempts += 1;
        job.started_at = Some(now);
        job.updated_at = now;
        Ok(Some(job.clone()))
    }

    async fn heartbeat(
        &self,
        lease: &Lease,
        progress: &Progress,
        checkpoint: Option<&str>,
        now: i64,
        lease_until: i64,
    ) -> Result<Held, StoreError> {
        let mut state = self.state();
        let Some(job) = state.held(lease) else {
            return Ok(Held::Lost);
        };
        job.progress = progress.clone();
        if let Some(checkpoint) = checkpoint {
            job.checkpoint = Some(checkpoint.to_owned());
        }
        job.updated_at = now;
        job.lease_until = Some(lease_until);
        Ok(Held::Yes {
            cancel_requested: job.cancel_requested,
        })
    }

    async fn finish(&self, lease: &Lease, end: &JobEnd, now: i64) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(job) = state.held(lease) else {
            return Ok(false);
        };
        match end {
            JobEnd::Succeeded { result, progress } => {
                job.status = JobStatus::Succeeded;
                job.result = Some(result.clone());
                job.progress = progress.clone();
                job.error = None;
                job.finished_at = Some(now);
            }
            JobEnd::Failed {
                error,
                retry_at: Some(retry_at),
            } => {
                job.status = JobStatus::Queued;
                job.error = Some(error.clone());
                job.run_after = *retry_at;
            }
            JobEnd::Failed {
                error,
                retry_at: None,
            } => {
                job.status = JobStatus::Failed;
                job.error = Some(error.clone());
                job.finished_at = Some(now);
            }
            JobEnd::Cancelled => {
                job.status = JobStatus::Cancelled;
                job.finished_at = Some(now);
            }
            JobEnd::Released => {
                job.status = JobStatus::Queued;
                job.attempts = job.attempts.saturating_sub(1);
                job.run_after = now;
            }
        }
        let_go(job, now);
        Ok(true)
    }

    async fn cancel(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError> {
        let mut state = self.state();
        let Some(job) = state.jobs.get_mut(id) else {
            return Ok(None);
        };
        match job.status {
            JobStatus::Queued => {
                job.status = JobStatus::Cancelled;
                job.finished_at = Some(now);
                job.updated_at = now;
            }
            JobStatus::Running => {
                job.cancel_requested = true;
                job.updated_at = now;
            }
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled => {}
        }
        Ok(Some(job.clone()))
    }

    async fn retry(&self, id: &JobId, now: i64) -> Result<Option<JobRecord>, StoreError> {
        let mut state = self.state();
        let Some(job) = state.jobs.get_mut(id) else {
            return Ok(None);
        };
        if matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
            job.status = JobStatus::Queued;
            job.attempts = 0;
            job.error = None;
            job.result = None;
            job.checkpoint = None;
            job.cancel_requested = false;
            job.progress = Progress::default();
            job.run_after = now;
            job.started_at = None;
            job.finished_at = None;
            job.updated_at = now;
        }
        Ok(Some(job.clone()))
    }

    async fn purge(&self, finished_before: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let old: Vec<JobId> = state
            .jobs
            .values()
            .filter(|job| job.status.is_finished())
            .filter(|job| job.finished_at.is_some_and(|at| at < finished_before))
            .map(|job| job.id)
            .collect();
        for id in &old {
            if let Some(job) = state.jobs.remove(id)
                && let Some(key) = job.unique_key
            {
                state.unique.remove(&key);
            }
            state.drop_chunks(id, None);
        }
        Ok(old.len() as u64)
    }

    async fn count_jobs(&self) -> Result<Vec<JobCount>, StoreError> {
        let state = self.state();
        let mut counts: BTreeMap<_, u64> = BTreeMap::new();
        for job in state.jobs.values() {
            *counts.entry((job.kind, job.status)).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|((kind, status), count)| JobCount {
                kind,
                status,
                count,
            })
            .collect())
    }

    async fn worker_seen(&self, worker: &WorkerRecord) -> Result<(), StoreError> {
        self.state()
            .workers
            .insert(worker.name.clone(), worker.clone());
        Ok(())
    }

    async fn worker_gone(&self, name: &str) -> Result<(), StoreError> {
        self.state().workers.remove(name);
        Ok(())
    }

    async fn workers(&self, seen_since: i64) -> Result<Vec<WorkerRecord>, StoreError> {
        Ok(self
            .state()
            .workers
            .values()
            .filter(|worker| worker.last_seen >= seen_since)
            .cloned()
            .collect())
    }

    async fn put_chunk(
        &self,
        id: &JobId,
        part: &str,
        seq: u32,
        data: &[u8],
    ) -> Result<(), StoreError> {
        self.state()
            .chunks
            .insert((*id, part.to_owned(), seq), data.to_vec());
        Ok(())
    }

    async fn chunk(&self, id: &JobId, part: &str, seq: u32) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .state()
            .chunks
            .get(&(*id, part.to_owned(), seq))
            .cloned())
    }

    async fn drop_chunks(&self, id: &JobId, part: &str) -> Result<(), StoreError> {
        self.state().drop_chunks(id, Some(part));
        Ok(())
    }
}

/// Whether `claim` may take `job` at `now`.
fn claimable(job: &JobRecord, now: i64) -> bool {
    match job.status {
        JobStatus::Queued => job.run_after <= now,
        JobStatus::Running => {
            job.lease_until.is_some_and(|until| until < now)
                && !job.cancel_requested
                && job.attempts < job.max_attempts
        }
        _ => false,
    }
}

/// The error of a job whose last worker stopped answering on its last attempt; every backend
/// writes this text.
pub(super) fn expired_error(job: &JobRecord) -> String {
    format!(
        "its worker {} stopped answering (lease expired) on attempt {} of {}",
        job.worker.as_deref().unwrap_or("(unknown)"),
        job.attempts,
        job.max_attempts
    )
}
