//! `/metrics` and the middleware that feeds the HTTP metrics.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use super::{AppState, error::AppError};
use crate::metrics::{CONTENT_TYPE, Metrics, method_label};

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// The page; the job gauges are read from the queue first (a store that does not answer
/// leaves them at their last values: the store's own metrics show the failure).
async fn render(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.count_jobs().await {
        Ok(counts) => state.metrics.set_job_counts(&counts),
        Err(err) => tracing::debug!(error = %err, "cannot count jobs for /metrics"),
    }
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
}

/// Records every routed request under its matched route (`/count`, not the raw path), and
/// answers 503 (with a body and `Retry-After`) when it takes longer than its deadline; the
/// deadline's 503 is recorded like any answer. Installed with `route_layer`, so it runs after
/// routing; unmatched requests are recorded by the fallback under the route label `unmatched`,
/// and a method a route does not answer (its `405`) by the method-not-allowed fallback.
///
/// A layer of its own rather than an `axum::middleware::from_fn`, and one for both jobs: it is
/// on the path of every request, and `from_fn` boxes the future it wraps and clones its state
/// on each call. Nothing here allocates: the route is the router's shared string, the method
/// a [`method_label`] and the status its `&'static str`.
#[derive(Clone)]
pub struct TrackLayer {
    metrics: Arc<Metrics>,
    /// `None`: routes that bound themselves, like the import.
    deadline: Option<Duration>,
}

impl TrackLayer {
    pub fn new(metrics: Arc<Metrics>, deadline: Option<Duration>) -> TrackLayer {
        TrackLayer { metrics, deadline }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    layer: TrackLayer,
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = method_label(request.method().as_str());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let started = Instant::now();
        Tracked {
            inner: self.inner.call(request),
            sleep: None,
            deadline: self.layer.deadline,
            metrics: self.layer.metrics.clone(),
            method,
            route,
            started,
        }
    }
}

pin_project! {
    /// The response future of [`Track`].
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        // Made, and registered with the timer, only if the first poll of `inner` does not
        // finish it: most requests never touch the timer.
        #[pin]
        sleep: Option<Sleep>,
        deadline: Option<Duration>,
        metrics: Arc<Metrics>,
        method: &'static str,
        route: Option<MatchedPath>,
        started: Instant,
    }
}

impl<F> Future for Tracked<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Pending => {
                let Some(limit) = *this.deadline else {
                    return Poll::Pending;
                };
                if this.sleep.is_none() {
                    this.sleep
                        .set(Some(tokio::time::sleep_until(*this.started + limit)));
                }
                match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
                    Some(Poll::Ready(())) => {
                        AppError::RequestTimedOut { after: limit }.into_response()
                    }
                    Some(Poll::Pending) | None => return Poll::Pending,
                }
            }
        };
        this.metrics.observe_request(
            this.method,
            this.route.as_ref().map_or("unmatched", MatchedPath::as_str),
            response.status().as_str(),
            this.started.elapsed().as_secs_f64(),
        );
        Poll::Ready(Ok(response))
    }
}
