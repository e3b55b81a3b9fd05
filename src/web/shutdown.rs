//! [`Shutdown`]: tells the responses that never end by themselves (the job event streams)
//! that tally is stopping, so that they end at once instead of holding the graceful shutdown
//! until `SHUTDOWN_TIMEOUT` cuts them.

use std::sync::Arc;

use tokio::sync::watch;

/// Set once, when the server stops accepting; cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    begun: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            begun: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Shutdown {
    /// Marks the shutdown as begun; every [`Shutdown::begun`] completes.
    pub fn begin(&self) {
        self.begun.send_replace(true);
    }

    /// Completes once the shutdown has begun (at once if it has).
    pub async fn begun(&self) {
        let mut begun = self.begun.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = begun.wait_for(|begun| *begun).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn waiters_complete_once_it_begins() {
        let shutdown = Shutdown::default();
        let waiting = shutdown.clone();
        let waiter = tokio::spawn(async move { waiting.begun().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        shutdown.begin();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("the waiter completes")
            .expect("no panic");
        // Later waiters complete at once.
        tokio::time::timeout(Duration::from_millis(100), shutdown.begun())
            .await
            .expect("at once");
    }
}
