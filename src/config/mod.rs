//! One typed [`Config`] built from the raw [`Settings`], or one [`ConfigError`] that names the
//! variable, what was given and what is accepted.
//!
//! Everything that can be checked without touching the network is checked here, before the
//! server binds: a typo in `COUNTER_STORE` or an unparsable `DATABASE_URI` must stop tally at
//! start (exit code 2), not surface as a 500 on the first visit. Values that may hold a
//! password (`DATABASE_URI`, `REDIS_URL`) are redacted in every message.
//!
//! One file per concern: `admin` (`ADMIN_TOKEN`), `connections` (timeouts and the connection
//! cap), `error` ([`ConfigError`]), `environment` (`.env`, empty values, the
//! `DATABASE_URL` alias), `server` (address, store timeout, healthcheck URL), `logging`,
//! `store_selection` (which store) and `store_address` (where it is), `tick` (`tally tick`'s
//! own settings), `limits` (the rate limit and the trusted proxies), `import` (the import's
//! body limit), `history` (`HISTORY_DAYS`), `live` (`MAX_STREAMS`), `redaction` ([`redact`])
//! and `parse` (the port and duration parsers several of them share). This file assembles
//! [`Config`] and re-exports the public names, so other code uses `crate::config::…` and never
//! a submodule.

mod admin;
mod connections;
mod environment;
mod error;
mod history;
mod import;
mod jobs;
mod limits;
mod live;
mod logging;
mod parse;
mod redaction;
mod server;
mod store_address;
mod store_selection;
mod tick;

use std::{net::IpAddr, time::Duration};

use sqlx::postgres::PgConnectOptions;

pub use self::{
    admin::MIN_ADMIN_TOKEN_LEN,
    connections::{
        DEFAULT_HEADER_TIMEOUT, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
        DEFAULT_SHUTDOWN_TIMEOUT, ServerLimits,
    },
    environment::load_dotenv,
    error::ConfigError,
    history::MAX_HISTORY_DAYS,
    import::DEFAULT_IMPORT_LIMIT,
    jobs::{DEFAULT_JOB_LEASE, DEFAULT_WORKERS, JobSettings, MAX_WORKERS, parse_count},
    limits::{DEFAULT_RATE_LIMIT, RateLimit, TrustedProxies},
    logging::{LogConfig, LogFormat},
    redaction::redact,
    server::{DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STORE_TIMEOUT},
    store_address::{DEFAULT_REDIS_PORT, target_store},
    store_selection::DEFAULT_SQLITE_PATH,
    tick::{DEFAULT_TICK_COUNTER, DEFAULT_TICK_INTERVAL, TickConfig},
};
use self::{
    admin::parse_admin_token,
    history::parse_history_days,
    import::parse_import_limit,
    jobs::parse_jobs,
    limits::{parse_rate_limit, parse_trusted_proxies},
    live::parse_live,
    logging::parse_log,
    parse::{parse_duration, parse_port},
    server::{own_healthz, parse_healthcheck_url, parse_host},
    store_selection::{StoreChoice, choose_store},
};
use crate::{
    cli::Settings,
    live::LiveOptions,
    store::{DEFAULT_HISTORY_DAYS, StoreSpec, TokenHash},
};

/// Everything `tally serve` (and the other commands) need, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub store: StoreSpec,
    /// Why this store was chosen, for the log line at start.
    pub store_reason: String,
    /// The PostgreSQL that `/hello` greets: `DATABASE_URI` whenever it is a postgres URI,
    /// whatever the counter store is.
    pub hello_postgres: Option<PgConnectOptions>,
    pub store_timeout: Duration,
    pub log: LogConfig,
    /// What `tally healthcheck` asks: `HEALTHCHECK_URL`, else this server's own `/healthz`
    /// (on loopback when it binds every address).
    pub healthcheck_url: String,
    /// The hash of `ADMIN_TOKEN`; `None`: no instance admin.
    pub admin_token: Option<TokenHash>,
    /// Timeouts and the connection cap that keep slow clients from holding the server.
    pub server: ServerLimits,
    /// `RATE_LIMIT`, per client address on the routes that are limited; `None` when `off`.
    pub rate_limit: Option<RateLimit>,
    /// `TRUSTED_PROXIES`: the peers whose forwarding headers name the client.
    pub trusted_proxies: TrustedProxies,
    /// `IMPORT_LIMIT`: the largest body `POST /api/v1/import` reads, in bytes.
    pub import_limit: u64,
    /// `WORKERS` and `JOB_LEASE`.
    pub jobs: JobSettings,
    /// `HISTORY_DAYS`: days of history kept, and the most `?days=` may ask for.
    pub history_days: u32,
    /// `MAX_STREAMS`, and the live streams' keep-alive and coalescing (fixed, but for tests).
    pub live: LiveOptions,
}

