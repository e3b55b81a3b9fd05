//! The listening socket, with one thing Tokio's `TcpListener` cannot do: tell that a client
//! waits in the kernel's backlog without accepting it. At the connection cap tally must not
//! accept (every accepted connection holds a file and a slot), but it must know when someone
//! waits, to make room for them (see [`super::accept`]).

use std::{io, net::SocketAddr};

use tokio::net::{TcpListener, TcpStream};

#[cfg(unix)]
pub(super) struct Backlog {
    listener: tokio::io::unix::AsyncFd<std::net::TcpListener>,
}

#[cfg(unix)]
impl Backlog {
    pub fn new(listener: TcpListener) -> io::Result<Backlog> {
        // `into_std` keeps the socket non-blocking.
        let listener = listener.into_std()?;
        // SAFETY: the listener owns a valid descriptor, and it is neither replaced nor closed
        // while the `AsyncFd` owns the listener.
        let listener = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                listener,
                tokio::io::Interest::READABLE,
            )?
        };
        Ok(Backlog { listener })
    }

    /// Completes when a connection waits to be accepted; accepts nothing.
    pub async fn someone_waits(&self) -> io::Result<()> {
        loop {
            let mut ready = self.listener.readable().await?;
            if self.pending() {
                return Ok(());
            }
            // Readiness can be left over from a connection accepted since.
            ready.clear_ready();
        }
    }

    /// Whether a connection waits in the backlog right now, asked of the kernel.
    fn pending(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut poll = libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid `pollfd` on a descriptor we own, a count of 1, and no waiting.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready > 0 && poll.revents & libc::POLLIN != 0
    }

    /// Accepts the next waiting connection, waiting for one if needed.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        loop {
            let mut ready = self.listener.readable().await?;
            match ready.try_io(|listener| listener.get_ref().accept()) {
                Ok(Ok((stream, peer))) => {
                    stream.set_nonblocking(true)?;
                    return Ok((TcpStream::from_std(stream)?, peer));
                }
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Elsewhere a waiting client cannot be seen without accepting it: the cap still holds, but
/// nobody is closed to make room.
#[cfg(not(unix))]
pub(super) struct Backlog {
    listener: TcpListener,
}

#[cfg(not(unix))]
impl Backlog {
    pub fn new(listener: TcpListener) -> io::Result<Backlog> {
        Ok(Backlog { listener })
    }

    pub async fn someone_waits(&self) -> io::Result<()> {
        std::future::pending().await
    }

    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.listener.accept().await
    }
}
