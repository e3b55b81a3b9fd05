//! Fixtures: isolated stores, an in-process app on a random port, and the `tally` binary.
//!
//! The app and the binary both deref to [`Http`], so a test talks to either the same way.

use std::{
    fs::File,
    ops::Deref,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    str::FromStr,
    sync::{
        Once,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions, sqlite::SqliteConnectOptions};
use tally::{
    config::Config,
    startup::App,
    store::{self, Backend, Store, StoreSpec},
};
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::{
    client::{Http, Reply},
    servers::{
        self,
        process::{free_port, log_tail, send_signal, test_log, wait_for_exit},
    },
};

/// Quiet unless `TEST_LOG` is set.
pub fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if test_log() {
            // The guard is kept for the whole test run, so the writer thread keeps writing.
            std::mem::forget(tally::telemetry::init(&tally::config::LogConfig {
                filter: "debug,sqlx=info,hyper=info".to_owned(),
                format: tally::config::LogFormat::Pretty,
            }));
        }
    });
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A number unique within this test process.
pub fn unique_id() -> u32 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Creates an empty database on `admin_url`'s server and returns its URL.
pub async fn create_database(admin_url: &str) -> String {
    let name = format!("tally_test_{}_{}", std::process::id(), unique_id());
    let mut admin = PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|err| panic!("connect to the test PostgreSQL at {admin_url}: {err}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|err| panic!("CREATE DATABASE {name} (needs CREATEDB): {err}"));
    let options = PgConnectOptions::from_str(admin_url).expect("admin URL parses");
    format!(
        "postgres://{}@{}:{}/{name}",
        options.get_username(),
        options.get_host(),
        options.get_port()
    )
}

/// A Redis URL naming a db number no other test uses, emptied first.
pub async fn fresh_redis_url() -> String {
    let base = servers::shared_redis_url();
    let base = base.trim_end_matches('/');
    let db = unique_id();
    let available = if servers::shared_redis_is_throwaway() {
        1024
    } else {
        redis_database_count(base).await
    };
    assert!(
        db < available,
        "the Redis at TEST_REDIS_URL has {available} databases and the tests need one each \
         ({db} so far); start it with `--databases 1024`"
    );
    let url = format!("{base}/{db}");
    let client = redis::Client::open(url.as_str()).expect("valid redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| panic!("connect to the test Redis at {url}: {err}"));
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut conn)
        .await
        .expect("FLUSHDB on the test db");
    url
}

async fn redis_database_count(base: &str) -> u32 {
    let client = redis::Client::open(base).expect("valid redis URL");
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return 16;
    };
    let reply: Result<Vec<String>, _> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("databases")
        .query_async(&mut conn)
        .await;
    reply
        .ok()
        .and_then(|pair| pair.get(1).and_then(|n| n.parse().ok()))
        .unwrap_or(16)
}

/// An isolated store of one backend, plus whatever keeps it alive (a temp dir).
pub struct StoreFixture {
    pub spec: StoreSpec,
    /// The URL behind the spec, for spawning the binary against the same store.
    pub url: Option<String>,
    /// Keeps the SQLite file's directory until the fixture is dropped.
    _dir: TempDir,
}

impl StoreFixture {
    pub async fn new(backend: Backend) -> StoreFixture {
        init_test_logging();
        let dir = tempfile::tempdir().expect("create a temp dir");
        let (spec, url) = match backend {
            Backend::Postgres => {
                let url = create_database(&servers::shared_postgres_url()).await;
                (StoreSpec::Postgres(pg_options(&url)), Some(url))
            }
            Backend::Redis => {
                let url = fresh_redis_url().await;
                (StoreSpec::Redis(redis_info(&url)), Some(url))
            }
            Backend::Sqlite => {
                let path = dir.path().join("counts.db");
                let url = format!("sqlite://{}", path.display());
                (
                    StoreSpec::Sqlite(SqliteConnectOptions::new().filename(&path)),
                    Some(url),
                )
            }
            Backend::Memory => (StoreSpec::Memory, None),
        };
        StoreFixture {
            spec,
            url,
            _dir: dir,
        }
    }

    /// A new store instance over the fixture's data.
    pub fn open(&self, timeout: Duration) -> Store {
        store::open(&self.spec, timeout).expect("open the store")
    }
}

