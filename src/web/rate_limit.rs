//! Per-client rate limiting (`RATE_LIMIT`) for the routes it is put on, as an axum middleware.
//!
//! A public counting API is easy to hammer: one script can inflate a counter or keep the store
//! busy for everyone. So each client address ([`ClientIp`], which honours
//! `TRUSTED_PROXIES`) gets `N` requests per window. The window is fixed and starts at the
//! client's first request: the arithmetic is one counter per client, and the answer can say
//! exactly how many requests are left and when they come back.
//!
//! Every answer of a limited route says so, in the headers of the IETF draft that most
//! clients know (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` in delta
//! seconds, rounded up); a request beyond the limit gets `429` with `Retry-After` (whole
//! seconds, rounded up, at least 1, so a client never retries early) and the usual JSON error
//! body. The README's "Rate limits and client addresses" section states this for users.
//!
//! The counts live in this process. Each replica of tally limits on its own, so behind a load
//! balancer spreading over `R` replicas a client may get up to `R × N` requests per window;
//! a limit shared by all replicas would need the store (one `INCR` with an expiry per window),
//! and a round trip on every request. Memory is bounded by the clients of the last window or
//! two: windows that have ended are swept on access, at most once per window length, so the
//! cost of a sweep is spread over a whole window of requests.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};

use super::{client_ip::ClientIp, error::AppError};
use crate::config::{RateLimit, TrustedProxies};

/// The requests a window allows.
pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// The requests left in the current window.
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// Seconds until the current window ends, rounded up.
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Puts the rate limit on every route `router` has so far (as a route layer: unknown paths
/// are not counted); with `None` (`RATE_LIMIT=off`) it returns `router` unchanged, so the
/// answers carry no rate-limit headers either.
pub fn limit_routes<S>(
    router: Router<S>,
    limit: Option<RateLimit>,
    trusted: &TrustedProxies,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    match limit {
        None => router,
        Some(limit) => router.route_layer(middleware::from_fn_with_state(
            RateLimiter::new(limit, trusted.clone()),
            enforce,
        )),
    }
}

/// The middleware, for `middleware::from_fn_with_state(limiter, enforce)`: answers `429` when
/// the client is over its limit, else runs the request; either way adds the `RateLimit-*`
/// headers.
pub async fn enforce(State(limiter): State<RateLimiter>, request: Request, next: Next) -> Response {
    let client = ClientIp::of_request(
        request.extensions(),
        request.headers(),
        &limiter.inner.trusted,
    );
    let verdict = limiter.check(client.rate_limit_key(), Instant::now());
    let mut response = if verdict.allowed {
        next.run(request).await
    } else {
        // Not the address: client addresses are never logged.
        tracing::debug!("rate limited");
        AppError::RateLimited {
            limit: limiter.inner.limit,
            retry_after: verdict.reset_seconds(),
        }
        .into_response()
    };
    verdict.write_headers(response.headers_mut());
    response
}

/// The windows of every client seen lately. Cheap to clone: clones share the counts.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    limit: RateLimit,
    trusted: TrustedProxies,
    windows: Mutex<Windows>,
}

struct Windows {
    clients: HashMap<ClientIp, Window>,
    /// When ended windows are next swept; `None` when the window is too long for that to come.
    next_sweep: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    /// `None`: the window is too long to end within the clock's range.
    ends: Option<Instant>,
    used: u32,
}

impl Window {
    fn starting(now: Instant, length: Duration) -> Window {
        Window {
            ends: now.checked_add(length),
            used: 0,
        }
    }

    fn has_ended(&self, now: Instant) -> bool {
        self.ends.is_some_and(|ends| now >= ends)
    }
}

/// What the limiter decided for one request, and what the headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    allowed: bool,
    limit: u32,
    remaining: u32,
    /// Until the window ends; above zero.
    reset: Duration,
}

impl Verdict {
    /// Whole seconds, rounded up so that a client waiting this long finds the window over;
    /// at least 1.
    fn reset_seconds(&self) -> u64 {
        let seconds = self.reset.as_secs() + u64::from(self.reset.subsec_nanos() > 0);
        seconds.max(1)
    }

    fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(self.limit));
        headers.insert(
            RATELIMIT_REMAINING.clone(),
            HeaderValue::from(self.remaining),
        );
        headers.insert(
            RATELIMIT_RESET.clone(),
            HeaderValue::from(self.reset_seconds()),
        );
    }
}

impl RateLimiter {
    pub fn new(limit: RateLimit, trusted: TrustedProxies) -> RateLimiter {
        RateLimiter {
            inner: Arc::new(Inner {
                limit,
                trusted,
                windows: Mutex::new(Windows {
                    clients: HashMap::new(),
                    next_sweep: Some(Instant::now()),
                }),
            }),
        }
    }

    /// Counts one request of `client` at `now` if its window has room.
    fn check(&self, client: ClientIp, now: Instant) -> Verdict {
        let limit = self.inner.limit;
        // A panic elsewhere while holding the lock leaves at worst one count off; keep going.
        let mut windows = self
            .inner
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        windows.sweep(now, limit.window());
        let window = windows
            .clients
            .entry(client)
            .or_insert_with(|| Window::starting(now, limit.window()));
        if window.has_ended(now) {
            *window = Window::starting(now, limit.window());
        }
        let allowed = window.used < limit.requests();
        if allowed {
            window.used += 1;
        }
        Verdict {
            allowed,
            limit: limit.requests(),
            remaining: limit.requests() - window.used,
            reset: window
                .ends
                .map_or(limit.window(), |ends| ends.saturating_duration_since(now)),
        }
    }

    /// How many clients are tracked; for the test of the memory bound.
    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        let windows = self
            .inner
            .windows
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (windows.clients.len(), windows.clients.capacity())
    }
}

