//! What each subcommand does once the configuration is valid, one file per command, and the
//! one place that turns a command's outcome into the process's exit code.
//!
//! [`run`] names every [`Command`] in its `match`, with no catch-all arm, so adding a command
//! is one more arm and one more file, and the compiler points at the arm that is missing.
//! Exit codes are the README's ("Commands", and "Bad settings stop tally before it binds"):
//! 2 with one `tally: invalid …` line for a setting that cannot be used, 1 with
//! `tally: {reason}` for a command that failed, and `healthcheck`'s own 0 or 1.

mod healthcheck;
mod migrate;
mod serve;
mod show_config;
mod tick;
mod worker;

use std::{future::Future, process::ExitCode};

use crate::{
    cli::Command,
    config::{Config, ConfigError, TickConfig},
};

/// Exit code for a configuration that cannot be used (as clap uses for bad arguments).
const BAD_CONFIG: u8 = 2;

/// Runs `command` to the end and says how the process exits.
///
/// Synchronous on purpose: a command's own settings are checked before the async runtime
/// exists, and `tally config` needs no runtime at all.
pub fn run(command: Command, config: Config) -> ExitCode {
    match command {
        Command::Serve => match fit_open_files(config) {
            Ok(config) => block_on(serve::run(config)),
            Err(code) => code,
        },
        Command::Migrate => block_on(migrate::run(config)),
        Command::Tick(args) => match TickConfig::from_args(&args) {
            Ok(tick) => block_on(tick::run(config, tick)),
            Err(err) => bad_config(&err),
        },
        Command::Worker(args) => match worker::check(&config, args.concurrency.as_deref()) {
            Ok(concurrency) => block_on(worker::run(config, concurrency)),
            Err(err) => bad_config(&err),
        },
        Command::Healthcheck => block_on(healthcheck::run(&config.healthcheck_url)),
        Command::Config => match fit_open_files(config) {
            Ok(config) => {
                show_config::run(&config);
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}

/// Raises the open-file limit and checks `MAX_CONNECTIONS` against it (lowering the default
/// to fit); for the commands that serve, or say what serving would use.
fn fit_open_files(mut config: Config) -> Result<Config, ExitCode> {
    match crate::server::open_files::fit(&mut config) {
        Ok(()) => Ok(config),
        Err(err) => Err(bad_config(&err)),
    }
}

/// Says what is wrong on one line and exits 2: for `.env`, the global settings and a
/// command's own.
pub fn bad_config(err: &ConfigError) -> ExitCode {
    eprintln!("tally: {err}");
    ExitCode::from(BAD_CONFIG)
}

/// Runs an async command on a fresh multi-threaded runtime.
fn block_on<F>(command: F) -> ExitCode
where
    F: Future,
    F::Output: Outcome,
{
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(command).exit_code(),
        Err(err) => {
            eprintln!("tally: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        }
    }
}

/// How a command's result becomes the exit code.
trait Outcome {
    fn exit_code(self) -> ExitCode;
}

/// A command that decides its own code (`healthcheck`).
impl Outcome for ExitCode {
    fn exit_code(self) -> ExitCode {
        self
    }
}

/// A command that succeeds or fails with a reason: 0, or 1 with the reason and its causes.
impl Outcome for anyhow::Result<()> {
    fn exit_code(self) -> ExitCode {
        match self {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("tally: {err:#}");
                ExitCode::FAILURE
            }
        }
    }
}
