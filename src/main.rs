use std::process::ExitCode;

use clap::Parser;
use tally::{
    cli::{self, Cli, Command},
    commands,
    config::{self, Config, ConfigError, TickConfig},
    server, telemetry,
};

/// Exit code for a configuration that cannot be used (as clap uses for bad arguments).
const BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let process_env = match config::load_dotenv() {
        Ok(names) => names,
        Err(err) => return bad_config(&err),
    };
    let mut cli = Cli::parse_from(cli::args());
    cli.settings.normalize(&process_env);
    let mut config = match Config::from_settings(&cli.settings) {
        Ok(config) => config,
        Err(err) => return bad_config(&err),
    };
    let command = cli.command.unwrap_or(Command::Serve);
    let tick = match &command {
        Command::Tick(args) => match TickConfig::from_args(args) {
            Ok(tick) => Some(tick),
            Err(err) => return bad_config(&err),
        },
        _ => None,
    };
    telemetry::init(&config.log);
    if matches!(command, Command::Serve | Command::Config)
        && let Err(err) = server::open_files::fit(&mut config)
    {
        return bad_config(&err);
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tally: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match (command, tick) {
            (Command::Healthcheck, _) => {
                return Ok(commands::healthcheck(&config.healthcheck_url).await);
            }
            (Command::Config, _) => {
                commands::show_config(&config);
                Ok(())
            }
            (Command::Migrate, _) => commands::migrate(config).await,
            (Command::Tick(_), Some(tick)) => commands::tick(config, tick).await,
            _ => commands::serve(config).await,
        }
        .map(|()| ExitCode::SUCCESS)
    });
    result.unwrap_or_else(|err| {
        eprintln!("tally: {err:#}");
        ExitCode::FAILURE
    })
}

fn bad_config(err: &ConfigError) -> ExitCode {
    eprintln!("tally: {err}");
    ExitCode::from(BAD_CONFIG)
}
