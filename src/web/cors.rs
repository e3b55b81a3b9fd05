//! CORS for the counting API: any web page may call it from the browser.
//!
//! Counters are meant to be hit from other people's pages (a visitor badge, a click counter),
//! as with the hosted counting APIs tally replaces, so every origin may read and hit them.
//! Nothing is tied to a browser session (tokens travel in `Authorization`, never in cookies),
//! so credentials are never allowed, which is also what makes `*` safe. A page's script can
//! read only the response headers listed as exposed: the rate-limit headers, `Retry-After`,
//! and the `X-Path` and `Location` of the API's answers.
//!
//! Put [`api_cors`] outside the rate limiter (`.layer` on the API router, after its
//! `route_layer`s): then preflights are answered before they are counted, and a `429` carries
//! the CORS headers, so the page can see it.
//!
//! The policy is one small layer rather than tower-http's `CorsLayer`: every header it sets is
//! a constant, so it writes them straight into the response, where `CorsLayer` builds a header
//! map per request and is cloned, with its lists, for every request (a profile of `/healthz`
//! under load had it at a few per cent). The answers are the same as `CorsLayer`'s with this
//! policy, and the tests below pin them, with one difference: the headers that only a
//! browser reads are sent only when the request names an `Origin`, which browsers send on
//! every cross-origin request (a response to curl, a server or an image proxy carries none of
//! them, which is about 150 bytes less on each). `Vary` names `Origin` on every response, so a
//! shared cache never gives one kind of answer to the other kind of request:
//!
//! - every response: `Vary: origin, access-control-request-method,
//!   access-control-request-headers` (added to the response's own `Vary`);
//! - `OPTIONS` (a preflight): answered here, `200` with no body, with
//!   `Access-Control-Allow-Origin: *`, `Access-Control-Allow-Methods` and
//!   `Access-Control-Allow-Headers`;
//! - another method with an `Origin`: `Access-Control-Allow-Origin: *` and
//!   `Access-Control-Expose-Headers` with the headers above.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header},
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The header naming the counter an answer is about (`namespace/key`), as CountAPI sent it.
pub(super) static X_PATH: HeaderName = HeaderName::from_static("x-path");

const ANY_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const VARY: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);
const METHODS: HeaderValue = HeaderValue::from_static("GET,POST,PUT,DELETE,OPTIONS");
const HEADERS: HeaderValue = HeaderValue::from_static("authorization,content-type");
/// The rate-limit headers (see `rate_limit`), `Retry-After`, `X-Path` and `Location`.
const EXPOSED: HeaderValue = HeaderValue::from_static(
    "ratelimit-limit,ratelimit-remaining,ratelimit-reset,retry-after,x-path,location",
);

/// The API's CORS policy; see the module documentation.
pub fn api_cors() -> CorsLayer {
    CorsLayer
}

/// Adds [`Cors`] around a service.
#[derive(Clone, Copy, Debug, Default)]
pub struct CorsLayer;

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner }
    }
}

#[derive(Clone, Debug)]
pub struct Cors<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Cors<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() == Method::OPTIONS {
            return CorsFuture {
                inner: None,
                answer: Answer::Preflight,
            };
        }
        let answer = if request.headers().contains_key(header::ORIGIN) {
            Answer::CrossOrigin
        } else {
            Answer::NoOrigin
        };
        CorsFuture {
            inner: Some(self.inner.call(request)),
            answer,
        }
    }
}

/// Which CORS headers a response gets.
#[derive(Clone, Copy)]
enum Answer {
    Preflight,
    /// A request that names its page's origin, as browsers do on cross-origin requests.
    CrossOrigin,
    /// No `Origin`: not a browser's cross-origin request (curl, a server, an image proxy).
    NoOrigin,
}

pin_project! {
    /// The response future of [`Cors`]: the inner service's, or none for a preflight.
    pub struct CorsFuture<F> {
        #[pin]
        inner: Option<F>,
        answer: Answer,
    }
}

impl<F> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.as_pin_mut() {
            Some(inner) => match inner.poll(cx) {
                Poll::Ready(Ok(response)) => response,
                Poll::Pending => return Poll::Pending,
            },
            None => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::OK;
                response
            }
        };
        let headers = response.headers_mut();
        headers.append(header::VARY, VARY);
        match this.answer {
            Answer::Preflight => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HEADERS);
            }
            Answer::CrossOrigin => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY_ORIGIN);
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
            }
            Answer::NoOrigin => {}
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use axum::{
        Router,
        body::Body,
        http::{Request, Response, StatusCode},
        routing::get,
    };
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/api/v1/thing",
                get(|| async { "ok" }).post(|| async { "made" }),
            )
            .layer(api_cors())
    }

    fn header<'a, B>(response: &'a Response<B>, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    }

    /// The comma-separated items of `name`, lower-cased.
    fn items<B>(response: &Response<B>, name: &str) -> Vec<String> {
        header(response, name)
            .unwrap_or_default()
            .split(',')
            .map(|item| item.trim().to_ascii_lowercase())
            .filter(|item| !item.is_empty())
            .collect()
    }

    #[tokio::test]
    async fn a_preflight_from_any_origin_is_allowed_without_credentials() {
        let request = Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/thing")
            .header(header::ORIGIN, "https://blog.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type",
            )
            .body(Body::empty())
            .expect("a request");
        let response = app().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            items(&response, "access-control-allow-methods"),
            ["get", "post", "put", "delete", "options"]
        );
        assert_eq!(
            items(&response, "access-control-allow-headers"),
            ["authorization", "content-type"]
        );
        assert_eq!(header(&response, "access-control-allow-credentials"), None);
    }

    #[tokio::test]
    async fn a_simple_get_exposes_the_rate_limit_and_api_headers() {
        let request = Request::builder()
            .uri("/api/v1/thing")
            .header(header::ORIGIN, "https://blog.example")
            .body(Body::empty())
            .expect("a request");
        let response = app().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&response, "access-control-allow-credentials"), None);
        assert_eq!(
            items(&response, "access-control-expose-headers"),
            [
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset",
                "retry-after",
                "x-path",
                "location"
            ]
        );
    }

    #[tokio::test]
    async fn the_responses_own_vary_is_kept_and_the_cors_one_added() {
        let app = Router::new()
            .route(
                "/count",
                get(|| async { ([(header::VARY, "accept")], "Visitor count: 1") }),
            )
            .layer(api_cors());
        let request = Request::builder()
            .uri("/count")
            .body(Body::empty())
            .expect("a request");
        let response = app.oneshot(request).await.expect("infallible");
        let vary: Vec<String> = response
            .headers()
            .get_all(header::VARY)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|item| item.trim().to_owned())
            .collect();
        assert_eq!(
            vary,
            [
                "accept",
                "origin",
                "access-control-request-method",
                "access-control-request-headers"
            ]
        );
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "no Origin: not a cross-origin request"
        );
        assert_eq!(header(&response, "access-control-expose-headers"), None);
    }

    #[tokio::test]
    async fn a_preflight_is_answered_for_a_path_no_route_has() {
        let request = Request::builder()
            .method(Method::OPTIONS)
            .uri("/nowhere")
            .header(header::ORIGIN, "https://blog.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .expect("a request");
        let response = app().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&response, "access-control-expose-headers"), None);
    }
}
