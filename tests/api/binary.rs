//! The `tally` executable: configuration and exit codes, store selection, persistence,
//! several processes on one store, graceful shutdown, and the `tick`, `migrate` and
//! `healthcheck` commands.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    path::Path,
    process::Stdio,
    sync::mpsc,
    time::Duration,
};

use reqwest::StatusCode;

use crate::{
    client::Http,
    helpers::{
        StoreFixture, TallyProcess, create_database, fresh_redis_url, tally_command, visitor_count,
    },
    servers::{
        self, RedisServer,
        process::{free_port, send_signal, wait_for_exit},
    },
};
use tally::store::Backend;

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temp dir")
}

/// Runs `tally <args>` in `dir` with only `envs` set; returns (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let output = tally_command(dir)
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run tally");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every invalid setting stops tally before it binds: exit code 2 and one line on stderr
/// naming the variable and what it accepts.
#[test]
fn invalid_settings_exit_2_with_one_line_naming_the_variable() {
    let dir = temp_dir();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    // One table with the unit test of `Config::from_settings`; see the file for why.
    let cases: &[Case] = include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/invalid_settings.rs"
    ));
    for (envs, variable, accepted) in cases {
        let (code, stdout, stderr) = run(dir.path(), &[], envs);
        assert_eq!(code, Some(2), "{envs:?}: stderr {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{envs:?}: one line, got {stderr}"
        );
        assert!(
            stderr.contains(variable) && stderr.contains(accepted),
            "{envs:?}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "a password leaked: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    let (code, _, stderr) = run(
        dir.path(),
        &["tick"],
        &[("COUNTER_STORE", "memory"), ("TICK_INTERVAL", "often")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("TICK_INTERVAL"), "{stderr}");
}

/// A malformed `.env` is a configuration error too, reported by line and name, without the
/// line's text (it may hold a password).
#[test]
fn malformed_dotenv_exits_2_without_showing_the_line() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join(".env"),
        "COUNTER_STORE=memory\nDATABASE_URI=postgres://app:s3cret pass@db/app\n",
    )
    .expect("write .env");
    let (code, _, stderr) = run(dir.path(), &[], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(".env") && stderr.contains("line 2") && stderr.contains("DATABASE_URI"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "a password leaked: {stderr}");
}

/// `.env` fills in what the environment does not set; the environment wins over it.
#[tokio::test]
async fn dotenv_fills_in_and_the_environment_wins() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join(".env"),
        "COUNTER_STORE=memory\nSTORE_TIMEOUT=3s\n",
    )
    .expect("write .env");
    let server = TallyProcess::start(dir.path(), &[]).await;
    assert_eq!(
        server.get("/readyz").await.json()["store"],
        "memory",
        ".env was read"
    );
    drop(server);

    std::fs::write(dir.path().join(".env"), "COUNTER_STORE=mongodb\n").expect("write .env");
    let server = TallyProcess::start(dir.path(), &[("COUNTER_STORE", "memory")]).await;
    assert_eq!(
        server.get("/readyz").await.json()["store"],
        "memory",
        "the environment wins"
    );
    drop(server);

    // The alias follows the same order: DATABASE_URL from the environment beats a
    // DATABASE_URI that only .env sets.
    let postgres = create_database(&servers::shared_postgres_url()).await;
    std::fs::write(
        dir.path().join(".env"),
        "DATABASE_URI=sqlite://from-dotenv.db\n",
    )
    .expect("write .env");
    let server = TallyProcess::start(dir.path(), &[("DATABASE_URL", &postgres)]).await;
    assert_eq!(server.get("/readyz").await.json()["store"], "postgres");
    drop(server);
    let server = TallyProcess::start(dir.path(), &[]).await;
    assert_eq!(
        server.get("/readyz").await.json()["store"],
        "sqlite",
        "and .env alone is used"
    );
}

