//! The command line: subcommands and every setting, each readable from the environment.
//!
//! Settings are taken as plain strings here and checked in [`crate::config`], so that an
//! invalid value gives one line naming the *variable* and what it accepts (clap's own errors
//! name the flag and print usage). `.env` is loaded into the environment before parsing
//! without overriding it, which gives the documented order: flag, environment, `.env`,
//! default. An empty value counts as unset.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tally",
    version,
    about = "A visitor counter: GET /count adds one and says how many visits there were.",
    long_about = "A visitor counter: GET /count adds one and says how many visits there were.\n\n\
        Counts live in PostgreSQL, Redis, an embedded SQLite file (the default) or memory. \
        Every option can also be set in the environment or in a .env file in the working \
        directory; the command line wins over the environment, which wins over .env. \
        `tally tick --help` lists the worker's own settings."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (what a bare `tally` does).
    Serve,
    /// Apply the database migrations to the configured store and exit.
    Migrate,
    /// Increment a counter every TICK_INTERVAL and print `Counter: N` (the tutorial's worker).
    Tick(TickArgs),
    /// Run background jobs (export, import, copy, maintenance) until SIGTERM or Ctrl-C.
    Worker(WorkerArgs),
    /// Ask a running server's /healthz (HEALTHCHECK_URL); exit 0 when it answers 200, 1
    /// otherwise.
    Healthcheck,
    /// Check the configuration and print what tally would use (passwords hidden); exit 2 when
    /// it is invalid.
    Config,
}

/// The arguments to parse: the process's own, less a leading `tally`.
///
/// The container image's entrypoint is the binary itself, so `docker compose run web migrate`
/// works, and so does the habit of naming the program, `docker compose run web tally migrate`,
/// which would otherwise reach tally as `tally tally migrate`.
pub fn args() -> impl Iterator<Item = std::ffi::OsString> {
    std::env::args_os()
        .enumerate()
        .filter(|(index, arg)| !(*index == 1 && arg == "tally"))
        .map(|(_, arg)| arg)
}

/// Settings shared by every subcommand.
#[derive(Debug, Default, Clone, Args)]
pub struct Settings {
    /// Address to bind: an IP address, or `localhost` [default: 127.0.0.1]
    #[arg(long, env = "HOST", global = true)]
    pub host: Option<String>,

    /// Port to bind, 0 to 65535 (0 picks a free port) [default: 5000]
    #[arg(long, env = "PORT", global = true)]
    pub port: Option<String>,

    /// Counter store: postgres, redis, sqlite or memory. Unset: DATABASE_URI picks postgres or
    /// sqlite by its scheme, else REDIS_URL/REDIS_HOST pick redis, else embedded sqlite
    #[arg(long, env = "COUNTER_STORE", global = true)]
    pub counter_store: Option<String>,

    /// postgres://user:password@host:5432/db or sqlite://path/to/file.db (DATABASE_URL is
    /// read when DATABASE_URI is unset). A postgres URI also backs the /hello check
    #[arg(long, env = "DATABASE_URI", global = true, hide_env_values = true)]
    pub database_uri: Option<String>,

    /// Redis host name, as in the tutorials
    #[arg(long, env = "REDIS_HOST", global = true)]
    pub redis_host: Option<String>,

    /// Redis port, 1 to 65535 [default: 6379]
    #[arg(long, env = "REDIS_PORT", global = true)]
    pub redis_port: Option<String>,

    /// Full Redis URL (redis:// or rediss://, with password and db); wins over
    /// REDIS_HOST/REDIS_PORT
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,

    /// File of the embedded SQLite store [default: data/tally.db]
    #[arg(long, env = "SQLITE_PATH", global = true)]
    pub sqlite_path: Option<String>,

    /// Longest wait on the store before a request answers 503, e.g. 2s or 500ms [default: 2s]
    #[arg(long, env = "STORE_TIMEOUT", global = true)]
    pub store_timeout: Option<String>,

