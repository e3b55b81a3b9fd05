//! tally's integration tests: one binary, so the throwaway PostgreSQL and Redis servers in
//! [`servers`] start once and are shared by every test (each test still gets its own database,
//! Redis db number or SQLite file, so tests never see each other's counts).
//!
//! - `contract`: the one suite every `CounterStore` passes.
//! - `http`: the HTTP contract, against a real server on a random port, for each backend.
//! - `availability`: outages, hung servers, recovery without a restart.
//! - `binary`: the `tally` executable itself: configuration, exit codes, persistence,
//!   graceful shutdown, `tick`, `migrate`, `healthcheck`.
//! - `compose`: the container files, checked statically and rehearsed natively.
//! - `slow_clients`: header and keep-alive timeouts, the connection cap, SIGTERM with slow
//!   clients attached, the open-file limit; with real sockets.
//!
//! Set `TEST_LOG=1` to see the servers' and the app's logs.

mod availability;
mod binary;
mod compose;
mod contract;
mod helpers;
mod http;
mod servers;
mod slow_clients;