impl Config {
    /// A configuration for the given store with every other setting at its default, but for
    /// `WORKERS`, which is 0: an embedder or a test runs in-process job workers only when it
    /// asks for them (`config.jobs.workers`). What the tests and embedders start from.
    pub fn with_store(store: StoreSpec) -> Config {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: DEFAULT_PORT,
            store_reason: format!("set programmatically to {}", store.backend()),
            store,
            hello_postgres: None,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            log: LogConfig {
                filter: "info".to_owned(),
                format: LogFormat::Pretty,
            },
            healthcheck_url: own_healthz(IpAddr::from([127, 0, 0, 1]), DEFAULT_PORT),
            admin_token: None,
            server: ServerLimits::default(),
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            trusted_proxies: TrustedProxies::default(),
            import_limit: DEFAULT_IMPORT_LIMIT,
            jobs: JobSettings {
                workers: 0,
                ..JobSettings::default()
            },
            history_days: DEFAULT_HISTORY_DAYS,
            live: LiveOptions::default(),
        }
    }

    /// Validates every setting. Pure: reads nothing but `settings`.
    pub fn from_settings(settings: &Settings) -> Result<Config, ConfigError> {
        let host = parse_host(settings.host.as_deref())?;
        let port = match settings.port.as_deref() {
            None => DEFAULT_PORT,
            Some(port) => parse_port("PORT", port, 0)?,
        };
        let store_timeout = match settings.store_timeout.as_deref() {
            None => DEFAULT_STORE_TIMEOUT,
            Some(value) => parse_duration("STORE_TIMEOUT", value)?,
        };
        let log = parse_log(settings)?;
        let StoreChoice {
            store,
            reason: store_reason,
            hello_postgres,
        } = choose_store(settings)?;
        let healthcheck_url = match settings.healthcheck_url.as_deref() {
            None => own_healthz(host, port),
            Some(url) => parse_healthcheck_url(url)?,
        };
        let admin_token = parse_admin_token(settings.admin_token.as_deref())?;
        let server = ServerLimits::from_settings(settings)?;
        let rate_limit = parse_rate_limit(settings)?;
        let trusted_proxies = parse_trusted_proxies(settings)?;
        let import_limit = parse_import_limit(settings)?;
        let jobs = parse_jobs(settings)?;
        let history_days = parse_history_days(settings)?;
        let live = parse_live(settings)?;
        Ok(Config {
            host,
            port,
            store,
            store_reason,
            hello_postgres,
            store_timeout,
            log,
            healthcheck_url,
            admin_token,
            server,
            rate_limit,
            trusted_proxies,
            import_limit,
            jobs,
            history_days,
            live,
        })
    }
}

/// No setting given; for the tests of every concern.
#[cfg(test)]
fn settings() -> Settings {
    Settings::default()
}

/// The error `settings` must give; for the tests of every concern.
#[cfg(test)]
fn rejected(settings: &Settings) -> ConfigError {
    Config::from_settings(settings).expect_err("settings should be rejected")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_configured_selects_embedded_sqlite_at_the_default_path() {
        let config = Config::from_settings(&settings()).expect("defaults are valid");
        let StoreSpec::Sqlite(options) = &config.store else {
            panic!("expected sqlite, got {:?}", config.store);
        };
        assert_eq!(
            options.get_filename(),
            std::path::Path::new(DEFAULT_SQLITE_PATH)
        );
        assert_eq!(config.port, 5000);
        assert_eq!(config.host.to_string(), "127.0.0.1");
        assert_eq!(config.store_timeout, Duration::from_secs(2));
        assert!(config.hello_postgres.is_none());
    }

    /// Every invalid setting gives one line naming its variable and what it accepts, with no
    /// password in it.
    ///
    /// The cases are shared with the binary's test
    /// (`invalid_settings_exit_2_with_one_line_naming_the_variable` in tests/api/binary.rs),
    /// which runs `tally` with each: one table, so the two cannot drift apart. It is a data
    /// file under tests/ pulled in with `include!` rather than a `#[doc(hidden)] pub` const of
    /// the library, so test data never ships in the library; the file is compiled only into
    /// tests. Each case is given as environment variables, as a user would set them, and
    /// [`environment::settings_from_env`] turns them into [`Settings`] the way `tally` reads
    /// its environment (aliases included), without touching this process's environment.
    #[test]
    fn invalid_values_name_their_variable_and_what_is_accepted() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/invalid_settings.rs"
        ));
        for (env, variable, accepted) in cases {
            let err = rejected(&environment::settings_from_env(env));
            assert_eq!(err.variable, *variable, "{env:?}: {err}");
            let line = err.to_string();
            assert!(
                line.contains(variable) && line.contains(accepted),
                "{env:?}: {line}"
            );
            assert!(!line.contains('\n'), "one line: {line}");
            assert!(!line.contains("hunter2"), "a password leaked: {line}");
        }
    }
}
