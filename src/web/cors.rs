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

use axum::http::{HeaderName, Method, header};
use tower_http::cors::{Any, CorsLayer};

use super::rate_limit::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};

/// The header naming the counter an answer is about (`namespace/key`), as CountAPI sent it.
pub(super) static X_PATH: HeaderName = HeaderName::from_static("x-path");

/// The API's CORS policy; see the module documentation.
pub fn api_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .allow_credentials(false)
        .expose_headers([
            RATELIMIT_LIMIT.clone(),
            RATELIMIT_REMAINING.clone(),
            RATELIMIT_RESET.clone(),
            header::RETRY_AFTER,
            X_PATH.clone(),
            header::LOCATION,
        ])
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
}
