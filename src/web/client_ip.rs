//! [`ClientIp`]: the address a request comes from, for the rate limiter and anything else that
//! must tell clients apart.
//!
//! The TCP peer is the client unless tally runs behind a reverse proxy, where every peer is the
//! proxy. Proxies name the client in `X-Forwarded-For` (or RFC 7239 `Forwarded: for=`), but
//! anyone can send those headers, so they are believed only from a peer in `TRUSTED_PROXIES`,
//! and then only as far as trusted proxies wrote them: each proxy appends the address it
//! received the request from, so the list is read from the right, skipping trusted proxies,
//! and the first address that is not one is the client. What lies to its left was written by
//! the client itself and is ignored. An entry on that path that is not an address (`unknown`,
//! an obfuscated name, garbage) means the proxies do not know the client; the peer is used
//! then. The rules are stated in the README's "Rate limits and client addresses" section.
//!
//! `X-Forwarded-For` is read when present, else `Forwarded`: the trusted proxies must write
//! (or strip) the one tally reads, or a client could supply it.
//!
//! Without a peer address (a router driven by `oneshot` in tests, or served without connect
//! info) the client is "unknown" rather than an error: nothing is trusted then, and every such
//! request is the same client.

use std::{
    convert::Infallible,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{Extensions, HeaderMap, HeaderName, header, request::Parts},
};

use crate::config::TrustedProxies;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Where a request comes from: an IP address, or unknown when the server was given no peer
/// address. Usable as an extractor in any router whose state yields [`TrustedProxies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(Option<IpAddr>);

impl ClientIp {
    /// No peer address was available.
    pub const UNKNOWN: ClientIp = ClientIp(None);

    pub fn ip(self) -> Option<IpAddr> {
        self.0
    }

    /// What the rate limit counts: the address for IPv4, its /64 network for IPv6 (a host is
    /// usually given a whole /64, and could otherwise take a fresh budget per address).
    pub fn rate_limit_key(self) -> ClientIp {
        ClientIp(self.0.map(|ip| match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(std::net::Ipv6Addr::from(
                    u128::from(v6) & !(u128::from(u64::MAX)),
                )),
            },
            v4 => v4,
        }))
    }

    /// The client of a request with these extensions (where axum puts the peer's
    /// `ConnectInfo<SocketAddr>`) and headers.
    pub fn of_request(
        extensions: &Extensions,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
    ) -> ClientIp {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        ClientIp::resolve(peer, headers, trusted)
    }

    /// The client, given the peer's address and the request's headers: see the module
    /// documentation for the rules. Addresses are canonical: an IPv4 address mapped into IPv6
    /// (`::ffff:192.0.2.1`, what a dual-stack socket reports) is given as IPv4.
    pub fn resolve(
        peer: Option<IpAddr>,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
    ) -> ClientIp {
        let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
            return ClientIp::UNKNOWN;
        };
        if !trusted.contains(peer) {
            return ClientIp(Some(peer));
        }
        // When every hop is a trusted proxy, the left-most is as close to the client as known.
        let mut client = peer;
        for hop in forwarding_chain(headers).iter().rev() {
            let Some(hop) = hop.map(|ip| ip.to_canonical()) else {
                return ClientIp(Some(peer));
            };
            client = hop;
            if !trusted.contains(hop) {
                break;
            }
        }
        ClientIp(Some(client))
    }
}

/// The address, or `unknown`.
impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

impl<S> FromRequestParts<S> for ClientIp
where
    TrustedProxies: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let trusted = TrustedProxies::from_ref(state);
        Ok(ClientIp::of_request(
            &parts.extensions,
            &parts.headers,
            &trusted,
        ))
    }
}

/// The hops the forwarding headers list, client first: `X-Forwarded-For` if there is one,
/// else `Forwarded`'s `for=`. `None` for an entry that is not an address. Several lines of a
/// header are one list, in order.
fn forwarding_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    // Lossy: a stray non-ASCII byte spoils only the entry it is in.
    let lines = |name: &HeaderName| {
        headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect::<Vec<_>>()
    };
    let x_forwarded_for = lines(&X_FORWARDED_FOR);
    if !x_forwarded_for.is_empty() {
        return x_forwarded_for
            .iter()
            .flat_map(|line| line.split(','))
            .map(parse_node)
            .collect();
    }
    lines(&header::FORWARDED)
        .iter()
        .flat_map(|line| split_unquoted(line, ','))
        .map(forwarded_for)
        .collect()
}

/// The `for=` of one RFC 7239 forwarded-element (`for=192.0.2.60;proto=http;by=…`).
/// Parameter names are case-insensitive; values are tokens or quoted strings.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = split_unquoted(element, ';').into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then_some(value)
    })?;
    let value = value.trim();
    match value.strip_prefix('"') {
        Some(quoted) => parse_node(&unquote(quoted)?),
        None => parse_node(value),
    }
}

