//! Throwaway PostgreSQL and Redis servers for the integration tests.
//!
//! The API tests talk to real servers, not mocks: what they check (SQL,
//! Redis commands, recovering when a backend goes away) only shows up
//! against the real thing. Every server started here is a private instance
//! with fresh data in a temporary directory, listening only on 127.0.0.1 on
//! a free port. Tests therefore never touch a developer's own databases
//! (such as system servers on 5432/6379), and a test can stop, pause or
//! restart its own server without disturbing anything else.
//!
//! The binaries (`initdb` and `pg_ctl`, `redis-server`) must be installed.
//! When one is missing we panic with install instructions instead of
//! skipping, because a silently skipped suite looks exactly like a passing
//! one. To use existing servers for the shared instances instead, set
//! `TEST_DATABASE_URL` and `TEST_REDIS_URL`.
//!
//! Server output goes to log files in the temp dirs. Failure messages
//! include the end of those files. Set `TEST_LOG` to see more as it happens.
//!
//! - [`postgres`]: [`PostgresServer`], a cluster of its own (`initdb` + `pg_ctl`).
//! - [`redis`]: [`RedisServer`], a `redis-server` child.
//! - [`process`]: ports, signals, waiting and log tails, shared with the `tally` processes
//!   of `helpers.rs`.
//! - Here: the instances shared by the whole test binary, and what both servers need.

mod postgres;
pub mod process;
mod redis;

use std::env;
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::Duration;

pub use postgres::PostgresServer;
pub use redis::RedisServer;

/// How long a server may take to start accepting connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many freshly picked ports to try when another process takes
/// the free port before our server binds it.
const PORT_ATTEMPTS: u32 = 5;

const INSTALL_HINT: &str = "Install the servers:\n  \
     Debian/Ubuntu: sudo apt-get install -y postgresql redis-server\n  \
     macOS:         brew install postgresql@17 redis\n\
     Or point the tests at existing servers: TEST_DATABASE_URL=postgres://... and \
     TEST_REDIS_URL=redis://... (the shared servers then use them instead of starting new ones).";

/// Why a server did not come up.
struct LaunchError {
    /// The port was taken by someone else, so another port may work.
    port_in_use: bool,
    message: String,
}

/// Locks a mutex even if a panicking test poisoned it. The state is still
/// good enough for stopping servers.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Shared servers
// ---------------------------------------------------------------------------

static SHARED_POSTGRES: OnceLock<PostgresServer> = OnceLock::new();
static SHARED_REDIS: OnceLock<RedisServer> = OnceLock::new();
static REGISTER_CLEANUP: Once = Once::new();

/// URL of a PostgreSQL server shared by the whole test binary (superuser
/// access).
///
/// This is `TEST_DATABASE_URL` if it is set (and not empty). Otherwise a
/// [`PostgresServer`] is started on first use and its
/// [`admin_url`](PostgresServer::admin_url) returned. That server is stopped
/// and deleted when the test process exits.
pub fn shared_postgres_url() -> String {
    if let Some(url) = env_url("TEST_DATABASE_URL") {
        return url;
    }
    register_cleanup();
    SHARED_POSTGRES
        .get_or_init(PostgresServer::start)
        .admin_url()
}

/// URL of a Redis server shared by the whole test binary.
///
/// This is `TEST_REDIS_URL` if it is set (and not empty). Otherwise a
/// [`RedisServer`] is started on first use and its
/// [`url`](RedisServer::url) returned. That server is killed when the test
/// process exits.
pub fn shared_redis_url() -> String {
    if let Some(url) = env_url("TEST_REDIS_URL") {
        return url;
    }
    register_cleanup();
    SHARED_REDIS.get_or_init(RedisServer::start).url()
}

/// Whether [`shared_redis_url`] is (or will be) a server this harness
/// started. Only then can tests count on its 1024 databases and on no one
/// else using it.
pub fn shared_redis_is_throwaway() -> bool {
    env_url("TEST_REDIS_URL").is_none()
}

fn env_url(var: &str) -> Option<String> {
    env::var(var).ok().filter(|url| !url.trim().is_empty())
}

/// The shared servers live in statics, whose `Drop` never runs, so an
/// exit handler shuts them down. libtest exits through `exit()` when the
/// tests finish, which runs the handler.
fn register_cleanup() {
    REGISTER_CLEANUP.call_once(|| {
        // SAFETY: atexit only stores the function pointer. The handler is
        // an `extern "C" fn` that catches every panic.
        let rc = unsafe { libc::atexit(cleanup_shared_servers) };
        assert_eq!(
            rc, 0,
            "libc::atexit failed to register the test server cleanup"
        );
    });
}

extern "C" fn cleanup_shared_servers() {
    // An unwind out of an `extern "C"` fn would abort the process.
    let _ = std::panic::catch_unwind(|| {
        if let Some(server) = SHARED_POSTGRES.get() {
            server.shutdown();
        }
        if let Some(server) = SHARED_REDIS.get() {
            server.shutdown();
        }
    });
}
