//! [`Running`]: what a job's code sees while it runs, and the heartbeat that reports it.
//!
//! The job's code only records how far it got ([`Running::step`]) and asks at its safe points
//! whether it must stop ([`Running::safe_point`]). A separate heartbeat task writes the latest
//! step to the queue at least once a second, extending the lease at the same time, and is the
//! one that learns of a cancel or of a lost lease; SIGTERM reaches the job the same way. So
//! job code has no store round trips of its own for progress, and progress is written at a
//! steady rate however fast the job goes.
//!
//! A step's progress and checkpoint are written together, from one snapshot: a worker that
//! takes the job over resumes from a checkpoint that matches the `done` it shows.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::sync::watch;

use super::JobError;
use crate::store::{
    Store, StoreError,
    job::{Held, JobRecord, Lease, Progress},
};

/// Why a job must stop before it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A cancel was asked: the job ends `cancelled`.
    Cancelled,
    /// The worker is shutting down: the job is handed back, to resume elsewhere.
    Shutdown,
    /// Another worker holds the job now: write nothing more.
    LeaseLost,
}

/// The job being run, as its code sees it.
#[derive(Clone)]
pub struct Running {
    pub job: JobRecord,
    pub lease: Lease,
    state: Arc<Mutex<Step>>,
    stop: watch::Sender<Option<Stop>>,
}

#[derive(Clone)]
struct Step {
    progress: Progress,
    checkpoint: Option<String>,
}

impl Running {
    pub fn new(job: JobRecord, lease: Lease) -> Running {
        let step = Step {
            progress: job.progress.clone(),
            checkpoint: job.checkpoint.clone(),
        };
        Running {
            job,
            lease,
            state: Arc::new(Mutex::new(step)),
            stop: watch::channel(None).0,
        }
    }

    fn step_state(&self) -> MutexGuard<'_, Step> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records progress, and where to resume from when `checkpoint` is given.
    pub fn step(
        &self,
        done: u64,
        total: Option<u64>,
        message: impl Into<String>,
        checkpoint: Option<String>,
    ) {
        let mut state = self.step_state();
        state.progress = Progress {
            done,
            total,
            message: message.into(),
        };
        if checkpoint.is_some() {
            state.checkpoint = checkpoint;
        }
    }

    /// The progress recorded last.
    pub fn progress(&self) -> Progress {
        self.step_state().progress.clone()
    }

    /// `Err(JobError::Stopped)` when the job must stop here.
    pub fn safe_point(&self) -> Result<(), JobError> {
        match *self.stop.borrow() {
            Some(_) => Err(JobError::Stopped),
            None => Ok(()),
        }
    }

    /// Why the job must stop, if it must.
    pub fn stop_reason(&self) -> Option<Stop> {
        *self.stop.borrow()
    }

    /// Asks the job to stop; the first reason given wins.
    pub fn stop(&self, reason: Stop) {
        self.stop.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Writes the latest step to the queue and extends the lease: one heartbeat. Stops the
    /// job on a cancel or a lost lease.
    pub async fn beat(&self, store: &Store, lease: Duration) -> Result<Held, StoreError> {
        let Step {
            progress,
            checkpoint,
        } = self.step_state().clone();
        let held = store
            .heartbeat(&self.lease, &progress, checkpoint.as_deref(), lease)
            .await?;
        match held {
            Held::Yes {
                cancel_requested: true,
            } => self.stop(Stop::Cancelled),
            Held::Yes { .. } => {}
            Held::Lost => self.stop(Stop::LeaseLost),
        }
        Ok(held)
    }

    /// Beats every `every` until aborted or the lease is lost. A store that does not answer
    /// is tried again at the next beat; once the lease has run out without one successful
    /// beat, the job is as good as taken over and stops.
    pub async fn heartbeat(self, store: Store, lease: Duration, every: Duration) {
        let mut last_ok = tokio::time::Instant::now();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.beat(&store, lease).await {
                Ok(Held::Yes { .. }) => last_ok = tokio::time::Instant::now(),
                Ok(Held::Lost) => return,
                Err(err) => {
                    tracing::warn!(job = %self.job.id, error = %err, "cannot report the job's progress");
                    if last_ok.elapsed() >= lease {
                        self.stop(Stop::LeaseLost);
                        return;
                    }
                }
            }
        }
    }
}
