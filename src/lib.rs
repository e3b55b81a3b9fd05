//! tally: a visitor counter service.
//!
//! `GET /count` adds one visit and answers `Visitor count: N`. Counts live in PostgreSQL,
//! Redis, an embedded SQLite file (the default, so `cargo run` works with nothing installed)
//! or memory, behind one [`store::CounterStore`] trait.
//!
//! # Layout
//!
//! - [`cli`]: the command line; every flag is also an environment variable.
//! - [`config`]: turns raw settings into one typed [`config::Config`], or one error line that
//!   names the variable.
//! - [`store`]: the `CounterStore` trait and its backends; knows nothing of HTTP.
//! - [`greeting`]: the PostgreSQL check behind `/hello`.
//! - [`metrics`]: Prometheus metrics, and a store decorator that feeds them.
//! - [`web`]: router, handlers, error mapping and middleware; knows stores only by the trait.
//! - [`server`]: serves HTTP/1.1 connection by connection, with the header and keep-alive
//!   timeouts, the connection cap and the bounded shutdown drain.
//! - [`startup`]: [`startup::App`] binds, wires and serves until stopped.
//! - [`commands`]: `serve`, `migrate`, `tick`, `healthcheck` and `config`.
//! - [`telemetry`]: logging setup.
//!
//! `src/main.rs` only parses, initialises logging and dispatches.

pub mod cli;
pub mod commands;
pub mod config;
pub mod greeting;
pub mod metrics;
pub mod server;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
