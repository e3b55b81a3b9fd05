//! The one task per process that follows the store's change feed while anyone follows a
//! counter: it subscribes, delivers what comes to the hub, and when the subscription breaks
//! (a restart of PostgreSQL or Redis, a dropped link) subscribes again, with growing pauses
//! while the store is down, then reads every followed counter afresh.

use std::{
    pin::pin,
    sync::{Arc, Weak},
    time::Duration,
};

use super::hub::Inner;

/// The pause before following again after a failure, doubled at each failure in a row up to
/// [`LONGEST_PAUSE`]: a restarted server is found within a second or two.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Follows changes for `hub` until aborted (the last follower left) or the hub is gone.
pub(super) async fn follow(hub: Weak<Inner>, run: u64) {
    let mut pause = FIRST_PAUSE;
    let mut failing = false;
    loop {
        let Some(inner) = hub.upgrade() else {
            return;
        };
        match inner.store.follow_changes().await {
            Ok(mut changes) => {
                if failing {
                    tracing::info!("following the store's changes again");
                }
                failing = false;
                pause = FIRST_PAUSE;
                inner.set_following(run, true);
                let broke = deliver(&inner, changes.as_mut()).await;
                inner.set_following(run, false);
                tracing::warn!(error = %broke, "the store's change feed broke; following again");
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(error = %err, "cannot follow the store's changes; trying again");
                }
                failing = true;
            }
        }
        drop(inner);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Delivers changes until the subscription breaks, reading the followed counters afresh
/// meanwhile; the error that broke it.
async fn deliver(
    inner: &Arc<Inner>,
    changes: &mut dyn crate::store::ChangeStream,
) -> crate::store::StoreError {
    let mut catch_up = pin!(inner.catch_up());
    let mut caught_up = false;
    loop {
        tokio::select! {
            () = &mut catch_up, if !caught_up => caught_up = true,
            next = changes.next() => match next {
                Ok(batch) => inner.delivered(batch),
                Err(err) => return err,
            },
        }
    }
}
