//! The rate limiter, the client address and CORS over real TCP connections, served by tally's
//! own connection server (`tally::server::serve`, what `App` runs, which hands each request its
//! peer's address): what the README's "Rate limits and client addresses" section promises,
//! before any tally route uses them. The rules in detail
//! are unit-tested beside the code (src/web/rate_limit.rs, client_ip.rs, cors.rs).

use std::time::Duration;

use axum::{Router, routing::get};
use reqwest::{Method, StatusCode};
use tally::{
    config::{RateLimit, ServerLimits, TrustedProxies},
    web::{ClientIp, api_cors, limit_routes},
};
use tokio::net::TcpListener;

use crate::client::{Body, Http};

/// A router that answers each client with its address, limited to 3 requests per 10 s and
/// behind the API's CORS layer, served as tally serves on a random port of 127.0.0.1 for the
/// test's life.
async fn serve_limited(proxies: &str) -> String {
    let trusted: TrustedProxies = proxies.parse().expect("valid proxies");
    let limit = RateLimit::new(3, Duration::from_secs(10));
    let routes = Router::new().route(
        "/whoami",
        get(|client: ClientIp| async move { client.to_string() }),
    );
    let app = limit_routes(routes, limit, &trusted)
        .with_state(trusted)
        .layer(api_cors());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("the bound address");
    tokio::spawn(tally::server::serve(
        listener,
        app,
        ServerLimits::default(),
        std::future::pending(),
    ));
    format!("http://{address}")
}

/// A client of `address` whose connections come from `from` (any 127.x.y.z is loopback).
fn client_from(address: &str, from: [u8; 4]) -> Http {
    let client = reqwest::Client::builder()
        .local_address(Some(from.into()))
        .build()
        .expect("a client");
    Http {
        address: address.to_owned(),
        client,
    }
}

#[tokio::test]
async fn each_peer_address_has_its_own_limit() {
    let address = serve_limited("").await;
    let first = client_from(&address, [127, 0, 0, 1]);
    for remaining in ["2", "1", "0"] {
        let reply = first.get("/whoami").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "127.0.0.1");
        assert_eq!(reply.header("ratelimit-limit"), Some("3"));
        assert_eq!(reply.header("ratelimit-remaining"), Some(remaining));
        assert_eq!(reply.header("ratelimit-reset"), Some("10"));
    }
    let limited = first.get("/whoami").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.header("retry-after").is_some(),
        "{:?}",
        limited.headers
    );
    assert_eq!(limited.json()["error"], "rate_limited");

    let second = client_from(&address, [127, 0, 0, 2]);
    let reply = second.get("/whoami").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "127.0.0.2");
    assert_eq!(reply.header("ratelimit-remaining"), Some("2"));
}

#[tokio::test]
async fn a_trusted_proxy_forwards_its_clients_and_an_untrusted_one_cannot() {
    let address = serve_limited("127.0.0.1").await;
    let proxy = client_from(&address, [127, 0, 0, 1]);
    let reply = proxy
        .get_with("/whoami", &[("x-forwarded-for", "198.51.100.7")])
        .await;
    assert_eq!(reply.body, "198.51.100.7");
    let reply = proxy
        .get_with("/whoami", &[("forwarded", "for=\"[2001:db8::7]:4711\"")])
        .await;
    assert_eq!(reply.body, "2001:db8::7");

    let stranger = client_from(&address, [127, 0, 0, 3]);
    let reply = stranger
        .get_with("/whoami", &[("x-forwarded-for", "198.51.100.7")])
        .await;
    assert_eq!(reply.body, "127.0.0.3");
}

/// CORS sits outside the limiter: preflights are not counted, and a page can read a 429 and
/// its headers.
#[tokio::test]
async fn browsers_can_read_the_limit_and_preflights_do_not_use_it() {
    let address = serve_limited("").await;
    let page = client_from(&address, [127, 0, 0, 4]);
    let origin = [("origin", "https://blog.example")];
    let preflight = [
        ("origin", "https://blog.example"),
        ("access-control-request-method", "GET"),
    ];
    for _ in 0..5 {
        let reply = page
            .request(Method::OPTIONS, "/whoami", &preflight, Body::Empty)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
    for _ in 0..3 {
        let reply = page.get_with("/whoami", &origin).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let limited = page.get_with("/whoami", &origin).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("access-control-allow-origin"), Some("*"));
    let exposed = limited
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("ratelimit-reset") && exposed.contains("retry-after"),
        "{exposed}"
    );
}