pub fn pg_options(url: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url).expect("valid postgres URL")
}

pub fn redis_info(url: &str) -> redis::ConnectionInfo {
    redis::IntoConnectionInfo::into_connection_info(url).expect("valid redis URL")
}

/// A tally served in-process on a random port; requests go through its [`Http`].
pub struct TestApp {
    pub http: Http,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Deref for TestApp {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

/// Starts tally on a random port with `config`'s store and settings.
pub async fn spawn_app(mut config: Config) -> TestApp {
    init_test_logging();
    config.port = 0;
    let app = App::build(config).await.expect("build the app");
    let address = format!("http://{}", app.address());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        http: Http::new(address),
        stop: Some(stop),
        served: Some(served),
    }
}

/// Starts tally on a random port over an isolated store of `backend`.
pub async fn spawn_app_for(backend: Backend) -> (TestApp, StoreFixture) {
    spawn_app_for_with(backend, |_| {}).await
}

/// Like [`spawn_app_for`], with `configure`'s changes to the default settings (an admin
/// token, a smaller limit).
pub async fn spawn_app_for_with(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> (TestApp, StoreFixture) {
    let fixture = StoreFixture::new(backend).await;
    let mut config = Config::with_store(fixture.spec.clone());
    configure(&mut config);
    let app = spawn_app(config).await;
    (app, fixture)
}

impl TestApp {
    /// Graceful shutdown; returns what `run_until` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.served.take() {
            Some(served) => served.await.expect("the server task panicked"),
            None => Ok(()),
        }
    }
}

/// Parses `Visitor count: N`.
pub fn visitor_count(reply: &Reply) -> i64 {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .body
        .strip_prefix("Visitor count: ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected /count body: {:?}", reply.body))
}

/// Retries `check` until it returns true or `limit` passes; false on time-out.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `tally` executable, with a clean environment (only PATH), run in `dir` so that no
/// developer `.env` or `data/` leaks in.
pub fn tally_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    if test_log() {
        command.env("RUST_LOG", "debug,sqlx=info,hyper=info");
    } else {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    command
}

/// A running `tally serve` process; requests go through its [`Http`].
pub struct TallyProcess {
    pub child: Child,
    pub http: Http,
    /// Where its stdout and stderr go (unless `TEST_LOG` is set), for failure messages.
    log_file: PathBuf,
    /// Holds `log_file`.
    _logs: TempDir,
}

impl Deref for TallyProcess {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

impl TallyProcess {
    /// Starts `tally` in `dir` with `envs` on a free port and waits for `/healthz`.
    pub async fn start(dir: &Path, envs: &[(&str, &str)]) -> TallyProcess {
        let port = free_port();
        let logs = tempfile::Builder::new()
            .prefix("tally-log-")
            .tempdir()
            .expect("create a temp dir for tally's log");
        let log_file = logs.path().join("tally.log");
        let mut command = tally_command(dir);
        command
            .env("PORT", port.to_string())
            .envs(envs.iter().copied());
        if !test_log() {
            let log = File::create(&log_file).expect("create tally's log file");
            let log2 = log.try_clone().expect("clone tally's log file handle");
            command.stdout(log).stderr(log2);
        }
        let child = command.spawn().expect("spawn tally");
        // From here on, a panic drops the process, which kills it.
        let mut server = TallyProcess {
            child,
            http: Http::new(format!("http://127.0.0.1:{port}")),
            log_file,
            _logs: logs,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.child.try_wait().expect("poll tally") {
                panic!(
                    "tally exited with {status} before serving\n{}",
                    server.log_tail()
                );
            }
            let healthy = server
                .try_get("/healthz")
                .await
                .is_ok_and(|reply| reply.status == StatusCode::OK);
            if healthy {
                return server;
            }
            if Instant::now() > deadline {
                panic!(
                    "tally did not answer /healthz on port {port} within 20 s\n{}",
                    server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of tally's log, for failure messages.
    fn log_tail(&self) -> String {
        if test_log() {
            "(its log is above: TEST_LOG is set)".to_owned()
        } else {
            log_tail(&self.log_file, 0)
        }
    }

    /// Sends SIGTERM and waits (up to 15 s) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        send_signal(&self.child, libc::SIGTERM);
        wait_for_exit(&mut self.child, Duration::from_secs(15))
    }
}

impl Drop for TallyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
