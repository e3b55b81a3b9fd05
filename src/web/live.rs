//! What the two live event routes share (`GET /api/v1/counters/{ns}/{key}/events` and
//! Abacus's `GET /stream/{ns}/{key}`): a stream slot, the counter followed in the
//! [`Hub`], its value read, and the server-sent events.
//!
//! The answer's head is only sent once the value has been read, so a counter that does not
//! exist is a 404 and a store that is down a 503, as reading the value would answer; from then
//! on the stream is `text/event-stream` with `data: {"value": N}` events (Abacus's format):
//! the value first, then its changes, at most one per 100 ms ([`crate::live`]). A comment line
//! goes out after `KEEP_ALIVE` (15 s) of silence so that proxies keep the connection open;
//! `X-Accel-Buffering: no` asks nginx not to buffer the stream and `Cache-Control: no-store`
//! keeps it out of caches. Streams end when the server shuts down, so they never hold the
//! graceful drain. The request deadline bounds the head only (the route layer times the
//! handler, which returns once the head is ready), never the stream.
//!
//! tally's own counters (`default/visitor_count`, `default/tick_count`) count as existing, as
//! they do for `create`: their streams start at 0 before the first visit, so the page can
//! follow `/count`'s counter on a fresh store.

use std::convert::Infallible;

use axum::{
    http::{HeaderValue, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::StreamExt;
use serde_json::json;

use super::Shutdown;
use crate::{
    live::{Hub, StreamSlot, Watch},
    store::{CounterName, Store, StoreError},
};

/// Why a stream was not opened.
pub enum Refused {
    /// `MAX_STREAMS` are open.
    Full { max: usize },
    /// No such counter.
    Missing,
    /// The store could not be read.
    Store(StoreError),
}

/// A counter followed, its value known, and a slot held: ready to stream.
pub struct Opened {
    slot: StreamSlot,
    watch: Watch,
}

/// Takes a slot, follows `name` and reads its value.
pub async fn open(hub: &Hub, store: &Store, name: &CounterName) -> Result<Opened, Refused> {
    let slot = hub.admit().ok_or(Refused::Full {
        max: hub.options().max_streams,
    })?;
    let watch = hub.watch(name.clone()).await;
    let ticket = watch.ticket();
    let value = match store.info(name).await.map_err(Refused::Store)? {
        Some(record) => record.value,
        None if name.is_reserved() => 0,
        None => return Err(Refused::Missing),
    };
    watch.seed(ticket, value);
    Ok(Opened { slot, watch })
}

impl Opened {
    /// The event stream, until the counter's follower leaves or the server shuts down.
    pub fn into_response(self, hub: &Hub, shutdown: Shutdown) -> Response {
        let Opened { slot, watch } = self;
        let options = hub.options();
        let stop = async move { shutdown.begun().await };
        let events = watch.values(options.coalesce, stop).map(move |value| {
            // The slot is given back when the stream is dropped, with this closure.
            let _held = &slot;
            Ok::<_, Infallible>(Event::default().data(json!({ "value": value }).to_string()))
        });
        let mut response = Sse::new(events)
            .keep_alive(KeepAlive::new().interval(options.keep_alive))
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
}
