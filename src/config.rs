//! One typed [`Config`] built from the raw [`Settings`], or one [`ConfigError`] that names the
//! variable, what was given and what is accepted.
//!
//! Everything that can be checked without touching the network is checked here, before the
//! server binds: a typo in `COUNTER_STORE` or an unparsable `DATABASE_URI` must stop tally at
//! start (exit code 2), not surface as a 500 on the first visit. Values that may hold a
//! password (`DATABASE_URI`, `REDIS_URL`) are redacted in every message.

use std::{collections::HashSet, fmt, net::IpAddr, path::PathBuf, str::FromStr, time::Duration};

use redis::IntoConnectionInfo;
use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

use crate::{
    cli::{Settings, TickArgs},
    store::{Backend, CounterName, StoreSpec},
};

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 5000;
pub const DEFAULT_REDIS_PORT: u16 = 6379;
pub const DEFAULT_SQLITE_PATH: &str = "data/tally.db";
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_TICK_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_TICK_COUNTER: &str = "tick_count";

/// A setting that was given but cannot be used. Displayed as one line for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable (the flag is its lower-case, dashed twin).
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            variable,
            message: message.into(),
        }
    }

    fn invalid(variable: &'static str, given: &str, accepted: &str) -> Self {
        ConfigError::new(
            variable,
            format!("{given:?} is not valid; accepted: {accepted}"),
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub filter: String,
    pub format: LogFormat,
}

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
    /// Timeouts and the connection cap that keep slow clients from holding the server.
    pub server: ServerLimits,
}

impl Config {
    /// A configuration for the given store with every other setting at its default; what the
    /// tests and embedders start from.
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
            server: ServerLimits::default(),
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
        let database = settings
            .database_uri
            .as_deref()
            .map(|uri| parse_database_uri(settings.database_uri_variable(), uri))
            .transpose()?;
        let redis = parse_redis(settings)?;
        let sqlite_path = match settings.sqlite_path.as_deref() {
            None => PathBuf::from(DEFAULT_SQLITE_PATH),
            Some(path) => PathBuf::from(path),
        };
        let (store, store_reason) = select_store(settings, &database, redis, sqlite_path)?;
        let hello_postgres = match database {
            Some(DatabaseUri::Postgres(options)) => Some(options),
            _ => None,
        };
        let healthcheck_url = match settings.healthcheck_url.as_deref() {
            None => own_healthz(host, port),
            Some(url) => parse_healthcheck_url(url)?,
        };
        let server = ServerLimits::from_settings(settings)?;
        Ok(Config {
            host,
            port,
            store,
            store_reason,
            hello_postgres,
            store_timeout,
            log,
            healthcheck_url,
            server,
        })
    }
}

impl Settings {
    /// Treats empty values as unset (what `PORT=` in a `.env` or a compose file's
    /// `${REDIS_HOST:-}` mean), then resolves the `DATABASE_URL` alias (the name sqlx-cli and
    /// many platforms use). Call after [`load_dotenv`], with the names it reported as set in
    /// the process environment.
    ///
    /// `DATABASE_URI` wins over `DATABASE_URL` at the same level, but the documented order of
    /// levels comes first: a `DATABASE_URL` in the process environment wins over a
    /// `DATABASE_URI` that only `.env` set.
    pub fn normalize(&mut self, process_env: &HashSet<String>) {
        for value in [
            &mut self.host,
            &mut self.port,
            &mut self.counter_store,
            &mut self.database_uri,
            &mut self.redis_host,
            &mut self.redis_port,
            &mut self.redis_url,
            &mut self.sqlite_path,
            &mut self.store_timeout,
            &mut self.log,
            &mut self.log_format,
            &mut self.healthcheck_url,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        let alias = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty());
        // A value equal to the environment's came from the environment; otherwise from a flag.
        let uri_only_from_dotenv = self.database_uri.is_some()
            && !process_env.contains("DATABASE_URI")
            && std::env::var("DATABASE_URI").ok() == self.database_uri;
        let use_alias = self.database_uri.is_none()
            || (uri_only_from_dotenv && process_env.contains("DATABASE_URL"));
        if use_alias && let Some(url) = alias {
            self.database_uri = Some(url);
            self.database_uri_from_alias = true;
        }
    }