/// Flags win over the environment.
#[tokio::test]
async fn flags_win_over_the_environment() {
    let dir = temp_dir();
    let port = free_port();
    let mut child = tally_command(dir.path())
        .args([
            "serve",
            "--counter-store",
            "memory",
            "--port",
            &port.to_string(),
        ])
        .env("COUNTER_STORE", "mongodb")
        .env("PORT", "1")
        .spawn()
        .expect("spawn tally");
    let http = Http::new(format!("http://127.0.0.1:{port}"));
    let ready = crate::helpers::eventually(Duration::from_secs(20), || async {
        http.try_get("/readyz")
            .await
            .is_ok_and(|r| r.status == StatusCode::OK)
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "tally did not serve with the flags' settings");
}

/// The store-selection rule ("Which store" in the README's Configuration section), seen from
/// `/readyz`.
#[tokio::test]
async fn store_is_chosen_by_the_documented_rule() {
    let postgres = create_database(&servers::shared_postgres_url()).await;
    let redis_url = fresh_redis_url().await;
    let redis_port = redis_url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("port in the redis URL")
        .to_owned();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "sqlite"),
        (vec![("DATABASE_URI", &postgres)], "postgres"),
        (vec![("DATABASE_URL", &postgres)], "postgres"),
        (vec![("DATABASE_URI", "sqlite://chosen.db")], "sqlite"),
        (
            vec![("DATABASE_URI", &postgres), ("REDIS_HOST", "127.0.0.1")],
            "postgres",
        ),
        (
            vec![("REDIS_HOST", "127.0.0.1"), ("REDIS_PORT", &redis_port)],
            "redis",
        ),
        (vec![("REDIS_URL", &redis_url)], "redis"),
        (
            vec![("COUNTER_STORE", "memory"), ("DATABASE_URI", &postgres)],
            "memory",
        ),
        (
            vec![("COUNTER_STORE", "sqlite"), ("REDIS_URL", &redis_url)],
            "sqlite",
        ),
    ];
    for (envs, expected) in cases {
        let dir = temp_dir();
        let server = TallyProcess::start(dir.path(), &envs).await;
        let ready = server.get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK, "{envs:?}: {}", ready.body);
        assert_eq!(ready.json()["store"], expected, "{envs:?}");
        if envs.is_empty() {
            assert!(
                dir.path().join("data/tally.db").exists(),
                "the embedded default lives in data/tally.db"
            );
        }
        if envs.iter().any(|(_, value)| *value == "sqlite://chosen.db") {
            assert!(
                dir.path().join("chosen.db").exists(),
                "DATABASE_URI's sqlite file is used"
            );
        }
    }
}

/// With nothing configured, counts survive a restart of tally (the embedded SQLite file).
#[tokio::test]
async fn embedded_default_keeps_counts_across_restarts() {
    let dir = temp_dir();
    let server = TallyProcess::start(dir.path(), &[]).await;
    assert_eq!(visitor_count(&server.count().await), 1);
    assert_eq!(visitor_count(&server.count().await), 2);
    assert_eq!(server.terminate().code(), Some(0), "SIGTERM exits 0");

    let server = TallyProcess::start(dir.path(), &[]).await;
    assert_eq!(visitor_count(&server.count().await), 3);
}

/// Two tally processes on one store never lose or repeat a count.
async fn two_processes_share_one_count(envs: &[(&str, &str)]) {
    let (dir_a, dir_b) = (temp_dir(), temp_dir());
    let a = TallyProcess::start(dir_a.path(), envs).await;
    let b = TallyProcess::start(dir_b.path(), envs).await;
    let mut values = BTreeSet::new();
    for _ in 0..10 {
        let (x, y) = tokio::join!(a.count(), b.count());
        assert!(values.insert(visitor_count(&x)));
        assert!(values.insert(visitor_count(&y)));
    }
    assert_eq!(values, (1..=20).collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn two_servers_share_one_postgres() {
    let url = create_database(&servers::shared_postgres_url()).await;
    two_processes_share_one_count(&[("DATABASE_URI", &url)]).await;
}

#[tokio::test]
async fn two_servers_share_one_redis() {
    let url = fresh_redis_url().await;
    two_processes_share_one_count(&[("REDIS_URL", &url)]).await;
}

#[tokio::test]
async fn two_servers_share_one_sqlite_file() {
    let fixture = StoreFixture::new(Backend::Sqlite).await;
    let url = fixture.url.clone().expect("sqlite fixture has a URL");
    two_processes_share_one_count(&[("DATABASE_URI", &url)]).await;
}

/// SIGTERM lets a request in flight finish (here: one waiting on a hung Redis until the store
/// timeout), then exits 0.
#[tokio::test]
async fn sigterm_finishes_requests_in_flight_then_exits_0() {
    let redis = RedisServer::start();
    let dir = temp_dir();
    let envs = [
        ("REDIS_URL", redis.url()),
        ("STORE_TIMEOUT", "4s".to_owned()),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = TallyProcess::start(dir.path(), &envs).await;
    assert_eq!(visitor_count(&server.count().await), 1);

    redis.pause();
    let http = server.http.clone();
    let started = std::time::Instant::now();
    let in_flight = tokio::spawn(async move { http.try_get("/count").await });
    // Long enough for the request to be accepted, well inside the 4 s store timeout.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    send_signal(&server.child, libc::SIGTERM);
    let reply = in_flight
        .await
        .expect("task")
        .expect("the in-flight request got an answer");
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the request was answered after {:?}: it did not wait for the store",
        started.elapsed()
    );
    let status = wait_for_exit(&mut server.child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0));
    redis.resume();
}

/// Reads a child's output lines on a thread, so tests can wait for a line with a time limit.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn next_line(lines: &mpsc::Receiver<String>, what: &str) -> String {
    lines
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("no line from tally tick ({what}) within 15 s"))
}

