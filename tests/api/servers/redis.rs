//! A throwaway Redis: a `redis-server` child on a free port, in a temp dir.
//!
//! Redis is a plain child process, so tests can stop it (SIGTERM), freeze it (SIGSTOP, a hung
//! server that still accepts connections) and start it again on the same port. It starts with
//! 1024 databases so that every test sharing one server gets a database number of its own.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{
    POLL, exit_within, file_len, find_executable, free_port, kill, local, log_tail, path_dirs,
    test_log,
};
use super::{INSTALL_HINT, LaunchError, PORT_ATTEMPTS, READY_TIMEOUT, lock};

/// How long Redis gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

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
    /// `--cluster-enabled yes`, see [`RedisServer::start_cluster_node`].
    cluster_node: bool,
}

impl RedisServer {
    /// Like [`RedisServer::start`], with append-only persistence in its temp dir, so that
    /// counts survive [`RedisServer::stop`] and [`RedisServer::start_again`].
    pub fn start_persistent() -> RedisServer {
        Self::start_with(true, false)
    }

    /// Like [`RedisServer::start`], with cluster support on and no slots assigned: a node that
    /// serves no data but answers `CLUSTER KEYSLOT`, which Redis refuses on a server without
    /// cluster support.
    pub fn start_cluster_node() -> RedisServer {
        Self::start_with(false, true)
    }

    /// Starts `redis-server` on a free 127.0.0.1 port and blocks until it
    /// answers PING.
    ///
    /// Panics with install instructions if `redis-server` is missing, and
    /// with its log if it does not start.
    pub fn start() -> RedisServer {
        Self::start_with(false, false)
    }

    fn start_with(append_only: bool, cluster_node: bool) -> RedisServer {
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
            cluster_node,
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
        let _ = kill(child.id(), libc::SIGTERM);
        let _ = kill(child.id(), libc::SIGCONT);
        if !matches!(exit_within(&mut child, STOP_GRACE), Ok(Some(_))) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let port = self.port();
        let deadline = Instant::now() + STOP_GRACE;
        while TcpStream::connect_timeout(&local(port), Duration::from_millis(500)).is_ok() {
            if Instant::now() > deadline {
                panic!("the test Redis server exited, but port {port} still accepts connections");
            }
            thread::sleep(POLL);
        }
    }

    /// Starts a stopped server again on the same port and blocks until it
    /// answers PING. Its data is gone unless it was started with
    /// [`RedisServer::start_persistent`]. Does nothing if it is running.
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
        kill(child.id(), signal)
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
            .arg(&self.dir);
        if self.cluster_node {
            cmd.args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(self.dir.join("nodes.conf"));
        }
        cmd.current_dir(&self.dir).stdin(Stdio::null());
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
    pub(super) fn shutdown(&self) {
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
