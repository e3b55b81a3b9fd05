//! tally's integration tests: one binary, so the throwaway PostgreSQL and Redis servers in
//! [`servers`] start once and are shared by every test (each test still gets its own database,
//! Redis db number or SQLite file, so tests never see each other's counts).
//!
//! The suites:
//! - `contract`: the one suite every store passes, through the `Store` facade.
//! - `job_contract`: the job queue's contract, every backend, through the `Store` facade.
//! - `history_contract`: the history's contract (quarter-hours, days in any zone, unique
//!   visitors, retention), every backend, through the `Store` facade.
//! - `history_api`: the history routes over HTTP, the page's chart data, and what a visitor
//!   leaves in the raw stores and the log (nothing).
//! - `feed_contract`: the change feed's contract (what the live counts follow), every backend.
//! - `jobs_crash`: `tally worker` SIGKILLed mid-copy and taken over, SIGTERM, its settings.
//! - `jobs_worker`: the job worker and every kind of job, in-process, every backend.
//! - `jobs_api`: the jobs API and the dashboard's page, with the test playing the worker.
//! - `http`: the HTTP contract, against a real server on a random port: one test per rule and
//!   backend.
//! - `availability`: outages, hung servers, recovery without a restart.
//! - `export_import`: the admin's export and import of every counter, and the stats.
//! - `limits`: the rate limiter, the client address behind proxies and CORS, over TCP.
//! - `compat`: the CountAPI- and Abacus-compatible routes, over HTTP, and a client sequence
//!   of each against PostgreSQL.
//! - `binary`: the `tally` executable itself: configuration, exit codes, persistence,
//!   graceful shutdown, `tick`, `migrate`, `healthcheck`.
//! - `compose`: the container files, checked statically and rehearsed natively.
//! - `live`: the live event streams: replicas on every store, coalescing, keep-alive,
//!   `MAX_STREAMS`, 1,000 streams leaving nothing behind, the feeds surviving a restart.
//! - `slow_clients`: header and keep-alive timeouts, the connection cap, SIGTERM with slow
//!   clients attached, the open-file limit; with real sockets.
//!
//! The harness:
//! - `servers`: the throwaway servers (`servers/postgres.rs`, `servers/redis.rs`), the shared
//!   instances, and `servers/process.rs`, the process helpers (ports, signals, waiting, log
//!   tails) that the servers and the `tally` processes both use.
//! - `client`: `Http`, the one HTTP client, and `Reply`.
//! - `helpers`: fixtures: an isolated store per test, tally in-process (`TestApp`) and as the
//!   binary (`TallyProcess`), both talking through `Http`.
//!
//! Set `TEST_LOG=1` to see the servers' and the app's logs.

mod availability;
mod binary;
mod client;
mod compat;
mod compose;
mod contract;
mod counting_api;
mod export_import;
mod feed_contract;
mod helpers;
mod history_api;
mod history_contract;
mod http;
mod job_contract;
mod jobs_api;
mod jobs_crash;
mod jobs_worker;
mod limits;
mod live;
mod openapi;
mod servers;
mod slow_clients;