    fn database_uri_variable(&self) -> &'static str {
        if self.database_uri_from_alias {
            "DATABASE_URL"
        } else {
            "DATABASE_URI"
        }
    }
}

enum DatabaseUri {
    Postgres(PgConnectOptions),
    Sqlite(SqliteConnectOptions),
}

fn select_store(
    settings: &Settings,
    database: &Option<DatabaseUri>,
    redis: Option<(redis::ConnectionInfo, &'static str)>,
    sqlite_path: PathBuf,
) -> Result<(StoreSpec, String), ConfigError> {
    let embedded = || StoreSpec::Sqlite(SqliteConnectOptions::new().filename(&sqlite_path));
    let Some(requested) = settings.counter_store.as_deref() else {
        // The documented rule: DATABASE_URI, then Redis, then the embedded default.
        return Ok(match (database, redis) {
            (Some(DatabaseUri::Postgres(options)), _) => (
                StoreSpec::Postgres(options.clone()),
                "DATABASE_URI is a postgres URI".to_owned(),
            ),
            (Some(DatabaseUri::Sqlite(options)), _) => (
                StoreSpec::Sqlite(options.clone()),
                "DATABASE_URI is a sqlite URI".to_owned(),
            ),
            (None, Some((info, variable))) => {
                (StoreSpec::Redis(info), format!("{variable} is set"))
            }
            (None, None) => (
                embedded(),
                format!(
                    "nothing configured: embedded SQLite at {}",
                    sqlite_path.display()
                ),
            ),
        });
    };
    let backend = Backend::parse(requested).ok_or_else(|| {
        ConfigError::invalid(
            "COUNTER_STORE",
            requested,
            "postgres, redis, sqlite or memory",
        )
    })?;
    let reason = format!("COUNTER_STORE={backend}");
    let spec = match backend {
        Backend::Postgres => match database {
            Some(DatabaseUri::Postgres(options)) => StoreSpec::Postgres(options.clone()),
            _ => {
                return Err(ConfigError::new(
                    "DATABASE_URI",
                    "COUNTER_STORE=postgres needs DATABASE_URI=postgres://user:password@host:5432/db",
                ));
            }
        },
        Backend::Redis => match redis {
            Some((info, _)) => StoreSpec::Redis(info),
            None => {
                return Err(ConfigError::new(
                    "REDIS_HOST",
                    "COUNTER_STORE=redis needs REDIS_HOST (and REDIS_PORT) or REDIS_URL=redis://host:6379",
                ));
            }
        },
        Backend::Sqlite => match database {
            Some(DatabaseUri::Sqlite(options)) => StoreSpec::Sqlite(options.clone()),
            _ => embedded(),
        },
        Backend::Memory => StoreSpec::Memory,
    };
    Ok((spec, reason))
}

fn parse_host(host: Option<&str>) -> Result<IpAddr, ConfigError> {
    let host = host.unwrap_or(DEFAULT_HOST).trim();
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    IpAddr::from_str(host).map_err(|_| {
        ConfigError::invalid(
            "HOST",
            host,
            "an IP address such as 127.0.0.1, 0.0.0.0 or ::, or localhost",
        )
    })
}

fn parse_port(variable: &'static str, value: &str, min: u16) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port >= min)
        .ok_or_else(|| {
            ConfigError::invalid(
                variable,
                value,
                &format!("a port number from {min} to 65535"),
            )
        })
}

fn parse_duration(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim())
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| {
            ConfigError::invalid(
                variable,
                value,
                "a duration above zero such as 2s, 500ms or 1m",
            )
        })
}

