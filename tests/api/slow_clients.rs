//! Slow, idle and stuck clients (README, "Slow, idle and stuck clients"), with real sockets:
//! heads that never finish, silent and idle keep-alive connections, thousands of slow
//! connections, the connection cap, SIGTERM with such clients attached, the open-file limit.
//!
//! Timeouts here are short so the tests are quick, but every check is about behaviour (what
//! the client receives, whether the connection closed, in which order), with wide margins for
//! a loaded machine; lower bounds only ever check that tally did not close too *early*.

use std::{
    io::Read,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use tally::{
    config::{Config, ServerLimits},
    store::StoreSpec,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    helpers::{TestApp, redis_info, spawn_app, tally_command},
    servers::{
        RedisServer,
        process::{free_port, send_signal, wait_for_exit},
    },
};

/// How long any one wait in these tests may take before it counts as "never": far beyond
/// every timeout used here.
const NEVER: Duration = Duration::from_secs(30);

/// A little less than the timeout under test, so that a loaded machine's clock granularity
/// does not fail a check that tally waited.
fn nearly(timeout: Duration) -> Duration {
    timeout.mul_f64(0.9)
}

const HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: tally\r\n\r\n";
/// A request head missing its final blank line.
const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: tally\r\n";

/// An in-process tally on the memory store with `limits` changed by `set`.
async fn app_with(set: impl FnOnce(&mut ServerLimits)) -> TestApp {
    let mut config = Config::with_store(StoreSpec::Memory);
    set(&mut config.server);
    spawn_app(config).await
}

fn socket_address(app_address: &str) -> String {
    app_address.trim_start_matches("http://").to_owned()
}

async fn connect(address: &str) -> TcpStream {
    TcpStream::connect(socket_address(address))
        .await
        .unwrap_or_else(|err| panic!("connect to {address}: {err}"))
}

/// Reads until the server closes the connection (end of stream or reset); returns what was
/// read. Panics if it stays open for [`NEVER`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(NEVER, read_all)
        .await
        .expect("tally closed the connection");
    received
}

/// Reads until tally closes the connection, checks that it waited at least (nearly) `timeout`
/// from `since`, and returns what it sent before closing.
async fn closed_after(stream: &mut TcpStream, since: Instant, timeout: Duration) -> String {
    let answer = read_until_closed(stream).await;
    let waited = since.elapsed();
    assert!(waited >= nearly(timeout), "closed after {waited:?}");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Reads one response (head and `content-length` body) from a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.expect("read a response");
            assert!(n > 0, "closed before a whole response: {received:?}");
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text.into_owned();
                }
            }
        }
    };
    tokio::time::timeout(NEVER, read)
        .await
        .expect("a response in time")
}

fn assert_ok(response: &str) {
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
}

