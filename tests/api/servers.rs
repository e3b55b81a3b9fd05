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

// Each test binary that includes this module uses only part of its API
// (not every binary pauses Redis or restarts PostgreSQL). Without this,
// every such binary would warn about the parts it does not use.
#![allow(dead_code)]

use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to start accepting connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Redis gets to exit after SIGTERM before it is killed.
const REDIS_STOP_GRACE: Duration = Duration::from_secs(5);
/// How many freshly picked ports to try when another process takes
/// the free port before our server binds it.
const PORT_ATTEMPTS: u32 = 5;
/// Pause between readiness checks.
const POLL: Duration = Duration::from_millis(20);

const INSTALL_HINT: &str = "Install the servers:\n  \
     Debian/Ubuntu: sudo apt-get install -y postgresql redis-server\n  \
     macOS:         brew install postgresql@17 redis\n\
     Or point the tests at existing servers: TEST_DATABASE_URL=postgres://... and \
     TEST_REDIS_URL=redis://... (the shared servers then use them instead of starting new ones).";

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// A private PostgreSQL cluster in a temp dir: superuser `postgres`, trust
/// auth, TCP on 127.0.0.1 only (no Unix socket), durability turned off for speed.
///
/// When dropped, the server is shut down and its data deleted.
pub struct PostgresServer {
    /// Directory holding `initdb` and `pg_ctl`.
    bin_dir: PathBuf,
    /// `pg_isready` for the readiness check, if installed.
    pg_isready: Option<PathBuf>,
    /// `(uid, gid)` of the `postgres` user when we run as root.
    run_as: Option<(u32, u32)>,
    /// The temp dir that holds `data/` and `pg.log`.
    root: PathBuf,
    data_dir: PathBuf,
    log_file: PathBuf,
    port: AtomicU16,
    /// Whether `start`/`start_again` succeeded since the last `stop`.
    /// Also serialises `stop` and `start_again`.
    running: Mutex<bool>,
    /// Taken (and the dir deleted) on shutdown.
    temp_dir: Mutex<Option<TempDir>>,
}

/// Why a server did not come up.
struct LaunchError {
    /// The port was taken by someone else, so another port may work.
    port_in_use: bool,
    message: String,
}