fn parse_log(settings: &Settings) -> Result<LogConfig, ConfigError> {
    let filter = settings.log.clone().unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|_| {
        ConfigError::invalid(
            "RUST_LOG",
            &filter,
            "a tracing filter such as info, debug or tally=debug,tower_http=info",
        )
    })?;
    let format = match settings.log_format.as_deref().map(str::trim) {
        None => LogFormat::Pretty,
        Some(format) if format.eq_ignore_ascii_case("pretty") => LogFormat::Pretty,
        Some(format) if format.eq_ignore_ascii_case("json") => LogFormat::Json,
        Some(other) => return Err(ConfigError::invalid("LOG_FORMAT", other, "pretty or json")),
    };
    Ok(LogConfig { filter, format })
}

fn parse_database_uri(variable: &'static str, uri: &str) -> Result<DatabaseUri, ConfigError> {
    let accepted =
        "postgres://user:password@host:5432/db, postgresql://… or sqlite://path/to/file.db";
    let shown = redact(uri);
    let scheme = uri
        .split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "postgres" | "postgresql" => PgConnectOptions::from_str(uri)
            .map(DatabaseUri::Postgres)
            .map_err(|_| ConfigError::invalid(variable, &shown, accepted)),
        // An in-memory SQLite database vanishes with the pool's last connection, which sqlx
        // closes when idle: counts would silently reset. COUNTER_STORE=memory is the honest
        // way to count in memory.
        "sqlite" if uri.contains(":memory:") || uri.contains("mode=memory") => {
            Err(ConfigError::new(
                variable,
                format!(
                    "{shown:?} is an in-memory SQLite database, which tally does not support; use COUNTER_STORE=memory, or a file such as sqlite://data/tally.db"
                ),
            ))
        }
        "sqlite" => SqliteConnectOptions::from_str(uri)
            .map(DatabaseUri::Sqlite)
            .map_err(|_| ConfigError::invalid(variable, &shown, accepted)),
        _ => Err(ConfigError::invalid(variable, &shown, accepted)),
    }
}

/// Redis from `REDIS_URL`, else from `REDIS_HOST`/`REDIS_PORT`; with the variable that chose it.
fn parse_redis(
    settings: &Settings,
) -> Result<Option<(redis::ConnectionInfo, &'static str)>, ConfigError> {
    // A port that is set is checked even when REDIS_URL wins: a wrong value is still a mistake.
    let port = match settings.redis_port.as_deref() {
        None => DEFAULT_REDIS_PORT,
        Some(port) => parse_port("REDIS_PORT", port, 1)?,
    };
    if let Some(url) = settings.redis_url.as_deref() {
        let accepted = "redis://[user:password@]host[:port][/db] or rediss://… for TLS";
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("redis://") || lower.starts_with("rediss://")) {
            return Err(ConfigError::invalid("REDIS_URL", &redact(url), accepted));
        }
        let info = url
            .into_connection_info()
            .map_err(|_| ConfigError::invalid("REDIS_URL", &redact(url), accepted))?;
        return Ok(Some((info, "REDIS_URL")));
    }
    let Some(host) = settings.redis_host.as_deref() else {
        return Ok(None);
    };
    let host = host.trim();
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(ConfigError::invalid(
            "REDIS_HOST",
            host,
            "a host name or IP address such as redis or 127.0.0.1",
        ));
    }
    let info = redis::ConnectionAddr::Tcp(host.to_owned(), port)
        .into_connection_info()
        .map_err(|_| ConfigError::invalid("REDIS_HOST", host, "a host name or IP address"))?;
    Ok(Some((info, "REDIS_HOST")))
}

