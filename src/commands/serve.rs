//! `tally` / `tally serve`: the web server. All the work is in [`crate::startup::App`]; this
//! file only gives the command its place next to the others.

use crate::{config::Config, startup::App};

/// Serves HTTP until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn run(config: Config) -> anyhow::Result<()> {
    App::build(config).await?.run_until_stopped().await
}