    /// Longest wait for a request head, from the connection or its first byte, e.g. 10s
    /// [default: 10s]
    #[arg(long, env = "HEADER_TIMEOUT", global = true)]
    pub header_timeout: Option<String>,

    /// An idle keep-alive connection is closed after this, e.g. 60s [default: 60s]
    #[arg(long, env = "KEEPALIVE_TIMEOUT", global = true)]
    pub keepalive_timeout: Option<String>,

    /// How long SIGTERM waits for requests in flight before closing what remains, e.g. 8s
    /// [default: 8s]
    #[arg(long, env = "SHUTDOWN_TIMEOUT", global = true)]
    pub shutdown_timeout: Option<String>,

    /// Connections served at once; more wait in the backlog [default: 10000, lowered to fit
    /// the open-file limit]
    #[arg(long, env = "MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<String>,

    /// Log filter, e.g. info or tally=debug,sqlx=warn [default: info]
    #[arg(long, env = "RUST_LOG", global = true)]
    pub log: Option<String>,

    /// Log format: pretty (for people) or json (one object per line) [default: pretty]
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,

    /// URL `tally healthcheck` asks [default: http://HOST:PORT/healthz, with 127.0.0.1 for
    /// 0.0.0.0]
    #[arg(long, env = "HEALTHCHECK_URL", global = true)]
    pub healthcheck_url: Option<String>,

    /// The instance admin's token for the counting API (at least 16 characters); unset: no
    /// admin, and the admin routes answer 403
    #[arg(long, env = "ADMIN_TOKEN", global = true, hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Set when `database_uri` came from the `DATABASE_URL` alias, so errors name that variable.
    #[arg(skip)]
    pub database_uri_from_alias: bool,

    /// Requests one client address may make per window on the rate-limited API routes, as
    /// N/duration (e.g. 30/10s or 100/1m), or off [default: 30/10s]
    #[arg(long, env = "RATE_LIMIT", global = true)]
    pub rate_limit: Option<String>,

    /// Proxies whose X-Forwarded-For/Forwarded headers name the client: comma-separated IP
    /// addresses and CIDR networks, e.g. 10.0.0.0/8,::1 [default: none]
    #[arg(long, env = "TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,

    /// Largest body POST /api/v1/import reads: bytes, or a size such as 512MiB or 10MB
    /// [default: 1GiB]
    #[arg(long, env = "IMPORT_LIMIT", global = true)]
    pub import_limit: Option<String>,

    /// Job workers `tally serve` runs in-process, 0 to 64 (0 when a `tally worker` runs them)
    /// [default: 1]
    #[arg(long, env = "WORKERS", global = true)]
    pub workers: Option<String>,

    /// How long a worker that stopped answering keeps its job before another takes it over,
    /// at least 1s [default: 30s]
    #[arg(long, env = "JOB_LEASE", global = true)]
    pub job_lease: Option<String>,

    /// Days of history (hits per quarter-hour, unique visitors) kept, 1 to 3660; also the
    /// most days a history request may ask for [default: 400]
    #[arg(long, env = "HISTORY_DAYS", global = true)]
    pub history_days: Option<String>,
    /// Live event streams (a counter's /events, Abacus's /stream) served at once; one more is
    /// answered 503 [default: 10000]
    #[arg(long, env = "MAX_STREAMS", global = true)]
    pub max_streams: Option<String>,
}

#[derive(Debug, Default, Clone, Args)]
pub struct WorkerArgs {
    /// Jobs this worker runs at once, 1 to 64 [default: 1]
    #[arg(long, env = "WORKER_CONCURRENCY")]
    pub concurrency: Option<String>,
}

#[derive(Debug, Default, Clone, Args)]
pub struct TickArgs {
    /// Time between two increments, e.g. 2s or 500ms [default: 2s]
    #[arg(long, env = "TICK_INTERVAL")]
    pub interval: Option<String>,

    /// Counter the worker increments [default: tick_count]
    #[arg(long, env = "TICK_COUNTER")]
    pub counter: Option<String>,
}
