//! The outermost layer: gives each request its id and writes its log line.
//!
//! - The id: the client's `x-request-id` when it sent one, otherwise one made by
//!   [`super::request_id`]; the response carries it back.
//! - The line: one event at INFO per request when its response head is ready (target
//!   `tally::request`, fields `method`, `path`, `request_id`, `status`, `latency_us`); with
//!   the subscriber tally installs, its text is written straight to the log writer rather
//!   than made an event (see [`crate::log_format`]), after the same `RUST_LOG` check.
//! - The id while the request runs: lines logged on its behalf (a store that failed, a request
//!   that timed out) add it as `request_id` through [`current`], so they can be matched with
//!   the request's line.
//!
//! Why not tower-http's `TraceLayer` with a span per request: at INFO the span is created,
//! its fields formatted and stored, entered and left at every poll and its context written
//! again into every line, on every request; a profile of `/healthz` under load had the span
//! and the line at a seventh of the CPU. One event and a task-local copy of the id do the same
//! job for a fraction of it. Nothing here allocates except what the log writer needs.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use axum::http::{HeaderName, HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tower_http::request_id::MakeRequestId;

use super::request_id::MakeId;
use crate::log_format::{self, REQUEST_TARGET, RequestLine};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id kept for the lines logged while a request runs; a longer one (only a client
/// can send one) is cut there in those lines, and kept whole in the request's own line and in
/// the response.
const KEPT: usize = 64;

/// The running request's id, as kept for the lines logged on its behalf.
#[derive(Clone, Copy)]
struct CurrentId {
    len: u8,
    bytes: [u8; KEPT],
}

tokio::task_local! {
    static CURRENT: CurrentId;
}

/// The id of the request being served by this task, for a log line written on its behalf;
/// `"-"` outside a request.
pub fn current() -> impl std::fmt::Display {
    struct Shown(Option<CurrentId>);
    impl std::fmt::Display for Shown {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let id = self
                .0
                .as_ref()
                .and_then(|id| std::str::from_utf8(&id.bytes[..usize::from(id.len)]).ok());
            f.write_str(id.unwrap_or("-"))
        }
    }
    Shown(CURRENT.try_with(|id| *id).ok())
}

/// Adds [`RequestLog`] around a service.
#[derive(Clone, Copy, Default)]
pub struct RequestLogLayer;

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> RequestLog<S> {
        RequestLog { inner }
    }
}

#[derive(Clone)]
pub struct RequestLog<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for RequestLog<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .filter(|id| !id.is_empty())
            // A copy, not a clone: a clone would share, and so keep alive, the connection's
            // whole read buffer until the response (see `Line`).
            .and_then(|id| HeaderValue::from_bytes(id.as_bytes()).ok())
            .or_else(|| {
                MakeId
                    .make_request_id(&request)
                    .map(|id| id.into_header_value())
            });
        let mut current = CurrentId {
            len: 0,
            bytes: [0; KEPT],
        };
        if let Some(id) = &id {
            let kept = id.as_bytes().len().min(KEPT);
            current.bytes[..kept].copy_from_slice(&id.as_bytes()[..kept]);
            current.len = u8::try_from(kept).unwrap_or(0);
        }
        // Only what the line needs, taken before the request moves on.
        let line = tracing::enabled!(target: REQUEST_TARGET, tracing::Level::INFO).then(|| Line {
            method: request.method().clone(),
            path: Path::of(request.uri().path()),
        });
        Logged {
            inner: CURRENT.scope(current, self.inner.call(request)),
            id,
            line,
            started,
        }
    }
}

/// What the request's line says besides its outcome.
struct Line {
    method: Method,
    /// Only the path is logged, never the query.
    path: Path,
}

/// A copy of the request's path. Not a clone of its `Uri`: that shares the bytes hyper read
/// the request into, and holding it until the response keeps the connection's 8 KiB read
/// buffer from being reused, so hyper takes a second one for each request in flight (measured:
/// about 5 MB more at the peak of 1,000 connections on `/count`). Paths up to [`INLINE`] bytes
/// are copied without allocating.
enum Path {
    Inline { len: u8, bytes: [u8; INLINE] },
    Long(String),
}

const INLINE: usize = 96;

impl Path {
    fn of(path: &str) -> Path {
        match u8::try_from(path.len()) {
            Ok(len) if path.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..path.len()].copy_from_slice(path.as_bytes());
                Path::Inline { len, bytes }
            }
            _ => Path::Long(path.to_owned()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Whole UTF-8 characters were copied: the cut is at the end of a `str`.
            Path::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or("-")
            }
            Path::Long(path) => path,
        }
    }
}