/// Hides secrets in a URI for error messages: `scheme://user:password@host/…?password=…`
/// becomes `scheme://user:***@host/…?password=***`.
pub fn redact(uri: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (uri, None),
    };
    let mut redacted = match base.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => base.to_owned(),
            },
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _value)) if is_secret_key(key) => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&params.join("&"));
    }
    redacted
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "key"]
        .iter()
        .any(|word| key.contains(word))
}

/// Loads `.env` from the working directory (not its parents) into the environment, without
/// overriding what is already set. Returns the names that were set *before*, so that
/// [`Settings::normalize`] can tell the process environment from `.env`.
///
/// A missing file is fine. A malformed line is reported by number and variable name only:
/// the line itself may hold a password.
pub fn load_dotenv() -> Result<HashSet<String>, ConfigError> {
    let process_env = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    match dotenvy::from_path(".env") {
        Ok(()) => Ok(process_env),
        Err(err) if err.not_found() => Ok(process_env),
        Err(dotenvy::Error::LineParse(text, _)) => {
            // dotenvy reports either the whole line or only its value; find the line it was.
            let text = text.trim();
            let found = std::fs::read_to_string(".env").ok().and_then(|file| {
                file.lines()
                    .enumerate()
                    .find(|(_, line)| !text.is_empty() && line.trim_end().ends_with(text))
                    .map(|(index, line)| (index + 1, line.to_owned()))
            });
            let described = match found {
                Some((number, line)) => match line.split_once('=') {
                    Some((name, _)) if !name.trim().is_empty() => {
                        format!("line {number} ({})", name.trim())
                    }
                    _ => format!("line {number}"),
                },
                None => "a line".to_owned(),
            };
            Err(ConfigError::new(
                ".env",
                format!(
                    "{described} is not of the form NAME=value (its text is not shown: it may hold a secret)"
                ),
            ))
        }
        Err(err) => Err(ConfigError::new(".env", format!("cannot be read: {err}"))),
    }
}

/// An empty value counts as unset.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// What `tally tick` needs.
#[derive(Debug, Clone)]
pub struct TickConfig {
    pub interval: Duration,
    pub counter: CounterName,
}

impl TickConfig {
    pub fn from_args(args: &TickArgs) -> Result<TickConfig, ConfigError> {
        let interval = match non_empty(&args.interval) {
            None => DEFAULT_TICK_INTERVAL,
            Some(value) => parse_duration("TICK_INTERVAL", value)?,
        };
        let counter = CounterName::parse(non_empty(&args.counter).unwrap_or(DEFAULT_TICK_COUNTER))
            .map_err(|err| ConfigError::new("TICK_COUNTER", err.to_string()))?;
        Ok(TickConfig { interval, counter })
    }
}

pub use server::ServerLimits;

/// `HEADER_TIMEOUT`, `KEEPALIVE_TIMEOUT`, `SHUTDOWN_TIMEOUT` and `MAX_CONNECTIONS`: what the
/// README's "Slow, idle and stuck clients" section promises, parsed in one place.
pub mod server {
    use std::time::Duration;

