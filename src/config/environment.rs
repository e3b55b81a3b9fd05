//! The environment: `.env`, empty values and the `DATABASE_URL` alias.
//!
//! clap reads each setting from its flag or its variable, with `.env` already loaded into the
//! environment (without overriding it). What clap cannot know is which variables came from
//! `.env`, and the alias needs that to keep the documented order (flag, environment, `.env`,
//! default, stated in the README's "Configuration" section): so [`load_dotenv`] reports which
//! names were set before it ran.

use std::collections::HashSet;

use super::error::ConfigError;
use crate::cli::Settings;

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
        self.normalize_with(process_env, |name| std::env::var(name).ok());
    }

    /// [`Settings::normalize`] reading variables through `env`, so that tests can give an
    /// environment without setting variables in their own process.
    fn normalize_with(
        &mut self,
        process_env: &HashSet<String>,
        env: impl Fn(&str) -> Option<String>,
    ) {
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
            &mut self.admin_token,
            &mut self.header_timeout,
            &mut self.keepalive_timeout,
            &mut self.shutdown_timeout,
            &mut self.max_connections,
            &mut self.import_limit,
            &mut self.workers,
            &mut self.job_lease,
            &mut self.history_days,
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        let alias = env("DATABASE_URL").filter(|url| !url.trim().is_empty());
        // A value equal to the environment's came from the environment; otherwise from a flag.
        let uri_only_from_dotenv = self.database_uri.is_some()
            && !process_env.contains("DATABASE_URI")
            && env("DATABASE_URI") == self.database_uri;
        let use_alias = self.database_uri.is_none()
            || (uri_only_from_dotenv && process_env.contains("DATABASE_URL"));
        if use_alias && let Some(url) = alias {
            self.database_uri = Some(url);
            self.database_uri_from_alias = true;
        }
    }

    /// The variable to name in errors about `database_uri`: the one the user set.
    pub(super) fn database_uri_variable(&self) -> &'static str {
        if self.database_uri_from_alias {
            "DATABASE_URL"
        } else {
            "DATABASE_URI"
        }
    }
}

/// The [`Settings`] that `tally` would read from exactly these variables in its process
/// environment (and no `.env`), whatever the test process's own environment holds, and
/// without setting variables in it.
///
/// Each variable becomes the flag that clap declares for it (so this follows `cli.rs`), with
/// clap's own environment lookup turned off; then [`Settings::normalize`]'s logic runs with
/// `env` as the environment, which resolves `DATABASE_URL`, an alias with no flag of its own.
#[cfg(test)]
pub(super) fn settings_from_env(env: &[(&str, &str)]) -> Settings {
    use clap::{CommandFactory, FromArgMatches};

    let declared = crate::cli::Cli::command();
    let mut argv = vec!["tally".to_owned()];
    for (name, value) in env.iter().filter(|(name, _)| *name != "DATABASE_URL") {
        let long = declared
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|declared| declared == *name))
            .and_then(|arg| arg.get_long())
            .unwrap_or_else(|| panic!("{name} is not the variable of a global setting"));
        argv.push(format!("--{long}={value}"));
    }
    let matches = crate::cli::Cli::command()
        .mut_args(|arg| arg.env(None::<&str>))
        .try_get_matches_from(&argv)
        .unwrap_or_else(|err| panic!("{argv:?} should parse: {err}"));
    let mut settings = crate::cli::Cli::from_arg_matches(&matches)
        .unwrap_or_else(|err| panic!("{argv:?} should parse: {err}"))
        .settings;
    let process_env = env.iter().map(|(name, _)| (*name).to_owned()).collect();
    settings.normalize_with(&process_env, |wanted| {
        env.iter()
            .rfind(|(name, _)| *name == wanted)
            .map(|(_, value)| (*value).to_owned())
    });
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::{Config, DEFAULT_PORT},
        store::Backend,
    };

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
}
