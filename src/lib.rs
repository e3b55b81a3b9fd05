//! tally: a visitor counter service.
//!
//! `GET /count` adds one visit and answers `Visitor count: N`. Counts live in PostgreSQL,
//! Redis, an embedded SQLite file (the default, so `cargo run` works with nothing installed)
//! or memory, behind one [`store::Store`] facade.
//!
//! # Layout
//!
//! - [`allocator`]: mimalloc as the global allocator, and its settings.
//! - [`cli`]: the command line; every flag is also an environment variable.
//! - [`config`]: turns raw settings into one typed [`config::Config`], or one error line that
//!   names the variable.
//! - [`store`]: the `Store` facade, the capability traits and one module per backend; knows
//!   nothing of HTTP.
//! - [`greeting`]: the PostgreSQL check behind `/hello`.
//! - [`live`]: live counts: the latest value of every followed counter, from this process's
//!   changes and the store's change feed, for the event streams; knows nothing of HTTP.
//! - [`metrics`]: Prometheus metrics; the store facade reports to them.
//! - [`badge`]: badge query checks, the SVG badge and the 1×1 GIF; no HTTP, no stores.
//! - [`history`]: a counter's days in any IANA time zone from the store's UTC quarter-hours,
//!   and their SVG chart; no HTTP.
//! - [`web`]: router, handlers, error mapping and middleware; knows stores only by the trait.
//! - [`server`]: serves HTTP/1.1 connection by connection, with the header and keep-alive
//!   timeouts, the connection cap and the bounded shutdown drain.
//! - [`startup`]: [`startup::App`] binds, wires and serves until stopped.
//! - [`commands`]: one file per subcommand (`serve`, `migrate`, `tick`, `healthcheck` and
//!   `config`), and [`commands::run`], which dispatches and maps outcomes to exit codes.
//! - [`telemetry`]: logging setup; [`log_writer`]: the buffered writer the log lines go through;
//!   [`log_time`]: their timestamps.
//!
//! `src/main.rs` only loads `.env`, parses, builds the [`config::Config`], initialises logging
//! and calls [`commands::run`].

pub mod allocator;
pub mod badge;
pub mod cli;
pub mod commands;
pub mod config;
pub mod greeting;
pub mod history;
pub mod jobs;
pub mod live;
pub mod log_format;
pub mod log_time;
pub mod log_writer;
pub mod metrics;
pub mod server;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