    use super::{ConfigError, non_empty, parse_duration};
    use crate::cli::Settings;

    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Under Docker's 10 s between SIGTERM and SIGKILL, so tally always exits by itself.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(8);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ServerLimits {
        /// A request head must arrive within this, from the connection (first request) or
        /// from its first byte (later requests).
        pub header_timeout: Duration,
        /// A keep-alive connection idle this long between requests is closed.
        pub keepalive_timeout: Duration,
        /// How long a stop waits for requests in flight before cutting them.
        pub shutdown_timeout: Duration,
        /// Connections served at once; more wait in the kernel's backlog.
        pub max_connections: usize,
        /// Whether `MAX_CONNECTIONS` was given: a given value is never lowered behind the
        /// user's back, the default is.
        pub max_connections_given: bool,
    }

    impl Default for ServerLimits {
        fn default() -> Self {
            ServerLimits {
                header_timeout: DEFAULT_HEADER_TIMEOUT,
                keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
                shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                max_connections_given: false,
            }
        }
    }

    impl ServerLimits {
        /// Validates the four settings. Pure; whether `MAX_CONNECTIONS` fits the process's
        /// open-file limit is checked when the server starts (`crate::server::open_files`).
        pub fn from_settings(settings: &Settings) -> Result<ServerLimits, ConfigError> {
            let duration = |variable, value: &Option<String>, default| match non_empty(value) {
                None => Ok(default),
                Some(value) => parse_duration(variable, value),
            };
            let max_connections = match non_empty(&settings.max_connections) {
                None => None,
                Some(value) => Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|max| *max >= 1)
                        .ok_or_else(|| {
                            ConfigError::invalid(
                                "MAX_CONNECTIONS",
                                value,
                                "a whole number of at least 1, such as 10000",
                            )
                        })?,
                ),
            };
            Ok(ServerLimits {
                header_timeout: duration(
                    "HEADER_TIMEOUT",
                    &settings.header_timeout,
                    DEFAULT_HEADER_TIMEOUT,
                )?,
                keepalive_timeout: duration(
                    "KEEPALIVE_TIMEOUT",
                    &settings.keepalive_timeout,
                    DEFAULT_KEEPALIVE_TIMEOUT,
                )?,
                shutdown_timeout: duration(
                    "SHUTDOWN_TIMEOUT",
                    &settings.shutdown_timeout,
                    DEFAULT_SHUTDOWN_TIMEOUT,
                )?,
                max_connections: max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
                max_connections_given: max_connections.is_some(),
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn defaults_apply_when_nothing_or_empty_values_are_given() {
            let limits = ServerLimits::from_settings(&Settings::default()).expect("defaults");
            assert_eq!(limits, ServerLimits::default());
            let empty = Settings {
                header_timeout: Some(" ".into()),
                max_connections: Some(String::new()),
                ..Settings::default()
            };
            let limits = ServerLimits::from_settings(&empty).expect("empty is unset");
            assert_eq!(limits, ServerLimits::default());
        }

        #[test]
        fn given_values_are_used_and_marked() {
            let s = Settings {
                header_timeout: Some("500ms".into()),
                keepalive_timeout: Some("2m".into()),
                shutdown_timeout: Some("3s".into()),
                max_connections: Some(" 250 ".into()),
                ..Settings::default()
            };
            let limits = ServerLimits::from_settings(&s).expect("valid");
            assert_eq!(limits.header_timeout, Duration::from_millis(500));
            assert_eq!(limits.keepalive_timeout, Duration::from_secs(120));
            assert_eq!(limits.shutdown_timeout, Duration::from_secs(3));
            assert_eq!(limits.max_connections, 250);
            assert!(limits.max_connections_given);
        }

        #[test]
        fn invalid_values_name_their_variable_on_one_line() {
            type Case = (&'static str, fn(&mut Settings), &'static str);
            let cases: [Case; 6] = [
                (
                    "HEADER_TIMEOUT",
                    |s| s.header_timeout = Some("soon".into()),
                    "2s",
                ),
                (
                    "HEADER_TIMEOUT",
                    |s| s.header_timeout = Some("0s".into()),
                    "above zero",
                ),
                (
                    "KEEPALIVE_TIMEOUT",
                    |s| s.keepalive_timeout = Some("-1s".into()),
                    "2s",
                ),
                (
                    "SHUTDOWN_TIMEOUT",
                    |s| s.shutdown_timeout = Some("8".into()),
                    "2s",
                ),
                (
                    "MAX_CONNECTIONS",
                    |s| s.max_connections = Some("0".into()),
                    "at least 1",
                ),
                (
                    "MAX_CONNECTIONS",
                    |s| s.max_connections = Some("many".into()),
                    "at least 1",
                ),
            ];
            for (variable, set, accepted) in cases {
                let mut s = Settings::default();
                set(&mut s);
                let err = ServerLimits::from_settings(&s).expect_err("invalid");
                assert_eq!(err.variable, variable, "{err}");
                let line = err.to_string();
                assert!(line.contains(variable) && line.contains(accepted), "{line}");
                assert!(!line.contains('\n'), "{line}");
            }
        }
    }
}

