//! The `tally` executable, kept to a few lines: everything it does lives in the library, where
//! the tests reach it; `tests/api/binary.rs` tests this file through the built binary.

use std::process::ExitCode;

use clap::Parser;
use tally::{
    allocator,
    cli::{self, Cli, Command},
    commands::{self, bad_config},
    config::{self, Config},
    telemetry,
};

fn main() -> ExitCode {
    allocator::tune();
    let process_env = match config::load_dotenv() {
        Ok(names) => names,
        Err(err) => return bad_config(&err),
    };
    let mut cli = Cli::parse_from(cli::args());
    cli.settings.normalize(&process_env);
    let config = match Config::from_settings(&cli.settings) {
        Ok(config) => config,
        Err(err) => return bad_config(&err),
    };
    // Held to the end, so that the last log lines are flushed before the process exits.
    let _logs = telemetry::init(&config.log);
    commands::run(cli.command.unwrap_or(Command::Serve), config)
}
