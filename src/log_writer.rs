//! A log writer that never makes a request wait: lines go into a bounded buffer in memory, and
//! a thread of its own writes the buffer out in large pieces.
//!
//! Why not tracing-appender's non-blocking writer, which tally used first: it sends every line
//! through a channel as a `Vec` of its own, and its thread blocks on that channel, so under
//! load nearly every line also wakes the thread (a `futex` call on the request's path and a
//! context switch, on a machine that may have two cores). Here a line is appended to one
//! buffer under a short lock, and the thread is woken only when the buffer has filled past
//! [`WAKE_AT`]; otherwise it looks every [`INTERVAL`]. A line therefore reaches stderr within
//! about that interval, and at exit when [`FlushGuard`] is dropped.
//!
//! The buffer is bounded ([`LIMIT`] bytes waiting to be written). A line that does not fit is
//! dropped and counted ([`LogWriter::dropped_lines`], shown by `/metrics` as
//! `log_lines_dropped_total`): a stuck terminal, pipe or log collector costs lines, never time.

use std::{
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// Bytes that may wait for the writer before lines are dropped: about 16,000 request lines.
pub const LIMIT: usize = 4 * 1024 * 1024;

/// Past this many waiting bytes, the writer thread is woken at once.
pub const WAKE_AT: usize = 64 * 1024;

/// How long a line may wait when few come.
pub const INTERVAL: Duration = Duration::from_millis(50);

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    limit: usize,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    closing: bool,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // The buffer is plain bytes, valid whatever a panicking holder was doing.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where the subscriber writes; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Flushes what is buffered and stops the writer thread when dropped.
#[must_use = "dropping the guard stops the log writer"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the writer thread, writing to `out`, with `limit` bytes of buffer.
    pub fn spawn<W: Write + Send + 'static>(
        out: W,
        limit: usize,
    ) -> io::Result<(LogWriter, FlushGuard)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            limit,
        });
        let thread = std::thread::Builder::new()
            .name("tally-log-writer".to_owned())
            .spawn({
                let shared = shared.clone();
                move || write_out(&shared, out)
            })?;
        Ok((
            LogWriter {
                shared: shared.clone(),
            },
            FlushGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    /// Lines dropped so far because the buffer was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.pending().dropped
    }

    /// Appends one line (the subscriber writes each event with a single call), or drops it.
    pub(crate) fn append(&self, line: &[u8]) {
        let mut pending = self.shared.pending();
        if pending.bytes.len() + line.len() > self.shared.limit {
            pending.dropped += 1;
            return;
        }
        let was = pending.bytes.len();
        pending.bytes.extend_from_slice(line);
        let wake = was < WAKE_AT && pending.bytes.len() >= WAKE_AT;
        drop(pending);
        if wake {
            self.shared.wake.notify_one();
        }
    }
}

/// The writer thread: takes the whole buffer at once and writes it outside the lock.
fn write_out<W: Write>(shared: &Shared, mut out: W) {
    let mut taken = Vec::new();
    loop {
        let closing = {
            let mut pending = shared.pending();
            if pending.bytes.len() < WAKE_AT && !pending.closing {
                pending = shared
                    .wake
                    .wait_timeout(pending, INTERVAL)
                    .map_or_else(|poisoned| poisoned.into_inner().0, |(guard, _)| guard);
            }
            std::mem::swap(&mut taken, &mut pending.bytes);
            pending.closing
        };
        if !taken.is_empty() {
            // Nowhere to report a failed write but stderr itself; the lines are lost either way.
            let _written = out.write_all(&taken).and_then(|()| out.flush());
            taken.clear();
            // Keep a buffer of a useful size, not the largest burst's.
            taken.shrink_to(WAKE_AT * 2);
        }
        if closing && shared.pending().bytes.is_empty() {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.pending().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ended = thread.join();
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::mpsc::{Receiver, Sender, channel},
        time::Instant,
    };

    use super::*;

    /// A writer whose first write waits until released, as a stuck pipe would.
    struct Stuck {
        held: Option<Receiver<()>>,
        written: Sender<Vec<u8>>,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(release) = self.held.take() {
                let _released = release.recv();
            }
            let _sent = self.written.send(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(n: usize) -> String {
        format!("line {n:04}\n")
    }

    #[test]
    fn a_stuck_output_loses_lines_and_counts_them_instead_of_blocking_the_logger() {
        let (release, held) = channel();
        let (written, seen) = channel();
        let limit = 10 * line(0).len();
        let (mut writer, guard) = LogWriter::spawn(
            Stuck {
                held: Some(held),
                written,
            },
            limit,
        )
        .expect("thread");
        // The first line reaches the stuck output, whose write never returns until released.
        writer.write_all(line(0).as_bytes()).expect("never fails");
        let waited = Instant::now();
        while writer.shared.pending().bytes.len() == line(0).len() {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "taken by the thread"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // If a full buffer blocked, this loop would never end: the output is stuck.
        for n in 1..100 {
            writer.write_all(line(n).as_bytes()).expect("never fails");
        }
        assert_eq!(
            writer.dropped_lines(),
            89,
            "10 lines fit the buffer, 89 do not"
        );
        release.send(()).expect("the thread waits");
        drop(guard);
        let out: Vec<u8> = seen.try_iter().flatten().collect();
        let expected: String = (0..=10).map(line).collect();
        assert_eq!(
            String::from_utf8_lossy(&out),
            expected,
            "in order, nothing torn"
        );
    }

    #[test]
    fn lines_are_written_within_the_interval_and_all_of_them_at_the_end() {
        let (written, seen) = channel();
        let (mut writer, guard) = LogWriter::spawn(
            Stuck {
                held: None,
                written,
            },
            LIMIT,
        )
        .expect("thread");
        writer.write_all(b"first\n").expect("never fails");
        let first = seen
            .recv_timeout(INTERVAL * 20)
            .expect("a lone line is written without waiting for more");
        assert_eq!(first, b"first\n");
        for n in 0..1000 {
            writer.write_all(line(n).as_bytes()).expect("never fails");
        }
        drop(guard);
        let out: Vec<u8> = seen.try_iter().flatten().collect();
        let expected: String = (0..1000).map(line).collect();
        assert_eq!(String::from_utf8_lossy(&out), expected);
        assert_eq!(writer.dropped_lines(), 0);
    }
}