/// A head sent in part is answered `408` (with the usual JSON error body) and closed once
/// `HEADER_TIMEOUT` has passed.
#[tokio::test]
async fn a_half_sent_head_gets_408_and_is_closed_after_header_timeout() {
    let header = Duration::from_secs(1);
    let app = app_with(|limits| {
        limits.header_timeout = header;
        limits.keepalive_timeout = NEVER;
    })
    .await;
    let mut stream = connect(&app.address).await;
    let started = Instant::now();
    stream.write_all(HALF_HEAD).await.expect("send half a head");
    let answer = closed_after(&mut stream, started, header).await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let id = answer
        .lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .unwrap_or_default();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "an id made like every other: {answer}"
    );
    assert!(answer.contains(r#""error":"request_timeout""#), "{answer}");
    app.stop().await.expect("stops");
}

/// Trickling bytes does not extend the deadline: the head must be whole within
/// `HEADER_TIMEOUT` of the connection, however steadily its bytes come.
#[tokio::test]
async fn a_head_trickled_a_byte_at_a_time_is_still_closed() {
    let header = Duration::from_secs(1);
    let app = app_with(|limits| {
        limits.header_timeout = header;
        limits.keepalive_timeout = NEVER;
    })
    .await;
    let stream = connect(&app.address).await;
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in HALF_HEAD.iter().cycle() {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(NEVER, async {
        while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    assert!(closed.is_ok(), "a trickling client kept its connection");
    assert!(
        started.elapsed() >= nearly(header),
        "{:?}",
        started.elapsed()
    );
    trickle.abort();
    app.stop().await.expect("stops");
}

/// A connection that sends nothing is closed after `HEADER_TIMEOUT`, without an answer (it
/// may be sending a request at that very moment; a plain close lets it retry).
#[tokio::test]
async fn a_silent_connection_is_closed_after_header_timeout_without_an_answer() {
    let header = Duration::from_secs(1);
    let app = app_with(|limits| {
        limits.header_timeout = header;
        limits.keepalive_timeout = NEVER;
    })
    .await;
    let mut stream = connect(&app.address).await;
    let started = Instant::now();
    let answer = closed_after(&mut stream, started, header).await;
    assert!(answer.is_empty(), "{answer}");
    app.stop().await.expect("stops");
}

/// Keep-alive works: two requests on one connection, the second after a pause longer than
/// `HEADER_TIMEOUT`. hyper's own header timer runs from the end of the previous response, so
/// had it been set to `HEADER_TIMEOUT` it would have closed this idle connection.
#[tokio::test]
async fn two_requests_on_one_connection_with_a_pause_longer_than_header_timeout() {
    let header = Duration::from_secs(1);
    let app = app_with(|limits| {
        limits.header_timeout = header;
        limits.keepalive_timeout = NEVER;
    })
    .await;
    let mut stream = connect(&app.address).await;
    stream.write_all(HEAD).await.expect("first request");
    assert_ok(&read_response(&mut stream).await);
    tokio::time::sleep(header * 2 + Duration::from_millis(500)).await;
    stream.write_all(HEAD).await.expect("second request");
    assert_ok(&read_response(&mut stream).await);
    app.stop().await.expect("stops");
}

/// An idle keep-alive connection is closed after `KEEPALIVE_TIMEOUT`, quietly.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_keepalive_timeout() {
    let keepalive = Duration::from_secs(1);
    let app = app_with(|limits| {
        limits.header_timeout = NEVER;
        limits.keepalive_timeout = keepalive;
    })
    .await;
    let mut stream = connect(&app.address).await;
    stream.write_all(HEAD).await.expect("request");
    assert_ok(&read_response(&mut stream).await);
    let idle_from = Instant::now();
    let after = closed_after(&mut stream, idle_from, keepalive).await;
    assert!(after.is_empty(), "{after}");
    app.stop().await.expect("stops");
}

/// On a keep-alive connection, the next head sent in part is under `HEADER_TIMEOUT` from its
/// first byte (not the much longer `KEEPALIVE_TIMEOUT`), and gets a 408.
#[tokio::test]
async fn a_later_head_sent_in_part_gets_408_after_header_timeout() {
    let header = Duration::from_secs(1);
    let app = app_with(|limits| {
        limits.header_timeout = header;
        limits.keepalive_timeout = Duration::from_secs(600);
    })
    .await;
    let mut stream = connect(&app.address).await;
    stream.write_all(HEAD).await.expect("request");
    assert_ok(&read_response(&mut stream).await);
    let started = Instant::now();
    stream.write_all(HALF_HEAD).await.expect("half a head");
    let answer = closed_after(&mut stream, started, header).await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    app.stop().await.expect("stops");
}

/// Raises this test process's open-file soft limit to at least `needed`; the in-process
/// server's connections count against it too.
pub(crate) fn raise_open_files(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on one `rlimit` we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(
            limit.rlim_max >= needed,
            "this test needs {needed} open files; the hard limit is {} (ulimit -Hn)",
            limit.rlim_max
        );
        if limit.rlim_cur < needed {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// Opens `count` connections that each send half a head and stay.
async fn slow_connections(address: &str, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = connect(address).await;
        stream.write_all(HALF_HEAD).await.expect("half a head");
        streams.push(stream);
    }
    streams
}

/// A thousand slowloris connections do not keep a normal client from being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_connections_do_not_stop_a_normal_client() {
    const SLOW: usize = 1000;
    // Both ends of every connection live in this process, plus the other tests' files.
    raise_open_files(2 * SLOW as u64 + 1024);
    let app = app_with(|limits| limits.header_timeout = Duration::from_secs(120)).await;
    let slow = slow_connections(&app.address, SLOW).await;
    let client = reqwest::Client::builder()
        .timeout(NEVER)
        .build()
        .expect("client");
    let count = client
        .get(format!("{}/count", app.address))
        .send()
        .await
        .expect("a normal client is served");
    assert_eq!(count.status(), StatusCode::OK);
    assert_eq!(count.text().await.expect("body"), "Visitor count: 1");
    let health = client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(health.status(), StatusCode::OK);
    drop(slow);
    app.stop().await.expect("stops");
}

/// With every slot taken by slow clients, a client waiting in the backlog makes room: the
/// oldest connection with no request in flight is closed (without an answer), and `/healthz`
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_slow_clients_make_room_and_healthz_answers() {
    let app = app_with(|limits| {
        limits.header_timeout = Duration::from_secs(120);
        limits.max_connections = 20;
    })
    .await;
    let mut slow = slow_connections(&app.address, 40).await;
    let health = reqwest::Client::builder()
        .timeout(NEVER)
        .build()
        .expect("client")
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("healthz answers at the cap");
    assert_eq!(health.status(), StatusCode::OK);
    let mut closed = 0;
    for stream in &mut slow {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(20), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            Ok(Ok(n)) => panic!(
                "a connection closed to make room got an answer: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_still_open) => {}
        }
    }
    assert!(closed >= 1, "no slow connection was closed to make room");
    app.stop().await.expect("stops");
}

/// At the cap, a request in flight is never cut to make room: the next client waits in the
/// backlog (it neither fails nor is refused) and is served once the request has finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_request_in_flight_is_kept_and_the_next_client_waits() {
    let redis = RedisServer::start();
    let store_timeout = Duration::from_secs(4);
    let mut config = Config::with_store(StoreSpec::Redis(redis_info(&redis.url())));
    config.store_timeout = store_timeout;
    config.server.max_connections = 1;
    let app = spawn_app(config).await;

    redis.pause();
    let mut busy = connect(&app.address).await;
    busy.write_all(b"GET /count HTTP/1.1\r\nHost: tally\r\n\r\n")
        .await
        .expect("request");
    let started = Instant::now();
    // Long enough for the request to reach the store, well inside the store timeout.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut next = connect(&app.address).await;
    next.write_all(HEAD).await.expect("request");

    let (busy_answer, next_answer) = tokio::join!(
        async {
            let answer = read_response(&mut busy).await;
            (answer, Instant::now())
        },
        async {
            let answer = read_response(&mut next).await;
            (answer, Instant::now())
        }
    );
    redis.resume();
    assert!(
        busy_answer.0.starts_with("HTTP/1.1 503 "),
        "the request in flight ran to its store timeout: {}",
        busy_answer.0
    );
    assert!(
        busy_answer.1 - started >= nearly(store_timeout),
        "the request in flight was answered after {:?}",
        busy_answer.1 - started
    );
    assert_ok(&next_answer.0);
    assert!(
        next_answer.1 - started >= nearly(store_timeout),
        "the next client was served after {:?}, while the cap was held",
        next_answer.1 - started
    );
    app.stop().await.expect("stops");
}

/// Starts the `tally` binary with `envs` on a free port, stderr piped, and waits for
/// `/healthz`.
async fn start_tally(dir: &Path, envs: &[(&str, &str)]) -> (Child, String) {
    let port = free_port();
    let mut child = tally_command(dir)
        .env("PORT", port.to_string())
        .envs(envs.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tally");
    let address = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + NEVER;
    loop {
        if let Some(status) = child.try_wait().expect("poll tally") {
            panic!(
                "tally exited with {status} before serving: {}",
                stderr_of(child)
            );
        }
        let healthy = client
            .get(format!("{address}/healthz"))
            .send()
            .await
            .is_ok_and(|response| response.status() == StatusCode::OK);
        if healthy {
            return (child, address);
        }
        assert!(Instant::now() < deadline, "tally did not serve /healthz");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything the (exited or killed) child wrote on stderr.
fn stderr_of(mut child: Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

/// SIGTERM with slow clients attached: the half-sent and silent connections are closed at
/// once, the request in flight still gets its 200, and tally exits 0 within
/// `SHUTDOWN_TIMEOUT` + 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_slowloris_attached_finishes_the_request_in_flight_and_exits_0() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let shutdown = Duration::from_secs(5);
    let url = redis.url();
    let envs = [
        ("REDIS_URL", url.as_str()),
        // Longer than the shutdown timeout: the store must not answer the request by itself.
        ("STORE_TIMEOUT", "8s"),
        ("SHUTDOWN_TIMEOUT", "5s"),
        ("HEADER_TIMEOUT", "60s"),
    ];
    let (mut tally, address) = start_tally(dir.path(), &envs).await;

    // The measured defect: half a head, then a byte at a time.
    let (mut slow_reader, mut slow_writer) = connect(&address).await.into_split();
    let trickle = tokio::spawn(async move {
        for byte in HALF_HEAD.iter().cycle() {
            if slow_writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut silent = connect(&address).await;

    redis.pause();
    let counting = address.clone();
    let in_flight = tokio::spawn(async move {
        reqwest::Client::builder()
            .timeout(NEVER)
            .build()
            .expect("client")
            .get(format!("{counting}/count"))
            .send()
            .await
    });
    // Long enough for the request to reach the store, well inside the store timeout.
    tokio::time::sleep(Duration::from_secs(1)).await;
    send_signal(&tally, libc::SIGTERM);
    let signalled = Instant::now();

    // Closed at once: while the request in flight still waits on the paused store.
    let mut buf = [0u8; 256];
    let slow_closed = tokio::time::timeout(Duration::from_secs(3), async {
        while matches!(slow_reader.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    let silent_closed = tokio::time::timeout(Duration::from_secs(1), silent.read(&mut buf)).await;
    redis.resume();
    assert!(
        slow_closed.is_ok(),
        "the slowloris stayed connected after SIGTERM"
    );
    assert!(
        matches!(silent_closed, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection stayed open after SIGTERM"
    );

    let reply = in_flight
        .await
        .expect("task")
        .expect("the request in flight got an answer");
    assert_eq!(reply.status(), StatusCode::OK);
    let status = wait_for_exit(&mut tally, NEVER);
    assert_eq!(status.code(), Some(0), "{}", stderr_of(tally));
    assert!(
        signalled.elapsed() <= shutdown + Duration::from_secs(1),
        "tally exited {:?} after SIGTERM",
        signalled.elapsed()
    );
    trickle.abort();
}

/// A request still in flight when `SHUTDOWN_TIMEOUT` passes is cut, one log line says how
/// many were, and tally exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cuts_what_outlives_shutdown_timeout_and_says_how_many() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let shutdown = Duration::from_secs(1);
    let url = redis.url();
    let envs = [
        ("REDIS_URL", url.as_str()),
        ("STORE_TIMEOUT", "20s"),
        ("SHUTDOWN_TIMEOUT", "1s"),
        ("RUST_LOG", "info"),
        ("LOG_FORMAT", "json"),
    ];
    let (mut tally, address) = start_tally(dir.path(), &envs).await;
    redis.pause();
    let in_flight = tokio::spawn(async move { reqwest::get(format!("{address}/count")).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    send_signal(&tally, libc::SIGTERM);
    let signalled = Instant::now();
    let status = wait_for_exit(&mut tally, NEVER);
    let exited_after = signalled.elapsed();
    redis.resume();
    assert!(
        in_flight.await.expect("task").is_err(),
        "the request outlived the shutdown timeout and was cut"
    );
    let log = stderr_of(tally);
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        exited_after <= shutdown + Duration::from_secs(1),
        "tally exited {exited_after:?} after SIGTERM"
    );
    let cut: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(r#""cut":"#))
        .collect();
    assert_eq!(cut.len(), 1, "one line about the cut connections: {log}");
    assert!(cut[0].contains(r#""cut":1"#), "{}", cut[0]);
}

/// Runs `tally <args>` in `dir` with `envs` and the open-file limit (soft and hard) set to
/// `open_files`; returns (exit code, stdout, stderr).
fn run_with_open_files(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    open_files: u64,
) -> (Option<i32>, String, String) {
    let mut command = tally_command(dir);
    command
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    limit_open_files(&mut command, open_files);
    let output = command.output().expect("run tally");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn limit_open_files(command: &mut Command, open_files: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls setrlimit, which is async-signal-safe, on its own data.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: open_files,
                rlim_max: open_files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// An explicit `MAX_CONNECTIONS` above the hard open-file limit stops tally (exit 2, one line
/// naming both numbers); the default is lowered to fit, with a warning naming both, and
/// tally serves.
#[tokio::test]
async fn max_connections_must_fit_the_open_file_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = ("COUNTER_STORE", "memory");
    for args in [&[][..], &["config"]] {
        let (code, stdout, stderr) = run_with_open_files(
            dir.path(),
            args,
            &[memory, ("MAX_CONNECTIONS", "5000")],
            512,
        );
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("MAX_CONNECTIONS") && stderr.contains("5000") && stderr.contains("512"),
            "{stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
    }

    let (code, stdout, stderr) = run_with_open_files(dir.path(), &["config"], &[memory], 512);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("max_connections: 448"), "{stdout}");
    assert!(
        stderr.contains("10000") && stderr.contains("448") && stderr.contains("512"),
        "a warning names both numbers: {stderr}"
    );

    let port = free_port();
    let mut command = tally_command(dir.path());
    command
        .env("PORT", port.to_string())
        .env(memory.0, memory.1);
    limit_open_files(&mut command, 512);
    let mut child = command.spawn().expect("spawn tally");
    let address = format!("http://127.0.0.1:{port}/healthz");
    let served = crate::helpers::eventually(NEVER, || async {
        reqwest::get(&address)
            .await
            .is_ok_and(|response| response.status() == StatusCode::OK)
    })
    .await;
    send_signal(&child, libc::SIGTERM);
    let status = wait_for_exit(&mut child, NEVER);
    assert!(served, "tally serves with the lowered default");
    assert_eq!(status.code(), Some(0));
}

/// The four settings are validated like the others (exit 2, one line naming the variable),
/// documented in `--help`, and shown by `tally config`.
#[test]
fn server_limit_settings_are_checked_documented_and_shown() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (variable, value, accepted) in [
        ("HEADER_TIMEOUT", "soon", "2s"),
        ("KEEPALIVE_TIMEOUT", "0s", "above zero"),
        ("SHUTDOWN_TIMEOUT", "8", "2s"),
        ("MAX_CONNECTIONS", "none", "at least 1"),
    ] {
        let (code, stdout, stderr) =
            run_with_open_files(dir.path(), &[], &[(variable, value)], 4096);
        assert_eq!(code, Some(2), "{variable}={value}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(variable) && stderr.contains(accepted),
            "{stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
    }

    let (code, help, _) = run_with_open_files(dir.path(), &["--help"], &[], 4096);
    assert_eq!(code, Some(0));
    for variable in [
        "HEADER_TIMEOUT",
        "KEEPALIVE_TIMEOUT",
        "SHUTDOWN_TIMEOUT",
        "MAX_CONNECTIONS",
    ] {
        assert!(
            help.contains(&format!("[env: {variable}=")),
            "--help does not document {variable}:\n{help}"
        );
    }

    let envs = [
        ("COUNTER_STORE", "memory"),
        ("HEADER_TIMEOUT", "3s"),
        ("KEEPALIVE_TIMEOUT", "2m"),
        ("SHUTDOWN_TIMEOUT", "500ms"),
        ("MAX_CONNECTIONS", "100"),
    ];
    let (code, stdout, stderr) = run_with_open_files(dir.path(), &["config"], &envs, 4096);
    assert_eq!(code, Some(0), "{stderr}");
    for line in [
        "header_timeout: 3s",
        "keepalive_timeout: 2m",
        "shutdown_timeout: 500ms",
        "max_connections: 100",
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }
}