/// This server's own `/healthz`, on loopback when it binds every address.
fn own_healthz(host: IpAddr, port: u16) -> String {
    let host = match host {
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{host}:{port}/healthz")
}

fn parse_healthcheck_url(url: &str) -> Result<String, ConfigError> {
    reqwest::Url::parse(url.trim())
        .ok()
        .filter(|parsed| parsed.scheme() == "http" && parsed.has_host())
        .map(|_| url.trim().to_owned())
        .ok_or_else(|| {
            ConfigError::invalid(
                "HEALTHCHECK_URL",
                &redact(url),
                "an http:// URL such as http://127.0.0.1:5000/healthz",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::default()
    }

    fn error(settings: &Settings) -> ConfigError {
        Config::from_settings(settings).expect_err("settings should be rejected")
    }

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

    #[test]
    fn database_uri_scheme_picks_postgres_or_sqlite_before_redis() {
        let mut s = settings();
        s.redis_host = Some("redis".into());
        s.database_uri = Some("postgres://u:p@db:5432/app".into());
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.store.backend(), Backend::Postgres);
        assert!(config.hello_postgres.is_some());

        s.database_uri = Some("sqlite://counts.db".into());
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.store.backend(), Backend::Sqlite);
        assert!(config.hello_postgres.is_none());
    }

    #[test]
    fn redis_host_or_url_picks_redis_when_no_database_uri() {
        let mut s = settings();
        s.redis_host = Some("redis".into());
        assert_eq!(
            Config::from_settings(&s).expect("valid").store.backend(),
            Backend::Redis
        );
        let mut s = settings();
        s.redis_url = Some("redis://:secret@cache:6380/2".into());
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.store.backend(), Backend::Redis);
        assert!(config.store_reason.contains("REDIS_URL"));
    }

    #[test]
    fn counter_store_overrides_the_rule_and_keeps_postgres_for_hello() {
        let mut s = settings();
        s.database_uri = Some("postgres://db/app".into());
        s.counter_store = Some("memory".into());
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.store.backend(), Backend::Memory);
        assert!(
            config.hello_postgres.is_some(),
            "/hello still uses DATABASE_URI"
        );
    }

    #[test]
    fn counter_store_that_needs_a_missing_variable_names_it() {
        let mut s = settings();
        s.counter_store = Some("postgres".into());
        assert_eq!(error(&s).variable, "DATABASE_URI");
        s.counter_store = Some("redis".into());
        assert_eq!(error(&s).variable, "REDIS_HOST");
    }

    #[test]
    fn invalid_values_name_their_variable_and_what_is_accepted() {
        type Case = (&'static str, fn(&mut Settings), &'static str);
        let cases: [Case; 10] = [
            (
                "COUNTER_STORE",
                |s| s.counter_store = Some("mongo".into()),
                "postgres, redis, sqlite or memory",
            ),
            ("PORT", |s| s.port = Some("http".into()), "0 to 65535"),
            ("PORT", |s| s.port = Some("70000".into()), "0 to 65535"),
            (
                "REDIS_PORT",
                |s| s.redis_port = Some("0".into()),
                "1 to 65535",
            ),
            ("HOST", |s| s.host = Some("not a host".into()), "IP address"),
            (
                "STORE_TIMEOUT",
                |s| s.store_timeout = Some("soon".into()),
                "2s",
            ),
            (
                "STORE_TIMEOUT",
                |s| s.store_timeout = Some("0s".into()),
                "above zero",
            ),
            (
                "DATABASE_URI",
                |s| s.database_uri = Some("mysql://u@h/db".into()),
                "postgres://",
            ),
            (
                "REDIS_URL",
                |s| s.redis_url = Some("http://cache".into()),
                "redis://",
            ),
            (
                "LOG_FORMAT",
                |s| s.log_format = Some("xml".into()),
                "pretty or json",
            ),
        ];
        for (variable, set, accepted) in cases {
            let mut s = settings();
            set(&mut s);
            let err = error(&s);
            assert_eq!(err.variable, variable, "{err}");
            let line = err.to_string();
            assert!(line.contains(variable) && line.contains(accepted), "{line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn passwords_never_appear_in_errors() {
        let mut s = settings();
        s.database_uri = Some("mysql://admin:hunter2@db/app".into());
        let line = error(&s).to_string();
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains("admin:***@db"), "{line}");
        let mut s = settings();
        s.redis_url = Some("http://:hunter2@cache".into());
        assert!(!error(&s).to_string().contains("hunter2"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let mut s = Settings {
            port: Some(String::new()),
            redis_host: Some("  ".into()),
            counter_store: Some(String::new()),
            ..Settings::default()
        };
        s.normalize(&HashSet::new());
        let config = Config::from_settings(&s).expect("empty values are unset");
        assert_eq!(config.port, DEFAULT_PORT);
        assert_eq!(config.store.backend(), Backend::Sqlite);
    }

    #[test]
    fn redact_hides_userinfo_passwords_and_secret_query_parameters() {
        assert_eq!(
            redact("postgres://app:s3cret@db/app"),
            "postgres://app:***@db/app"
        );
        assert_eq!(
            redact("postgres://db/app?password=s3cret&sslmode=require"),
            "postgres://db/app?password=***&sslmode=require"
        );
        assert_eq!(redact("redis://cache:6379/0"), "redis://cache:6379/0");
    }

    #[test]
    fn in_memory_sqlite_uris_are_refused_with_the_alternative() {
        for uri in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://file?mode=memory",
        ] {
            let s = Settings {
                database_uri: Some(uri.into()),
                ..Settings::default()
            };
            let err = error(&s);
            assert_eq!(err.variable, "DATABASE_URI", "{uri}");
            assert!(err.message.contains("COUNTER_STORE=memory"), "{err}");
        }
    }

    #[test]
    fn bad_rust_log_is_rejected() {
        let mut s = settings();
        s.log = Some("info,=[".into());
        assert_eq!(error(&s).variable, "RUST_LOG");
    }

    #[test]
    fn tick_settings_are_checked() {
        let ok = TickConfig::from_args(&TickArgs::default()).expect("defaults are valid");
        assert_eq!(ok.interval, Duration::from_secs(2));
        assert_eq!(ok.counter.as_str(), "tick_count");
        let bad = TickConfig::from_args(&TickArgs {
            interval: Some("fast".into()),
            counter: None,
        });
        assert_eq!(bad.expect_err("invalid").variable, "TICK_INTERVAL");
        let bad = TickConfig::from_args(&TickArgs {
            interval: None,
            counter: Some("a b".into()),
        });
        assert_eq!(bad.expect_err("invalid").variable, "TICK_COUNTER");
    }

    #[test]
    fn healthcheck_asks_loopback_when_bound_to_every_address() {
        let s = Settings {
            host: Some("0.0.0.0".into()),
            port: Some("8080".into()),
            ..Settings::default()
        };
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.healthcheck_url, "http://127.0.0.1:8080/healthz");
        let s = Settings {
            healthcheck_url: Some("http://web:5000/healthz".into()),
            ..Settings::default()
        };
        let config = Config::from_settings(&s).expect("valid");
        assert_eq!(config.healthcheck_url, "http://web:5000/healthz");
        let s = Settings {
            healthcheck_url: Some("notaurl".into()),
            ..Settings::default()
        };
        assert_eq!(error(&s).variable, "HEALTHCHECK_URL");
    }
}
