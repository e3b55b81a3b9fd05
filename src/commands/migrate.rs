//! `tally migrate`: applies the embedded migrations to the configured database, so a deploy
//! can create the schema in one step before any server starts.

use anyhow::Context;

use crate::{
    config::Config,
    store::{self, Backend},
};

/// Migrates the configured store; Redis and memory keep no schema and succeed at once.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let backend = config.store.backend();
    if matches!(backend, Backend::Redis | Backend::Memory) {
        println!("{backend} keeps no schema: nothing to migrate");
        return Ok(());
    }
    let store = store::open(&config.store, config.store_timeout)
        .with_context(|| format!("Failed to open the {backend} store"))?;
    let result = store
        .migrate()
        .await
        .with_context(|| format!("Failed to apply the {backend} migrations"));
    store.close().await;
    result?;
    println!("{backend}: migrations applied");
    Ok(())
}