impl PostgresServer {
    /// Runs `initdb` into a fresh temp dir, then `pg_ctl start` on a free
    /// 127.0.0.1 port. Blocks until the server accepts connections.
    ///
    /// Panics with install instructions if the binaries are missing, and
    /// with the server log if it does not start.
    pub fn start() -> PostgresServer {
        let (bin_dir, pg_isready) = find_postgres_binaries();
        let run_as = postgres_run_as();

        let temp_dir = tempfile::Builder::new()
            .prefix("tally-pg-")
            .tempdir()
            .expect("failed to create a temp dir for the test PostgreSQL server");
        let root = temp_dir.path().to_path_buf();
        let data_dir = root.join("data");
        fs::create_dir(&data_dir).expect("failed to create the PostgreSQL data dir");
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700))
            .expect("failed to chmod 0700 the PostgreSQL data dir");
        if let Some((uid, gid)) = run_as {
            // The log file goes in `root`, so the postgres user must own it too.
            for dir in [&root, &data_dir] {
                chown(dir, Some(uid), Some(gid)).unwrap_or_else(|e| {
                    panic!(
                        "failed to chown {} to the postgres user: {e}",
                        dir.display()
                    )
                });
            }
        }

        let server = PostgresServer {
            bin_dir,
            pg_isready,
            run_as,
            log_file: root.join("pg.log"),
            root,
            data_dir,
            port: AtomicU16::new(0),
            running: Mutex::new(false),
            temp_dir: Mutex::new(Some(temp_dir)),
        };
        // From here on, a panic drops `server`, which stops the server and deletes the temp dir.
        server.initdb();

        let mut running = lock(&server.running);
        for attempt in 1..=PORT_ATTEMPTS {
            server.port.store(free_port(), Ordering::SeqCst);
            match server.launch() {
                Ok(()) => {
                    *running = true;
                    break;
                }
                Err(e) if e.port_in_use && attempt < PORT_ATTEMPTS => continue,
                Err(e) => panic!("{}", e.message),
            }
        }
        drop(running);
        if test_log() {
            eprintln!(
                "[servers] PostgreSQL on port {}, data {}, log {}",
                server.port(),
                server.data_dir.display(),
                server.log_file.display()
            );
        }
        server
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    /// `postgres://postgres@127.0.0.1:{port}/postgres`. The superuser needs
    /// no password (trust auth).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port())
    }

    /// Stops the server (`pg_ctl stop -m fast`) and waits until it has
    /// exited. Data is kept for `start_again`, which uses the same port.
    /// Does nothing if the server is already stopped.
    pub fn stop(&self) {
        let mut running = lock(&self.running);
        if !*running {
            return;
        }
        let out = self
            .pg_ctl(&["-m", "fast", "-w", "-t", "30", "stop"])
            .output()
            .expect("failed to run pg_ctl stop");
        if !out.status.success() {
            panic!(
                "pg_ctl stop -m fast failed ({}) for the test server on port {}\n{}{}",
                out.status,
                self.port(),
                describe_output(&out),
                log_tail(&self.log_file, 0),
            );
        }
        *running = false;
    }

    /// Starts a stopped server again on the same port and data dir, and
    /// blocks until it accepts connections. Does nothing if it is running.
    pub fn start_again(&self) {
        let mut running = lock(&self.running);
        if *running {
            return;
        }
        if let Err(e) = self.launch() {
            panic!("{}", e.message);
        }
        *running = true;
    }

    /// A `Command` for one of the PostgreSQL binaries. It runs as the
    /// postgres user when we are root, with output captured.
    fn pg_command(&self, binary: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(binary));
        cmd.current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).args(args);
        cmd
    }

    fn initdb(&self) {
        let out = self
            .pg_command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            // `--locale=C` keeps initdb from failing on a developer
            // locale that is not installed, and makes sorting the same on
            // every machine.
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync"])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "failed to run {}: {e}",
                    self.bin_dir.join("initdb").display()
                )
            });
        if test_log() {
            eprint!("{}", describe_output(&out));
        }
        if !out.status.success() {
            let hint = if self.run_as.is_some() {
                "\n(running as root: initdb runs as user `postgres`, who must be able to reach \
                 the temp dir; check the permissions of TMPDIR and its parents)"
            } else {
                ""
            };
            panic!(
                "initdb failed ({}) for {}{hint}\n{}",
                out.status,
                self.data_dir.display(),
                describe_output(&out)
            );
        }
    }

    /// `pg_ctl start` on the current port, then wait until the server
    /// accepts connections.
    fn launch(&self) -> Result<(), LaunchError> {
        let port = self.port();
        let log_start = file_len(&self.log_file);
        // pg_ctl passes this string to `/bin/sh -c "exec postgres ... <opts>"`,
        // so shell quoting applies: `''` reaches postgres as an empty value,
        // which turns off the Unix socket.
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=400"
        );
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file);
        let out = cmd
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .output()
            .expect("failed to run pg_ctl start");
        if test_log() {
            eprint!("{}", describe_output(&out));
        }
        if !out.status.success() {
            let log = read_from(&self.log_file, log_start);
            return Err(LaunchError {
                port_in_use: log.contains("Address already in use"),
                message: format!(
                    "pg_ctl start failed ({}) for the test server on port {port}\n{}{}",
                    out.status,
                    describe_output(&out),
                    log_tail(&self.log_file, log_start),
                ),
            });
        }
        // `pg_ctl -w` returns once the postmaster reports it is ready.
        // Check that a client really can connect before returning.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let problem = match &self.pg_isready {
                Some(pg_isready) => {
                    let out = Command::new(pg_isready)
                        .args(["-h", "127.0.0.1", "-U", "postgres"])
                        .args(["-d", "postgres", "-t", "2"])
                        .arg("-p")
                        .arg(port.to_string())
                        .stdin(Stdio::null())
                        .output()
                        .unwrap_or_else(|e| panic!("failed to run {}: {e}", pg_isready.display()));
                    if out.status.success() {
                        return Ok(());
                    }
                    describe_output(&out)
                }
                None => match TcpStream::connect_timeout(&local(port), Duration::from_secs(1)) {
                    Ok(_) => return Ok(()),
                    Err(e) => format!("TCP connect: {e}\n"),
                },
            };
            if Instant::now() > deadline {
                panic!(
                    "the test PostgreSQL server on port {port} started but accepted no \
                     connections within {READY_TIMEOUT:?}\n{problem}{}",
                    log_tail(&self.log_file, log_start)
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Stops the server at once and deletes its temp dir. Ignores errors.
    /// Used by `Drop` and the exit handler.
    fn shutdown(&self) {
        let Some(temp_dir) = lock(&self.temp_dir).take() else {
            return; // already shut down
        };
        let pid_file = self.data_dir.join("postmaster.pid");
        if pid_file.exists() {
            let stopped = self
                .pg_ctl(&["-m", "immediate", "-w", "-t", "10", "stop"])
                .output()
                .is_ok_and(|out| out.status.success());
            if !stopped {
                // Last resort: kill the postmaster named in the pid file.
                // Its backends exit on their own once they see it is gone.
                let pid = fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.lines().next()?.trim().parse::<u32>().ok());
                if let Some(pid) = pid {
                    let _ = send_signal(pid, libc::SIGKILL);
                }
            }
        }
        *lock(&self.running) = false;
        let _ = temp_dir.close();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Finds the directory with `initdb` and `pg_ctl`: first on PATH, then in
/// the usual install locations that are not on PATH. Debian keeps the
/// binaries only in `/usr/lib/postgresql/<version>/bin`. On macOS, Homebrew
/// keeps versioned formulae under `<prefix>/opt/postgresql@<version>/bin`.
/// Also returns `pg_isready`, if there is one.
fn find_postgres_binaries() -> (PathBuf, Option<PathBuf>) {
    let mut dirs = path_dirs();
    dirs.extend(versioned_bin_dirs(Path::new("/usr/lib/postgresql"), ""));
    dirs.extend(versioned_bin_dirs(
        Path::new("/opt/homebrew/opt"),
        "postgresql@",
    ));
    dirs.extend(versioned_bin_dirs(
        Path::new("/usr/local/opt"),
        "postgresql@",
    ));

    let Some(bin_dir) = dirs
        .iter()
        .find(|dir| is_executable(&dir.join("initdb")) && is_executable(&dir.join("pg_ctl")))
    else {
        let missing = if dirs.iter().any(|dir| is_executable(&dir.join("initdb"))) {
            "pg_ctl"
        } else {
            "initdb"
        };
        panic!(
            "The tally integration tests need the PostgreSQL server binary `{missing}` to start \
             a throwaway PostgreSQL server, but it is not on PATH, in \
             /usr/lib/postgresql/*/bin, or in Homebrew's opt/postgresql@*/bin.\n{INSTALL_HINT}"
        );
    };
    // Prefer the `pg_isready` next to pg_ctl. On Debian, /usr/bin/pg_isready
    // is a wrapper script that picks a version from the system clusters.
    let pg_isready = Some(bin_dir.join("pg_isready"))
        .filter(|p| is_executable(p))
        .or_else(|| find_executable("pg_isready", &path_dirs()));
    (bin_dir.clone(), pg_isready)
}

/// Returns `(uid, gid)` to run PostgreSQL with, or `None` to run it as the
/// current user. PostgreSQL refuses to run as root. Under root we use the
/// `postgres` user from /etc/passwd.
fn postgres_run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd")
        .expect("running as root: failed to read /etc/passwd to find the postgres user");
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == "postgres" {
            let uid = fields[2].parse().unwrap_or_else(|e| {
                panic!("bad uid field for postgres in /etc/passwd ({line:?}): {e}")
            });
            let gid = fields[3].parse().unwrap_or_else(|e| {
                panic!("bad gid field for postgres in /etc/passwd ({line:?}): {e}")
            });
            return Some((uid, gid));
        }
    }
    panic!(
        "The tests are running as root, and PostgreSQL refuses to run as root. They would run \
         it as user `postgres`, but /etc/passwd has no such user. Create it with \
         `useradd --system postgres`, or install the postgresql package, which creates it \
         (sudo apt-get install -y postgresql). Or set TEST_DATABASE_URL to use an existing server."
    );
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

/// A private `redis-server` child process: 127.0.0.1 only, no persistence,
/// 1024 databases (so tests can each use their own database number).
///
/// When dropped, the process is killed.
pub struct RedisServer {
    binary: PathBuf,
    /// The temp dir, used as Redis's working dir and for `redis.log`.
    dir: PathBuf,
    log_file: PathBuf,
    port: AtomicU16,
    /// `None` while stopped.
    child: Mutex<Option<Child>>,
    /// Taken (and the dir deleted) on shutdown.
    temp_dir: Mutex<Option<TempDir>>,
    /// `--appendonly yes`: data survives `stop` + `start_again`, as with compose's Redis.
    append_only: bool,
}

impl RedisServer {
    /// Like [`RedisServer::start`], with append-only persistence in its temp dir, so that
    /// counts survive [`RedisServer::stop`] and [`RedisServer::start_again`].
    pub fn start_persistent() -> RedisServer {
        Self::start_with(true)
    }

    /// Starts `redis-server` on a free 127.0.0.1 port and blocks until it
    /// answers PING.
    ///
    /// Panics with install instructions if `redis-server` is missing, and
    /// with its log if it does not start.
    pub fn start() -> RedisServer {
        Self::start_with(false)
    }

    fn start_with(append_only: bool) -> RedisServer {
        let binary = find_executable("redis-server", &redis_search_dirs()).unwrap_or_else(|| {
            panic!(
                "The tally integration tests need `redis-server` to start a throwaway Redis \
                 server, but it is not on PATH.\n{INSTALL_HINT}"
            )
        });
        let temp_dir = tempfile::Builder::new()
            .prefix("tally-redis-")
            .tempdir()
            .expect("failed to create a temp dir for the test Redis server");
        let dir = temp_dir.path().to_path_buf();
        let server = RedisServer {
            binary,
            log_file: dir.join("redis.log"),
            dir,
            port: AtomicU16::new(0),
            child: Mutex::new(None),
            temp_dir: Mutex::new(Some(temp_dir)),
            append_only,
        };
        // From here on, a panic drops `server`, which kills the process.
        let mut child = lock(&server.child);
        for attempt in 1..=PORT_ATTEMPTS {
            server.port.store(free_port(), Ordering::SeqCst);
            match server.launch(&mut child) {
                Ok(()) => break,
                // Redis exits at once on a bad port, so retrying other errors costs little.
                Err(_) if attempt < PORT_ATTEMPTS => continue,
                Err(e) => panic!("{}", e.message),
            }
        }
        drop(child);
        if test_log() {
            eprintln!(
                "[servers] Redis on port {}, dir {}",
                server.port(),
                server.dir.display()
            );
        }
        server
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    /// `redis://127.0.0.1:{port}`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// Stops the server: SIGTERM, then SIGKILL if it is still running after
    /// 5 s. Waits until the port refuses connections. A paused server is
    /// resumed first, so it can act on the SIGTERM. Does nothing if it is
    /// already stopped.
    pub fn stop(&self) {
        let mut slot = lock(&self.child);
        let Some(mut child) = slot.take() else {
            return;
        };
        let _ = send_signal(child.id(), libc::SIGTERM);
        let _ = send_signal(child.id(), libc::SIGCONT);
        let deadline = Instant::now() + REDIS_STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        let port = self.port();
        let deadline = Instant::now() + REDIS_STOP_GRACE;
        while TcpStream::connect_timeout(&local(port), Duration::from_millis(500)).is_ok() {
            if Instant::now() > deadline {
                panic!("the test Redis server exited, but port {port} still accepts connections");
            }
            thread::sleep(POLL);
        }
    }

    /// Starts a stopped server again on the same port and blocks until it
    /// answers PING. Its data is gone: there is no persistence. Does
    /// nothing if it is running.
    pub fn start_again(&self) {
        let mut child = lock(&self.child);
        if child.is_some() {
            return;
        }
        if let Err(e) = self.launch(&mut child) {
            panic!("{}", e.message);
        }
    }

    /// Freezes the process (SIGSTOP), to simulate a hung server. It still
    /// accepts TCP connections (the kernel queues them), but it answers
    /// nothing until `resume`.
    pub fn pause(&self) {
        self.signal_running("pause", libc::SIGSTOP);
    }

    /// Unfreezes a paused process (SIGCONT).
    pub fn resume(&self) {
        self.signal_running("resume", libc::SIGCONT);
    }

    fn signal_running(&self, what: &str, signal: libc::c_int) {
        let child = lock(&self.child);
        let child = child
            .as_ref()
            .unwrap_or_else(|| panic!("RedisServer::{what} called while the server is stopped"));
        send_signal(child.id(), signal)
            .unwrap_or_else(|e| panic!("RedisServer::{what}: kill({}) failed: {e}", child.id()));
    }

    /// Spawns `redis-server` on the current port into `slot`, then waits
    /// for PING to answer.
    fn launch(&self, slot: &mut Option<Child>) -> Result<(), LaunchError> {
        let port = self.port();
        let log_start = file_len(&self.log_file);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly"])
            .arg(if self.append_only { "yes" } else { "no" })
            .args(["--databases", "1024", "--dir"])
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        if !test_log() {
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_file)
                .expect("failed to open the Redis log file");
            let log2 = log
                .try_clone()
                .expect("failed to clone the Redis log file handle");
            cmd.stdout(log).stderr(log2);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", self.binary.display()));
        let pid = child.id();
        // Stored now so that a panic below still kills it (see Drop).
        let child = slot.insert(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                *slot = None;
                let log = log_tail(&self.log_file, log_start);
                return Err(LaunchError {
                    port_in_use: log.contains("Address already in use"),
                    message: format!(
                        "redis-server exited ({status}) before answering PING on port {port}\n{log}"
                    ),
                });
            }
            if redis_is_ours(port, pid) {
                return Ok(());
            }
            if Instant::now() > deadline {
                panic!(
                    "the test Redis server (pid {pid}) did not answer PING on port {port} \
                     within {READY_TIMEOUT:?}\n{}",
                    log_tail(&self.log_file, log_start)
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Kills the process and deletes the temp dir. Ignores errors. Used by
    /// `Drop` and the exit handler.
    fn shutdown(&self) {
        if let Some(mut child) = lock(&self.child).take() {
            // SIGKILL also works on a stopped (paused) process.
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(temp_dir) = lock(&self.temp_dir).take() {
            let _ = temp_dir.close();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether our `redis-server` (pid `pid`) answers PING on `port`. The pid
/// check matters: if another process took the port first, its server could
/// answer while ours is about to exit with "Address already in use".
fn redis_is_ours(port: u16, pid: u32) -> bool {
    let timeout = Duration::from_secs(1);
    let pong = redis_request(port, "PING", timeout).is_ok_and(|r| r.starts_with("+PONG"));
    pong && redis_request(port, "INFO server", timeout).is_ok_and(|info| {
        info.lines()
            .any(|l| l.trim() == format!("process_id:{pid}"))
    })
}

/// Sends one inline command and returns the raw reply (one simple
/// string, error, integer or bulk string).
fn redis_request(port: u16, command: &str, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&local(port), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !resp_reply_complete(&reply) {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "redis closed the connection",
            ));
        }
        reply.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn resp_reply_complete(reply: &[u8]) -> bool {
    let Some(line_end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if reply[0] != b'$' {
        return true;
    }
    // Bulk string: "$<len>\r\n<len bytes>\r\n"; "$-1\r\n" is nil.
    let len = std::str::from_utf8(&reply[1..line_end])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(-1);
    match usize::try_from(len) {
        Ok(len) => reply.len() >= line_end + 2 + len + 2,
        Err(_) => true,
    }
}

/// Where to look for `redis-server`: PATH, then the usual install dirs
/// (for runs with a minimal PATH, e.g. from an IDE).
fn redis_search_dirs() -> Vec<PathBuf> {
    let mut dirs = path_dirs();
    dirs.extend(["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"].map(PathBuf::from));
    dirs
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

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1. It is free now, not reserved, so the
/// callers retry with another port if a server cannot bind it.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("failed to bind 127.0.0.1:0 to find a free port")
        .port()
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn test_log() -> bool {
    env::var_os("TEST_LOG").is_some()
}

/// Locks a mutex even if a panicking test poisoned it. The state is still
/// good enough for stopping servers.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn send_signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).expect("a process id always fits in pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn path_dirs() -> Vec<PathBuf> {
    env::split_paths(&env::var_os("PATH").unwrap_or_default()).collect()
}

fn find_executable(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `<parent>/<prefix><version>/bin` for every version found, highest
/// first. For example, `/usr/lib/postgresql/17/bin` comes before
/// `/usr/lib/postgresql/9.6/bin`.
fn versioned_bin_dirs(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .strip_prefix(prefix)?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The contents of `path` after byte `offset` (lossy UTF-8). Empty if the
/// file cannot be read.
fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_end(&mut bytes);
    }
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The last 40 lines written to a log file since `offset`, with a header,
/// for panic messages.
fn log_tail(path: &Path, offset: u64) -> String {
    let text = read_from(path, offset);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("--- end of {} ---\n{tail}\n", path.display())
}

fn describe_output(out: &Output) -> String {
    let mut text = String::new();
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = String::from_utf8_lossy(bytes);
        if !s.trim().is_empty() {
            text.push_str(&format!("--- {name} ---\n{}\n", s.trim_end()));
        }
    }
    text
}
