//! The open-file limit, and `MAX_CONNECTIONS` fitted under it.
//!
//! Every connection is an open file, and so is every pooled database connection. A process
//! that runs out of files cannot accept, nor reach its store, nor open its SQLite file, so
//! tally checks at start that its connections fit, rather than finding out under load. The
//! soft limit (often 1024) is first raised to the hard limit, which any process may do.

use crate::{
    config::{Config, ConfigError, ServerLimits},
    greeting,
};

/// Files kept for everything but connections and pools: standard streams, the listener, the
/// runtime's own descriptors, the SQLite journal during migrations, some to spare.
pub const RESERVED_FILES: u64 = 64;

/// Raises the open-file limit as far as allowed, then fits `MAX_CONNECTIONS` under it: a value
/// that was given and does not fit is a configuration error (exit code 2); the default is
/// lowered to fit, with a warning.
pub fn fit(config: &mut Config) -> Result<(), ConfigError> {
    let Some(open_files) = raise_soft_limit() else {
        return Ok(());
    };
    let (limits, lowered) = fit_under(config.server, open_files, reserved_files(config))?;
    if let Some(warning) = lowered {
        tracing::warn!("{warning}");
    }
    config.server = limits;
    Ok(())
}

/// Files the pools may hold, plus [`RESERVED_FILES`].
pub fn reserved_files(config: &Config) -> u64 {
    let hello = if config.hello_postgres.is_some() {
        u64::from(greeting::MAX_CONNECTIONS)
    } else {
        0
    };
    RESERVED_FILES + config.store.backend().max_open_files() + hello
}

/// `limits` with `MAX_CONNECTIONS` fitted under `open_files`, keeping `reserved` files for the
/// rest; with the warning to log when the default was lowered. Pure.
pub fn fit_under(
    limits: ServerLimits,
    open_files: u64,
    reserved: u64,
) -> Result<(ServerLimits, Option<String>), ConfigError> {
    let wanted = u64::try_from(limits.max_connections).unwrap_or(u64::MAX);
    let room = open_files.saturating_sub(reserved);
    if wanted <= room {
        return Ok((limits, None));
    }
    if limits.max_connections_given {
        return Err(ConfigError {
            variable: "MAX_CONNECTIONS",
            message: format!(
                "{wanted} connections need {} open files ({reserved} more for the pools and the \
                 process), but the open-file limit is {open_files}, raised as far as allowed; \
                 lower MAX_CONNECTIONS to {room} or less, or raise the hard limit (ulimit -Hn, \
                 or the container's nofile ulimit)",
                wanted.saturating_add(reserved)
            ),
        });
    }
    // At least one connection, however small the limit: the server must still answer.
    let fitted = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    let warning = format!(
        "MAX_CONNECTIONS lowered from {wanted} to {fitted}: the open-file limit is \
         {open_files}, raised as far as allowed, and {reserved} files are kept for the pools \
         and the process; raise the hard limit (ulimit -Hn, or the container's nofile ulimit) \
         or set MAX_CONNECTIONS"
    );
    Ok((
        ServerLimits {
            max_connections: fitted,
            ..limits
        },
        Some(warning),
    ))
}

/// Raises the soft open-file limit to the hard one; returns the soft limit in force, or `None`
/// where there is no such limit to read.
#[cfg(unix)]
fn raise_soft_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` we own. It fails (leaving the limit as it was)
        // where the hard limit is "unlimited" but the kernel caps files per process (macOS).
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::debug!(
                from = limit.rlim_cur,
                to = limit.rlim_max,
                "open-file limit raised to its hard limit"
            );
            limit = raised;
        }
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return Some(u64::MAX);
    }
    // rlim_t is u64 on Linux and macOS, but not on every unix.
    #[allow(clippy::useless_conversion)]
    Some(u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX))
}

#[cfg(not(unix))]
fn raise_soft_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, given: bool) -> ServerLimits {
        ServerLimits {
            max_connections,
            max_connections_given: given,
            ..ServerLimits::default()
        }
    }

    #[test]
    fn limits_that_fit_are_kept() {
        let (fitted, warning) = fit_under(limits(10_000, false), 20_000, 80).expect("fits");
        assert_eq!(fitted.max_connections, 10_000);
        assert!(warning.is_none());
        let (fitted, _) = fit_under(limits(920, true), 1000, 80).expect("fits exactly");
        assert_eq!(fitted.max_connections, 920);
    }

    #[test]
    fn the_default_is_lowered_with_a_warning_naming_both_numbers() {
        let (fitted, warning) = fit_under(limits(10_000, false), 1024, 80).expect("lowered");
        assert_eq!(fitted.max_connections, 944);
        let warning = warning.expect("a warning");
        assert!(
            warning.contains("10000") && warning.contains("944") && warning.contains("1024"),
            "{warning}"
        );
        let (fitted, _) = fit_under(limits(10_000, false), 50, 80).expect("lowered");
        assert_eq!(fitted.max_connections, 1, "never below one");
    }

    #[test]
    fn a_given_value_that_does_not_fit_is_an_error_naming_both_numbers() {
        let err = fit_under(limits(5000, true), 1024, 80).expect_err("does not fit");
        assert_eq!(err.variable, "MAX_CONNECTIONS");
        let line = err.to_string();
        assert!(line.contains("5000") && line.contains("1024"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn pools_are_kept_room_for() {
        let mut config = Config::with_store(crate::store::StoreSpec::Memory);
        assert_eq!(reserved_files(&config), RESERVED_FILES);
        config.hello_postgres = Some(sqlx::postgres::PgConnectOptions::new());
        assert_eq!(reserved_files(&config), RESERVED_FILES + 2);
    }
}