fn spawn_tick(dir: &Path, envs: &[(&str, &str)]) -> std::process::Child {
    tally_command(dir)
        .arg("tick")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tally tick")
}

/// `tally tick` prints `Counter: 1`, `Counter: 2`, … and stops on SIGTERM with exit 0.
#[test]
fn tick_prints_counter_lines_and_stops_on_sigterm() {
    let dir = temp_dir();
    let mut tick = spawn_tick(
        dir.path(),
        &[("COUNTER_STORE", "memory"), ("TICK_INTERVAL", "50ms")],
    );
    let stdout = lines_of(tick.stdout.take().expect("piped stdout"));
    for expected in 1..=3 {
        assert_eq!(
            next_line(&stdout, "counting"),
            format!("Counter: {expected}")
        );
    }
    send_signal(&tick, libc::SIGTERM);
    assert_eq!(
        wait_for_exit(&mut tick, Duration::from_secs(10)).code(),
        Some(0)
    );
}

/// `tally tick` keeps going through a Redis outage: a clear line while it is down, counting
/// again once it is back.
#[test]
fn tick_keeps_ticking_through_an_outage() {
    let redis = RedisServer::start();
    let dir = temp_dir();
    let url = redis.url();
    let envs = [
        ("REDIS_URL", url.as_str()),
        ("TICK_INTERVAL", "100ms"),
        ("STORE_TIMEOUT", "500ms"),
    ];
    let mut tick = spawn_tick(dir.path(), &envs);
    let stdout = lines_of(tick.stdout.take().expect("piped stdout"));
    let stderr = lines_of(tick.stderr.take().expect("piped stderr"));
    assert_eq!(next_line(&stdout, "before the outage"), "Counter: 1");

    redis.stop();
    let complaint = loop {
        let line = next_line(&stderr, "during the outage");
        if line.starts_with("tick:") {
            break line;
        }
    };
    assert!(
        complaint.contains("store unavailable") && complaint.contains("redis"),
        "{complaint}"
    );

    redis.start_again();
    // Drain what was printed before the outage; the next count after it comes back proves
    // the worker recovered (the throwaway Redis starts empty, so it counts from 1 again).
    let recovered = (0..200).any(|_| next_line(&stdout, "after the outage") == "Counter: 1");
    assert!(recovered, "tick did not count again after Redis came back");
    send_signal(&tick, libc::SIGTERM);
    assert_eq!(
        wait_for_exit(&mut tick, Duration::from_secs(10)).code(),
        Some(0)
    );
}

/// `tally healthcheck` exits 0 against a serving tally and 1 when nothing answers.
#[tokio::test]
async fn healthcheck_exits_0_when_healthy_and_1_otherwise() {
    let dir = temp_dir();
    let server = TallyProcess::start(dir.path(), &[("COUNTER_STORE", "memory")]).await;
    let port = server.address.rsplit(':').next().expect("port").to_owned();
    let (code, stdout, _) = run(
        dir.path(),
        &["healthcheck"],
        &[("PORT", &port), ("COUNTER_STORE", "memory")],
    );
    assert_eq!(code, Some(0), "{stdout}");
    let closed = free_port().to_string();
    let (code, _, stderr) = run(
        dir.path(),
        &["healthcheck"],
        &[("PORT", &closed), ("COUNTER_STORE", "memory")],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("unhealthy"), "{stderr}");
}