/// The content of a quoted string whose opening quote is already gone: up to the closing
/// quote (which must end it), with backslash escapes undone.
fn unquote(rest: &str) -> Option<String> {
    let mut content = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => content.push(chars.next()?),
            '"' => return chars.as_str().trim().is_empty().then_some(content),
            c => content.push(c),
        }
    }
    None
}

/// `text` split at each `separator` that is not inside a quoted string.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            pieces.push(&text[start..index]);
            start = index + c.len_utf8();
        }
    }
    pieces.push(&text[start..]);
    pieces
}

/// One hop: `192.0.2.1`, `2001:db8::1`, or with brackets and a port as proxies and RFC 7239
/// write them (`192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, an obfuscated port
/// `_p1`). Anything else, `unknown` and obfuscated names included, is `None`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    let (ip, after) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            (IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?), after)
        }
        None => {
            let (address, _port) = text.split_once(':')?;
            (
                IpAddr::V4(address.parse::<Ipv4Addr>().ok()?),
                &text[address.len()..],
            )
        }
    };
    if after.is_empty() {
        return Some(ip);
    }
    let port = after.strip_prefix(':')?;
    let valid_port = port.parse::<u16>().is_ok()
        || port.strip_prefix('_').is_some_and(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    valid_port.then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{
        Router,
        body::{Body, to_bytes},
        http::{HeaderValue, Request},
        routing::get,
    };
    use tower::ServiceExt;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    fn trusted(list: &str) -> TrustedProxies {
        list.parse().expect("valid proxies")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        headers
    }

    /// The client of a request from `peer` with `pairs` as headers, behind `proxies`.
    fn client(peer: &str, pairs: &[(&str, &str)], proxies: &str) -> String {
        ClientIp::resolve(Some(ip(peer)), &headers(pairs), &trusted(proxies)).to_string()
    }

    #[test]
    fn the_peer_is_the_client_without_forwarding_headers() {
        assert_eq!(client("203.0.113.9", &[], ""), "203.0.113.9");
        assert_eq!(client("10.0.0.2", &[], "10.0.0.0/8"), "10.0.0.2");
        assert_eq!(client("2001:db8::7", &[], ""), "2001:db8::7");
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let spoofed = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.1"),
        ];
        assert_eq!(client("203.0.113.9", &spoofed, ""), "203.0.113.9");
        assert_eq!(client("203.0.113.9", &spoofed, "10.0.0.0/8"), "203.0.113.9");
        assert_eq!(client("203.0.113.9", &spoofed[1..], "::1"), "203.0.113.9");
    }

    #[test]
    fn a_trusted_peer_names_the_client_in_x_forwarded_for() {
        let forwarded = [("x-forwarded-for", "198.51.100.1")];
        assert_eq!(client("10.0.0.2", &forwarded, "10.0.0.0/8"), "198.51.100.1");
        assert_eq!(client("::1", &forwarded, "::1"), "198.51.100.1");
    }

    #[test]
    fn the_right_most_entry_that_is_not_a_trusted_proxy_wins() {
        // The client wrote the first entry itself; 10.0.0.3 is a second trusted proxy.
        let chain = [("x-forwarded-for", "192.0.2.66, 198.51.100.1, 10.0.0.3")];
        assert_eq!(client("10.0.0.2", &chain, "10.0.0.0/8"), "198.51.100.1");
        // The same, with the proxies appending lines instead of entries.
        let lines = [
            ("x-forwarded-for", "192.0.2.66"),
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "10.0.0.3"),
        ];
        assert_eq!(client("10.0.0.2", &lines, "10.0.0.0/8"), "198.51.100.1");
        // Only the peer is trusted: the entry it wrote is the client, even if it is private.
        assert_eq!(client("10.0.0.2", &chain, "10.0.0.2"), "10.0.0.3");
    }

    #[test]
    fn a_chain_of_trusted_proxies_only_gives_its_left_most_entry() {
        let chain = [("x-forwarded-for", "10.1.1.1, 10.0.0.3")];
        assert_eq!(client("10.0.0.2", &chain, "10.0.0.0/8"), "10.1.1.1");
    }

    #[test]
    fn ipv6_clients_and_proxies_with_brackets_and_ports() {
        let proxies = "fd00::/8,10.0.0.0/8";
        for entry in [
            "2001:db8::17",
            "[2001:db8::17]",
            "[2001:db8::17]:4711",
            " 2001:DB8::17 ",
        ] {
            let forwarded = [("x-forwarded-for", entry)];
            assert_eq!(
                client("fd00::2", &forwarded, proxies),
                "2001:db8::17",
                "{entry}"
            );
        }
        let forwarded = [("x-forwarded-for", "192.0.2.43:47011")];
        assert_eq!(client("fd00::2", &forwarded, proxies), "192.0.2.43");
        // A dual-stack socket reports IPv4 peers as mapped IPv6; they are IPv4 here.
        let forwarded = [("x-forwarded-for", "::ffff:192.0.2.43")];
        assert_eq!(client("::ffff:10.0.0.2", &forwarded, proxies), "192.0.2.43");
        assert_eq!(client("::ffff:192.0.2.1", &[], proxies), "192.0.2.1");
    }

    #[test]
    fn forwarded_names_the_client_as_rfc_7239_writes_it() {
        let proxies = "10.0.0.0/8";
        for (value, expected) in [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ("For=\"192.0.2.43:47011\"", "192.0.2.43"),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=\"192.0.2.43:_p1\"", "192.0.2.43"),
            ("proto=https; FOR = 192.0.2.60 ", "192.0.2.60"),
            // A quoted comma or semicolon in another parameter splits nothing.
            ("by=\"a,b;c\";for=192.0.2.60", "192.0.2.60"),
            (
                "for=192.0.2.66, for=198.51.100.1, for=10.0.0.3",
                "198.51.100.1",
            ),
            ("for=192.0.2.66, for=\"[2001:db8::1]:80\"", "2001:db8::1"),
        ] {
            let forwarded = [("forwarded", value)];
            assert_eq!(client("10.0.0.2", &forwarded, proxies), expected, "{value}");
        }
    }

    #[test]
    fn x_forwarded_for_is_read_before_forwarded() {
        let both = [
            ("forwarded", "for=192.0.2.60"),
            ("x-forwarded-for", "198.51.100.1"),
        ];
        assert_eq!(client("10.0.0.2", &both, "10.0.0.0/8"), "198.51.100.1");
    }

    #[test]
    fn garbage_on_the_trusted_path_falls_back_to_the_peer() {
        let proxies = "10.0.0.0/8";
        for (name, value) in [
            ("x-forwarded-for", "not-an-ip"),
            ("x-forwarded-for", ""),
            ("x-forwarded-for", "198.51.100.1,"),
            ("x-forwarded-for", "198.51.100.1, garbage, 10.0.0.3"),
            ("x-forwarded-for", "198.51.100.1:99999"),
            ("x-forwarded-for", "[198.51.100.1]"),
            ("x-forwarded-for", "[2001:db8::1"),
            ("x-forwarded-for", "2001:db8::1:80x"),
            ("forwarded", "for=unknown"),
            ("forwarded", "for=_hidden"),
            ("forwarded", "for=\"192.0.2.60"),
            ("forwarded", "for=\"192.0.2.60\"x"),
            ("forwarded", "proto=https;by=10.0.0.3"),
            ("forwarded", "for=192.0.2.60:"),
            ("forwarded", ""),
        ] {
            let sent = [(name, value)];
            assert_eq!(
                client("10.0.0.2", &sent, proxies),
                "10.0.0.2",
                "{name}: {value}"
            );
        }
        // Non-ASCII bytes spoil only their entry.
        let mut sent = HeaderMap::new();
        sent.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.1").expect("opaque bytes"),
        );
        let resolved = ClientIp::resolve(Some(ip("10.0.0.2")), &sent, &trusted(proxies));
        assert_eq!(resolved.to_string(), "198.51.100.1");
    }

    #[test]
    fn garbage_left_of_the_client_was_written_by_the_client_and_is_ignored() {
        let sent = [("x-forwarded-for", "garbage, 198.51.100.1")];
        assert_eq!(client("10.0.0.2", &sent, "10.0.0.0/8"), "198.51.100.1");
        let sent = [("forwarded", "for=unknown, for=198.51.100.1")];
        assert_eq!(client("10.0.0.2", &sent, "10.0.0.0/8"), "198.51.100.1");
    }

    #[test]
    fn without_a_peer_the_client_is_unknown_whatever_the_headers_say() {
        let sent = headers(&[("x-forwarded-for", "198.51.100.1")]);
        let resolved = ClientIp::resolve(None, &sent, &trusted("0.0.0.0/0,::/0"));
        assert_eq!(resolved, ClientIp::UNKNOWN);
        assert_eq!(resolved.ip(), None);
        assert_eq!(resolved.to_string(), "unknown");
    }

    async fn extracted(router: Router, request: Request<Body>) -> String {
        let response = router.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), 200);
        let body = to_bytes(response.into_body(), 1024).await.expect("a body");
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn the_extractor_reads_connect_info_and_never_fails_without_it() {
        let router = Router::new()
            .route(
                "/",
                get(|client: ClientIp| async move { client.to_string() }),
            )
            .with_state(trusted("10.0.0.0/8"));
        let bare = Request::new(Body::empty());
        assert_eq!(extracted(router.clone(), bare).await, "unknown");

        let mut request = Request::new(Body::empty());
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 40000))));
        assert_eq!(extracted(router.clone(), request).await, "203.0.113.9");

        let mut request = Request::builder()
            .header("x-forwarded-for", "198.51.100.1")
            .body(Body::empty())
            .expect("a request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 2], 40000))));
        assert_eq!(extracted(router, request).await, "198.51.100.1");
    }
}
