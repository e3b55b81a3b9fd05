//! What each subcommand does once the configuration is valid.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;

use crate::{
    config::{Config, TickConfig},
    startup::{App, shutdown_signal},
    store::{self, Backend, StoreSpec},
};

/// `tally` / `tally serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    App::build(config).await?.run_until_stopped().await
}

/// `tally config`: what tally would use, one `name: value` line each, passwords hidden. The
/// configuration was already validated; an invalid one never gets here (exit code 2).
pub fn show_config(config: &Config) {
    let store = match &config.store {
        StoreSpec::Postgres(options) => format!("postgres at {}", describe_postgres(options)),
        StoreSpec::Redis(info) => format!("redis at {}", info.addr()),
        StoreSpec::Sqlite(options) => format!("sqlite at {}", options.get_filename().display()),
        StoreSpec::Memory => "memory".to_owned(),
    };
    println!("store: {store}");
    println!("store_reason: {}", config.store_reason);
    println!(
        "listen: {}",
        std::net::SocketAddr::new(config.host, config.port)
    );
    println!(
        "hello_postgres: {}",
        config
            .hello_postgres
            .as_ref()
            .map_or_else(|| "not configured".to_owned(), describe_postgres)
    );
    println!(
        "store_timeout: {}",
        humantime::format_duration(config.store_timeout)
    );
    let server = &config.server;
    for (name, timeout) in [
        ("header_timeout", server.header_timeout),
        ("keepalive_timeout", server.keepalive_timeout),
        ("shutdown_timeout", server.shutdown_timeout),
    ] {
        println!("{name}: {}", humantime::format_duration(timeout));
    }
    println!("max_connections: {}", server.max_connections);
    println!("log: {} ({:?})", config.log.filter, config.log.format);
    println!("healthcheck_url: {}", config.healthcheck_url);
}

fn describe_postgres(options: &sqlx::postgres::PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)")
    )
}

/// `tally migrate`: applies the embedded migrations to the configured database.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
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

/// `tally tick`: the worker of the Python + Redis tutorial. Increments a counter every
/// interval and prints `Counter: N`. While the store is down it says so on stderr and tries
/// again at the next tick; a failed increment is never repeated (it may have been applied),
/// the next tick is simply a new one.
pub async fn tick(config: Config, tick: TickConfig) -> anyhow::Result<()> {
    let store = store::open(&config.store, config.store_timeout)
        .with_context(|| format!("Failed to open the {} store", config.store.backend()))?;
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

/// `tally healthcheck`: 0 when `url` answers 200, 1 otherwise. For container HEALTHCHECKs,
/// where the runtime image has no curl.
pub async fn healthcheck(url: &str) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            eprintln!("unhealthy: cannot create an HTTP client: {err}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("healthy: {url} answered {}", response.status());
            ExitCode::SUCCESS
        }
        Ok(response) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unhealthy: cannot reach {url}: {err}");
            ExitCode::FAILURE
        }
    }
}