/// `tally migrate` creates the schema in PostgreSQL and SQLite and exits 0.
#[tokio::test]
async fn migrate_creates_the_schema() {
    use sqlx::Connection;
    let url = create_database(&servers::shared_postgres_url()).await;
    let dir = temp_dir();
    let (code, stdout, stderr) = run(dir.path(), &["migrate"], &[("DATABASE_URI", &url)]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("migrations applied"), "{stdout}");
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('public.counters')::text")
        .fetch_one(&mut conn)
        .await
        .expect("query");
    assert_eq!(table.as_deref(), Some("counters"));

    let (code, _, stderr) = run(dir.path(), &["migrate"], &[("SQLITE_PATH", "db/counts.db")]);
    assert_eq!(code, Some(0), "{stderr}");
    let sqlite = format!("sqlite://{}", dir.path().join("db/counts.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&sqlite)
        .await
        .expect("open the file");
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'counters'")
            .fetch_one(&mut conn)
            .await
            .expect("query");
    assert_eq!(tables, 1);
}

/// `tally migrate` against a database that is down fails (exit 1) within the store timeout,
/// saying which store and why, without the password.
#[test]
fn migrate_against_a_dead_database_exits_1_with_the_reason() {
    let dir = temp_dir();
    let uri = format!("postgres://app:s3cret@127.0.0.1:{}/app", free_port());
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URI", &uri), ("STORE_TIMEOUT", "1s")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("postgres") && stderr.contains("unavailable"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// `tally --help` documents every environment variable of the README's Configuration section.
#[test]
fn help_documents_every_variable() {
    let dir = temp_dir();
    let (code, help, _) = run(dir.path(), &["--help"], &[]);
    assert_eq!(code, Some(0));
    for variable in [
        "HOST",
        "PORT",
        "COUNTER_STORE",
        "DATABASE_URI",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_URL",
        "SQLITE_PATH",
        "STORE_TIMEOUT",
        "RUST_LOG",
        "LOG_FORMAT",
        "HEALTHCHECK_URL",
        "HEADER_TIMEOUT",
        "KEEPALIVE_TIMEOUT",
        "SHUTDOWN_TIMEOUT",
        "MAX_CONNECTIONS",
        "RATE_LIMIT",
        "TRUSTED_PROXIES",
        "ADMIN_TOKEN",
        "IMPORT_LIMIT",
        "HISTORY_DAYS",
        "MAX_STREAMS",
    ] {
        // clap prints `[env: NAME=]`, or `[env: NAME]` where values are hidden.
        let documented = help.contains(&format!("[env: {variable}="))
            || help.contains(&format!("[env: {variable}]"));
        assert!(documented, "--help does not document {variable}:\n{help}");
    }
    assert!(
        help.contains("DATABASE_URL is read"),
        "the alias is documented:\n{help}"
    );
    let (_, help, _) = run(dir.path(), &["tick", "--help"], &[]);
    assert!(
        help.contains("[env: TICK_INTERVAL=") && help.contains("[env: TICK_COUNTER="),
        "{help}"
    );
}

/// `tally config` prints what tally would use, passwords hidden, and exits 2 on a bad setting;
/// a leading `tally` (as in `docker compose run web tally config`) is ignored.
#[test]
fn config_prints_the_effective_settings_and_tolerates_a_leading_tally() {
    let dir = temp_dir();
    let envs = [("DATABASE_URI", "postgres://app:s3cret@db:5432/counts")];
    for args in [&["config"][..], &["tally", "config"]] {
        let (code, stdout, stderr) = run(dir.path(), args, &envs);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(
            stdout.contains("store: postgres at app@db:5432/counts"),
            "{stdout}"
        );
        assert!(!stdout.contains("s3cret"), "{stdout}");
    }
    let envs = [("HEALTHCHECK_URL", "http://probe:s3cret@web:5000/healthz")];
    let (code, stdout, stderr) = run(dir.path(), &["config"], &envs);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("healthcheck_url: http://probe:***@web:5000/healthz"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"), "{stdout}");
    let (code, _, stderr) = run(dir.path(), &["config"], &[("PORT", "-1")]);
    assert_eq!(code, Some(2), "{stderr}");
}

/// Ctrl-C (SIGINT) stops tally as gracefully as SIGTERM: exit 0.
#[tokio::test]
async fn ctrl_c_exits_0() {
    let dir = temp_dir();
    let mut server = TallyProcess::start(dir.path(), &[("COUNTER_STORE", "memory")]).await;
    assert_eq!(visitor_count(&server.count().await), 1);
    send_signal(&server.child, libc::SIGINT);
    let status = wait_for_exit(&mut server.child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0));
}

/// `LOG_FORMAT=json` writes one JSON object per line on stderr, including the store choice
/// and its reason; stdout stays empty.
#[test]
fn json_logs_are_one_object_per_line() {
    let dir = temp_dir();
    let port = free_port().to_string();
    let mut child = tally_command(dir.path())
        .envs([
            ("COUNTER_STORE", "memory"),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
            ("PORT", &port),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tally");
    let stderr = lines_of(child.stderr.take().expect("piped stderr"));
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|line: &String| line.contains("listening on"))
    {
        lines.push(
            stderr
                .recv_timeout(Duration::from_secs(15))
                .expect("a log line within 15 s"),
        );
    }
    send_signal(&child, libc::SIGTERM);
    assert_eq!(
        wait_for_exit(&mut child, Duration::from_secs(15)).code(),
        Some(0)
    );
    for line in &lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        assert!(
            object["level"].is_string() && object["fields"]["message"].is_string(),
            "{line}"
        );
    }
    let selected = lines
        .iter()
        .find(|line| line.contains("counter store selected"))
        .expect("the store choice is logged");
    assert!(
        selected.contains(r#""store":"memory""#) && selected.contains("COUNTER_STORE=memory"),
        "{selected}"
    );
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped stdout"), &mut stdout)
        .expect("read stdout");
    assert!(stdout.is_empty(), "{stdout}");
}
