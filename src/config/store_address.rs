//! Where each store is: `DATABASE_URI` (or its alias `DATABASE_URL`), `REDIS_URL`, or
//! `REDIS_HOST` and `REDIS_PORT`.
//!
//! URIs are parsed here, not when the store connects, so that a typo stops tally at start
//! with the variable named, and a URI that cannot work (an in-memory SQLite database) is
//! refused instead of silently losing counts. URIs are redacted in every message.

use std::str::FromStr;

use redis::IntoConnectionInfo;
use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

use super::{error::ConfigError, parse::parse_port, redaction::redact};
use crate::cli::Settings;

pub const DEFAULT_REDIS_PORT: u16 = 6379;

pub(super) enum DatabaseUri {
    Postgres(PgConnectOptions),
    Sqlite(SqliteConnectOptions),
}

pub(super) fn parse_database_uri(
    variable: &'static str,
    uri: &str,
) -> Result<DatabaseUri, ConfigError> {
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
pub(super) fn parse_redis(
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

/// The store a URI names, for a copy job's target: `postgres://`, `postgresql://`,
/// `sqlite://` (a file) or `redis://`/`rediss://`, read as `DATABASE_URI` and `REDIS_URL`
/// are. The error is one sentence naming what is accepted, with any password redacted.
pub fn target_store(uri: &str) -> Result<crate::store::StoreSpec, String> {
    use crate::store::StoreSpec;
    let lower = uri.trim_start().to_ascii_lowercase();
    if lower.starts_with("redis://") || lower.starts_with("rediss://") {
        return uri
            .into_connection_info()
            .map(StoreSpec::Redis)
            .map_err(|_| format!("{:?} is not a Redis URI tally can use", redact(uri)));
    }
    match parse_database_uri("target", uri) {
        Ok(DatabaseUri::Postgres(options)) => Ok(StoreSpec::Postgres(options)),
        Ok(DatabaseUri::Sqlite(options)) => Ok(StoreSpec::Sqlite(options)),
        Err(_) => Err(format!(
            "{:?} is not a store URI tally accepts; use postgres://user:password@host:5432/db, sqlite://path/to/file.db or redis://host:6379/0",
            redact(uri)
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        cli::Settings,
        config::{rejected, settings},
    };

    #[test]
    fn passwords_never_appear_in_errors() {
        let mut s = settings();
        s.database_uri = Some("mysql://admin:hunter2@db/app".into());
        let line = rejected(&s).to_string();
        assert!(!line.contains("hunter2"), "{line}");
        assert!(line.contains("admin:***@db"), "{line}");
        let mut s = settings();
        s.redis_url = Some("http://:hunter2@cache".into());
        assert!(!rejected(&s).to_string().contains("hunter2"));
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
            let err = rejected(&s);
            assert_eq!(err.variable, "DATABASE_URI", "{uri}");
            assert!(err.message.contains("COUNTER_STORE=memory"), "{err}");
        }
    }
}