pin_project! {
    /// The response future of [`RequestLog`].
    pub struct Logged<F: Future> {
        #[pin]
        inner: TaskLocalFuture<CurrentId, F>,
        id: Option<HeaderValue>,
        line: Option<Line>,
        started: Instant,
    }
}

impl<F, ResBody, E> Future for Logged<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        let id = this.id.take();
        if let Some(line) = this.line.take() {
            let line = RequestLine {
                method: line.method.as_str(),
                path: line.path.as_str(),
                request_id: id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("-"),
                status: response.status().as_u16(),
                latency_us: u64::try_from(this.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            };
            log_format::log_request_line(&line);
        }
        if let Some(id) = id {
            response.headers_mut().insert(REQUEST_ID.clone(), id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::{
        log_format::{RequestLines, tests::Captured},
        log_writer::LogWriter,
    };

    /// Serves `request` through the layer around a handler that logs a line of its own with
    /// [`current`]; the response's `x-request-id` and everything logged.
    async fn serve(request: Request<Body>) -> (String, String) {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let id = respond(request).await;
        (id, captured.text())
    }

    /// The same under the subscriber tally installs: its format, lines through a [`LogWriter`]
    /// (flushed before the text is read), where the request line skips the event.
    async fn serve_as_installed(request: Request<Body>) -> (String, String) {
        let captured = Captured::default();
        let (writer, flush) =
            LogWriter::spawn(captured.clone(), crate::log_writer::LIMIT).expect("a thread");
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .event_format(RequestLines::writing_to(writer))
            .finish();
        let default = tracing::subscriber::set_default(subscriber);
        let id = respond(request).await;
        drop(default);
        drop(flush);
        (id, captured.text())
    }

    /// The response's `x-request-id`.
    async fn respond(request: Request<Body>) -> String {
        let handler = service_fn(|_request: Request<Body>| async {
            tracing::warn!(request_id = %current(), "inside the handler");
            Ok::<_, Infallible>(Response::new(Body::empty()))
        });
        let response = ServiceBuilder::new()
            .layer(RequestLogLayer)
            .service(handler)
            .oneshot(request)
            .await
            .expect("infallible");
        response
            .headers()
            .get(&REQUEST_ID)
            .and_then(|id| id.to_str().ok())
            .expect("every response has an id")
            .to_owned()
    }

    #[tokio::test]
    async fn a_made_id_is_on_the_response_the_request_line_and_lines_logged_inside() {
        let request = || {
            Request::get("/count?secret=1")
                .body(Body::empty())
                .expect("request")
        };
        let (id, log) = serve(request()).await;
        the_lines_say(&id, &log);
        // Written straight to the log writer: the same lines, the request line once.
        let (id, log) = serve_as_installed(request()).await;
        the_lines_say(&id, &log);
        assert_eq!(log.matches("tally::request").count(), 1, "{log}");
    }

    /// The handler's line then the request's, both with `id`; the query is not logged.
    fn the_lines_say(id: &str, log: &str) {
        assert_eq!(id.len(), 32, "{id}");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(
            lines[0].contains("inside the handler") && lines[0].contains(id),
            "{log}"
        );
        let line = lines[1];
        for field in [
            "tally::request".to_owned(),
            "method=GET".to_owned(),
            "path=/count ".to_owned(),
            format!("request_id={id} "),
            "status=200".to_owned(),
            "latency_us=".to_owned(),
        ] {
            assert!(line.contains(&field), "{field} in {line}");
        }
        assert!(!line.contains("secret"), "the query is not logged: {line}");
    }

    #[tokio::test]
    async fn the_clients_id_is_kept_and_a_long_one_is_cut_only_inside() {
        let long = "x".repeat(KEPT + 10);
        let request = Request::get("/")
            .header(&REQUEST_ID, long.as_str())
            .body(Body::empty())
            .expect("request");
        let (id, log) = serve(request).await;
        assert_eq!(id, long, "the response carries it whole");
        let lines: Vec<&str> = log.lines().collect();
        assert!(
            lines[0].contains(&format!("request_id={}", &long[..KEPT])),
            "{log}"
        );
        assert!(!lines[0].contains(&long), "cut to {KEPT} inside: {log}");
        assert!(lines[1].contains(&long), "whole in the request line: {log}");
    }

    #[test]
    fn outside_a_request_the_id_is_a_dash() {
        assert_eq!(current().to_string(), "-");
    }

    #[test]
    fn a_path_is_copied_whole_short_or_long() {
        for path in [
            "/",
            "/count",
            &"/x".repeat(INLINE / 2),
            &"/é".repeat(INLINE),
        ] {
            assert_eq!(Path::of(path).as_str(), path);
        }
        assert!(matches!(Path::of("/count"), Path::Inline { .. }));
        assert!(matches!(Path::of(&"/x".repeat(INLINE)), Path::Long(_)));
    }
}
