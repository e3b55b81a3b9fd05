//! A throwaway PostgreSQL cluster: `initdb` into a temp dir, `pg_ctl start` on a free port.
//!
//! PostgreSQL is driven through its own tools rather than a raw `postgres` child because
//! `pg_ctl -w` knows when the postmaster is ready and `pg_ctl stop -m fast` shuts it down the
//! way a real restart does, which the outage tests depend on. PostgreSQL refuses to run as
//! root, so under root every tool runs as the `postgres` user.

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{
    POLL, describe_output, file_len, find_executable, free_port, is_executable, kill, local,
    log_tail, path_dirs, read_from, test_log,
};
use super::{INSTALL_HINT, LaunchError, PORT_ATTEMPTS, READY_TIMEOUT, lock};

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
    pub(super) fn shutdown(&self) {
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
                    let _ = kill(pid, libc::SIGKILL);
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
