//! Live counts: a counter's value as it changes, for the event streams
//! (`/api/v1/counters/{ns}/{key}/events`, Abacus's `/stream/{ns}/{key}`) and the page.
//!
//! One [`Hub`] per process. For every counter someone follows it holds one `watch` channel with
//! the latest value, made when the first follower comes and dropped when the last leaves, so a
//! stream costs a receiver and its connection, and no task of its own. Values reach the
//! channels two ways:
//!
//! - **this process's changes**, from the [`crate::store::Store`] facade (the hub is its
//!   [`crate::store::ChangeSink`]), the moment the store confirms them;
//! - **every process's changes**, from the store's [`crate::store::ChangeFeed`] (PostgreSQL
//!   `LISTEN/NOTIFY`, Redis pub/sub, SQLite's change table, memory's channel), followed by
//!   **one task per process** while anyone follows a counter ([`feed`]), never by polling the
//!   store per stream. When the feed breaks (the server restarted), the task follows again and
//!   reads every followed counter afresh, since changes made meanwhile were not announced.
//!
//! **Order.** The feed delivers changes in the order the store applied them, so the last value
//! it delivers for a counter is the counter's value. This process's own reports come earlier,
//! but may come out of order (two requests finishing together, or a report overtaken by the
//! feed), and the feed brings each change back too (or, reading periodically, something newer).
//! So the feed has the last word: a report is dropped when the feed delivered that counter
//! after the change was sent to the store (what it delivered is newer, or the change follows
//! through the feed), and applied otherwise (the feed will follow it with anything newer);
//! while the feed is down, reports are all there is. A value read from the store (a stream's
//! first, or after the feed broke) is applied only if nothing was applied since the read began.
//!
//! **Streams** ([`Watch::values`]) send the current value first, then the latest value at most
//! once per [`COALESCE`]: a burst of changes becomes a few events, the last one the value the
//! burst ended on. [`Hub::admit`] bounds how many streams a process serves (`MAX_STREAMS`).

mod feed;
mod hub;
mod values;

use std::time::Duration;

pub use hub::{Hub, LiveObserver, LiveOptions, StreamSlot, Ticket, Watch};

/// The shortest time between two events of one stream.
pub const COALESCE: Duration = Duration::from_millis(100);

/// The longest a stream stays silent: then it sends a comment line, so that proxies and load
/// balancers do not close it as idle.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `MAX_STREAMS` when unset.
pub const DEFAULT_MAX_STREAMS: usize = 10_000;
