//! `tally config`: prints what tally would use, one `name: value` line each, so a deployment
//! can be checked without starting it. Passwords are never printed. The configuration was
//! already validated; an invalid one never gets here (exit code 2).

use crate::{
    config::{Config, redact},
    store::StoreSpec,
};

/// Prints the effective settings to stdout.
pub fn run(config: &Config) {
    let store = match &config.store {
        StoreSpec::Postgres(options) => format!("postgres at {}", describe_postgres(options)),
        StoreSpec::Redis(info) => format!("redis at {}", info.addr()),
        StoreSpec::Sqlite(options) => format!("sqlite at {}", options.get_filename().display()),
        StoreSpec::Memory => "memory".to_owned(),
    };
    println!("store: {store}");
    println!("store_reason: {}", config.store_reason);
    println!(
        "admin_token: {}",
        if config.admin_token.is_some() {
            "set (hidden)"
        } else {
            "not set: the admin routes answer 403"
        }
    );
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
    println!("max_streams: {}", config.live.max_streams);
    println!("import_limit: {} bytes", config.import_limit);
    println!("history_days: {}", config.history_days);
    println!(
        "workers: {} in-process, job lease {}",
        config.jobs.workers,
        humantime::format_duration(config.jobs.lease)
    );
    println!("log: {} ({:?})", config.log.filter, config.log.format);
    println!("healthcheck_url: {}", redact(&config.healthcheck_url));
}

/// `user@host:port/db`: the connect options hold the password, so they are never shown whole.
fn describe_postgres(options: &sqlx::postgres::PgConnectOptions) -> String {
    format!(
        "{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)")
    )
}
