//! Which counter store to use, from `COUNTER_STORE`, `DATABASE_URI`, `REDIS_URL`/`REDIS_HOST`
//! and `SQLITE_PATH`: the rule stated under "Which store" in the README's "Configuration"
//! section.
//!
//! A store that is asked for but not configured (`COUNTER_STORE=postgres` without a postgres
//! `DATABASE_URI`) is an error here, at start, rather than a store that fails on first use.

use std::path::PathBuf;

use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

use super::{
    error::ConfigError,
    store_address::{DatabaseUri, parse_database_uri, parse_redis},
};
use crate::{
    cli::Settings,
    store::{Backend, StoreSpec},
};

pub const DEFAULT_SQLITE_PATH: &str = "data/tally.db";

/// The store chosen, why, and the PostgreSQL that `/hello` greets.
pub(super) struct StoreChoice {
    pub(super) store: StoreSpec,
    pub(super) reason: String,
    pub(super) hello_postgres: Option<PgConnectOptions>,
}

/// Checks `DATABASE_URI`, then the Redis settings, then applies the rule.
pub(super) fn choose_store(settings: &Settings) -> Result<StoreChoice, ConfigError> {
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
    let (store, reason) = select_store(settings, &database, redis, sqlite_path)?;
    let hello_postgres = match database {
        Some(DatabaseUri::Postgres(options)) => Some(options),
        _ => None,
    };
    Ok(StoreChoice {
        store,
        reason,
        hello_postgres,
    })
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

#[cfg(test)]
mod tests {
    use crate::{
        config::{Config, rejected, settings},
        store::Backend,
    };

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
        assert_eq!(rejected(&s).variable, "DATABASE_URI");
        s.counter_store = Some("redis".into());
        assert_eq!(rejected(&s).variable, "REDIS_HOST");
    }
}
