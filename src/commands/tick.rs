//! `tally tick`: the worker of the Python + Redis tutorial. It increments a counter every
//! interval and prints `Counter: N`; a store outage is reported and outlived, not fatal (the
//! README's "Commands" section).

use anyhow::Context;

use crate::{
    config::{Config, TickConfig},
    startup::shutdown_signal,
    store,
};

/// Ticks until SIGTERM or Ctrl-C. While the store is down it says so on stderr and tries
/// again at the next tick; a failed increment is never repeated (it may have been applied),
/// the next tick is simply a new one.
pub async fn run(config: Config, tick: TickConfig) -> anyhow::Result<()> {
    let store = store::open(&config.store, config.store_timeout)
        .with_context(|| format!("Failed to open the {} store", config.store.backend()))?
        .with_history_days(config.history_days);
    let mut interval = tokio::time::interval(tick.interval);
    // After a slow tick, keep the rhythm rather than firing a burst to catch up.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let every = humantime::format_duration(tick.interval);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = interval.tick() => match store.increment(&tick.counter, 1).await {
                Ok(count) => println!("Counter: {count}"),
                Err(err) if err.is_transient() => {
                    eprintln!("tick: store unavailable ({err}); trying again in {every}");
                }
                Err(err) => eprintln!("tick: increment failed ({err}); trying again in {every}"),
            },
        }
    }
    store.close().await;
    Ok(())
}
