//! Helpers for the processes the tests start: the throwaway servers here and `tally` itself
//! (see `helpers.rs`). Free ports, signals, waiting for an exit, finding a program, and the
//! end of a log file for a failure message.
//!
//! They live in one place so that a server and a `tally` child are handled the same way: both
//! pick ports the same way, both are stopped with the same signals, and a failure shows the
//! same kind of log tail.

use std::env;
use std::fs::{self, File};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Output};
use std::thread;
use std::time::{Duration, Instant};

/// Pause between two checks while waiting for a process.
pub const POLL: Duration = Duration::from_millis(20);

/// Whether `TEST_LOG` is set: then the servers' and tally's logs go to the terminal as they
/// happen, instead of to files that only failure messages show.
pub fn test_log() -> bool {
    env::var_os("TEST_LOG").is_some()
}

/// A free TCP port on 127.0.0.1. It is free now, not reserved, so a server that cannot bind it
/// must be retried with another one (the servers here do).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("failed to bind 127.0.0.1:0 to find a free port")
        .port()
}

/// `127.0.0.1:{port}`.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Sends `signal` to process `pid` (kill(2)).
pub fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).expect("a process id always fits in pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `signal` to a child we spawned and have not reaped yet; panics if that fails.
pub fn send_signal(child: &Child, signal: libc::c_int) {
    kill(child.id(), signal)
        .unwrap_or_else(|err| panic!("kill({}, {signal}) failed: {err}", child.id()));
}

/// Waits up to `limit` for `child` to exit: its status, or `None` if it is still running.
pub fn exit_within(child: &mut Child, limit: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}

/// Waits for `child` to exit; panics (after killing it) when it outlives `limit`.
pub fn wait_for_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let pid = child.id();
    match exit_within(child, limit) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {pid} did not exit within {limit:?}");
        }
        Err(err) => panic!("failed to poll process {pid}: {err}"),
    }
}

/// The directories on PATH.
pub fn path_dirs() -> Vec<PathBuf> {
    env::split_paths(&env::var_os("PATH").unwrap_or_default()).collect()
}

/// The first `dirs/name` that is an executable file.
pub fn find_executable(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

pub fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The size of a log file, to read only what is written after this point. 0 if it does not
/// exist yet.
pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The contents of `path` after byte `offset` (lossy UTF-8). Empty if the
/// file cannot be read.
pub fn read_from(path: &Path, offset: u64) -> String {
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
pub fn log_tail(path: &Path, offset: u64) -> String {
    let text = read_from(path, offset);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("--- end of {} ---\n{tail}\n", path.display())
}

/// A finished command's stdout and stderr, each with a header, for panic messages; empty
/// streams are left out.
pub fn describe_output(out: &Output) -> String {
    let mut text = String::new();
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = String::from_utf8_lossy(bytes);
        if !s.trim().is_empty() {
            text.push_str(&format!("--- {name} ---\n{}\n", s.trim_end()));
        }
    }
    text
}