impl Windows {
    /// Forgets the clients whose window has ended, once per window length at most.
    fn sweep(&mut self, now: Instant, length: Duration) {
        if self.next_sweep.is_none_or(|next| now < next) {
            return;
        }
        self.clients.retain(|_, window| !window.has_ended(now));
        // A burst of clients must not pin its memory once it is gone.
        if self.clients.capacity() > 1024 && self.clients.capacity() / 4 > self.clients.len() {
            self.clients.shrink_to_fit();
        }
        self.next_sweep = now.checked_add(length);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use axum::{
        body::{Body, to_bytes},
        extract::ConnectInfo,
        http::{StatusCode, header},
        routing::get,
    };
    use tower::ServiceExt;

    use super::*;

    fn limit(requests: u32, window: Duration) -> RateLimit {
        RateLimit::new(requests, window).expect("a valid limit")
    }

    fn client(text: &str) -> ClientIp {
        let ip: IpAddr = text.parse().expect("an IP address");
        ClientIp::resolve(Some(ip), &HeaderMap::new(), &TrustedProxies::default())
    }

    /// `/limited` behind `rate_limit`, `/failing` too (it answers 400), `/free` not.
    fn app(rate_limit: Option<RateLimit>, proxies: &str) -> Router {
        let limited = Router::new()
            .route("/limited", get(|| async { "ok" }))
            .route(
                "/failing",
                get(|| async { AppError::BadRequest("no".to_owned()) }),
            );
        let trusted = proxies.parse().expect("valid proxies");
        limit_routes(limited, rate_limit, &trusted).route("/free", get(|| async { "free" }))
    }

    /// A request for `path` from `peer` (none: no connect info) with `headers`.
    async fn send(
        app: &Router,
        path: &str,
        peer: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = Request::builder().uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Body::empty()).expect("a request");
        if let Some(peer) = peer {
            let ip: IpAddr = peer.parse().expect("an IP address");
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(ip, 40000)));
        }
        app.clone().oneshot(request).await.expect("infallible")
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    }

    /// `(Limit, Remaining, Reset)` as numbers.
    fn quota(response: &Response) -> (u64, u64, u64) {
        let number = |name| {
            header(response, name)
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("{name}: {:?}", response.headers()))
        };
        (
            number("ratelimit-limit"),
            number("ratelimit-remaining"),
            number("ratelimit-reset"),
        )
    }

    #[tokio::test]
    async fn the_request_beyond_the_limit_is_429_with_retry_after_and_a_json_body() {
        let app = app(Some(limit(3, Duration::from_secs(10))), "");
        for remaining in [2, 1, 0] {
            let response = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(quota(&response), (3, remaining, 10));
            assert_eq!(header(&response, "retry-after"), None);
        }
        let response = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let (limit, remaining, reset) = quota(&response);
        assert_eq!((limit, remaining), (3, 0));
        assert!((1..=10).contains(&reset), "{reset}");
        let retry_after: u64 = header(&response, "retry-after")
            .and_then(|value| value.parse().ok())
            .expect("an integer Retry-After");
        assert_eq!(retry_after, reset);
        assert_eq!(header(&response, "content-type"), Some("application/json"));
        let body = to_bytes(response.into_body(), 4096).await.expect("a body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["error"], "rate_limited");
        let message = body["message"].as_str().expect("a message");
        assert!(
            message.contains("3 requests in 10s") && message.contains("try again in"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn every_answer_of_a_limited_route_carries_the_headers_and_others_none() {
        let app = app(Some(limit(3, Duration::from_secs(10))), "");
        let failing = send(&app, "/failing", Some("203.0.113.9"), &[]).await;
        assert_eq!(failing.status(), StatusCode::BAD_REQUEST);
        assert_eq!(quota(&failing), (3, 2, 10));
        for _ in 0..5 {
            let free = send(&app, "/free", Some("203.0.113.9"), &[]).await;
            assert_eq!(free.status(), StatusCode::OK);
            assert_eq!(header(&free, "ratelimit-limit"), None);
        }
        let unknown = send(&app, "/nowhere", Some("203.0.113.9"), &[]).await;
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(header(&unknown, "ratelimit-limit"), None);
        // The routes behind one limiter share the client's budget.
        let limited = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
        assert_eq!(quota(&limited), (3, 1, 10));
    }

    #[tokio::test]
    async fn another_address_is_not_affected() {
        let app = app(Some(limit(3, Duration::from_secs(10))), "");
        for _ in 0..4 {
            send(&app, "/limited", Some("203.0.113.9"), &[]).await;
        }
        let limited = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        for other in ["203.0.113.10", "2001:db8::9"] {
            let response = send(&app, "/limited", Some(other), &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{other}");
            assert_eq!(quota(&response), (3, 2, 10), "{other}");
        }
    }

    #[tokio::test]
    async fn the_next_window_allows_requests_again() {
        let app = app(Some(limit(3, Duration::from_secs(1))), "");
        for _ in 0..3 {
            let response = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let limited = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&limited, "retry-after"), Some("1"));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let response = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(quota(&response), (3, 2, 1));
    }

    #[tokio::test]
    async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
        let app = app(Some(limit(2, Duration::from_secs(10))), "10.0.0.0/8");
        let proxy = Some("10.0.0.2");
        let alice = [("x-forwarded-for", "198.51.100.1")];
        let bob = [("x-forwarded-for", "198.51.100.2")];
        for _ in 0..2 {
            let response = send(&app, "/limited", proxy, &alice).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let limited = send(&app, "/limited", proxy, &alice).await;
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let response = send(&app, "/limited", proxy, &bob).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(quota(&response), (2, 1, 10));
        // The proxy's own requests are the proxy's.
        let response = send(&app, "/limited", proxy, &[]).await;
        assert_eq!(quota(&response), (2, 1, 10));
    }

    #[tokio::test]
    async fn an_untrusted_peer_cannot_escape_its_limit_with_forged_headers() {
        let app = app(Some(limit(2, Duration::from_secs(10))), "10.0.0.0/8");
        for n in 1..=2 {
            let forged = format!("198.51.100.{n}");
            let response = send(
                &app,
                "/limited",
                Some("203.0.113.9"),
                &[("x-forwarded-for", &forged)],
            )
            .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let forged = [("x-forwarded-for", "198.51.100.3")];
        let response = send(&app, "/limited", Some("203.0.113.9"), &forged).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn off_adds_nothing() {
        let app = app(None, "");
        for _ in 0..50 {
            let response = send(&app, "/limited", Some("203.0.113.9"), &[]).await;
            assert_eq!(response.status(), StatusCode::OK);
            for name in [
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset",
                header::RETRY_AFTER.as_str(),
            ] {
                assert_eq!(header(&response, name), None, "{name}");
            }
        }
    }

    #[tokio::test]
    async fn requests_without_a_peer_address_are_limited_as_one_unknown_client() {
        let app = app(Some(limit(1, Duration::from_secs(10))), "0.0.0.0/0");
        let forwarded = [("x-forwarded-for", "198.51.100.1")];
        let first = send(&app, "/limited", None, &forwarded).await;
        assert_eq!(first.status(), StatusCode::OK);
        let second = send(
            &app,
            "/limited",
            None,
            &[("x-forwarded-for", "198.51.100.2")],
        )
        .await;
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn ipv6_clients_share_one_budget_per_64_network() {
        let app = app(Some(limit(1, Duration::from_secs(60))), "");
        let first = send(&app, "/limited", Some("2001:db8:1:2::1"), &[]).await;
        assert_eq!(first.status(), StatusCode::OK);
        let same_64 = send(&app, "/limited", Some("2001:db8:1:2:ffff::9"), &[]).await;
        assert_eq!(same_64.status(), StatusCode::TOO_MANY_REQUESTS);
        let other_64 = send(&app, "/limited", Some("2001:db8:1:3::1"), &[]).await;
        assert_eq!(other_64.status(), StatusCode::OK);
        let v4 = send(&app, "/limited", Some("192.0.2.7"), &[]).await;
        assert_eq!(v4.status(), StatusCode::OK);
        let mapped = send(&app, "/limited", Some("::ffff:192.0.2.7"), &[]).await;
        assert_eq!(
            mapped.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "an IPv4-mapped address is its IPv4 client"
        );
    }

    #[test]
    fn reset_and_retry_after_round_up_to_whole_seconds() {
        let limiter = RateLimiter::new(
            limit(1, Duration::from_millis(1500)),
            TrustedProxies::default(),
        );
        let start = Instant::now();
        let first = limiter.check(client("192.0.2.1"), start);
        assert!(first.allowed);
        assert_eq!((first.remaining, first.reset_seconds()), (0, 2));
        let late = limiter.check(client("192.0.2.1"), start + Duration::from_millis(1499));
        assert!(!late.allowed);
        assert_eq!(late.reset, Duration::from_millis(1));
        assert_eq!(late.reset_seconds(), 1);
        let next = limiter.check(client("192.0.2.1"), start + Duration::from_millis(1500));
        assert!(next.allowed, "the window ends at its length, exactly");
    }

    #[test]
    fn a_window_beyond_the_clock_never_ends_and_never_panics() {
        let limiter = RateLimiter::new(limit(1, Duration::MAX), TrustedProxies::default());
        let now = Instant::now();
        let first = limiter.check(client("192.0.2.1"), now);
        assert!(first.allowed);
        assert_eq!(first.reset, Duration::MAX);
        assert!(!limiter.check(client("192.0.2.1"), now).allowed);
    }

    #[test]
    fn clients_whose_window_has_passed_are_forgotten() {
        let window = Duration::from_secs(10);
        let limiter = RateLimiter::new(limit(30, window), TrustedProxies::default());
        let start = Instant::now();
        for n in 0..100_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + n));
            let verdict = limiter.check(
                ClientIp::resolve(Some(ip), &HeaderMap::new(), &TrustedProxies::default()),
                start,
            );
            assert!(verdict.allowed);
        }
        assert_eq!(limiter.tracked().0, 100_000);
        // Within the window they are all remembered...
        limiter.check(client("192.0.2.1"), start + window / 2);
        assert_eq!(limiter.tracked().0, 100_001);
        // ...and once it has passed, the next request sweeps them and their memory away.
        limiter.check(client("192.0.2.2"), start + window);
        let (clients, capacity) = limiter.tracked();
        assert!(clients <= 2, "{clients} clients kept");
        assert!(capacity < 10_000, "capacity {capacity} kept");
    }
}
