//! CountAPI's reserved words: a namespace or key that is exactly `:HOST:` or `:PATHNAME:` is
//! replaced by a name taken from the request, so one snippet pasted into every page of a site
//! (`/hit/:HOST:/:PATHNAME:`) counts each page on its own without naming it.
//!
//! - `:HOST:` is the host of the `Origin` header, else of the `Referer`, else the `Host`
//!   header's name without its port, else `default`. Host names are case-insensitive, so it is
//!   lower-cased: `Blog.Example` and `blog.example` are one counter.
//! - `:PATHNAME:` is the path of the `Referer`, without its leading and trailing `/` and
//!   without the query; `index` when there is no `Referer` or nothing of its path is left
//!   (the site's root).
//!
//! Either way, characters outside the name alphabet (`A-Z a-z 0-9 _ - .`) become `.`, the
//! result is cut to 64 characters and padded on the left with `.` to 3, as CountAPI did, so
//! the outcome is always a valid name: `/blog/2024/hello world` gives `blog.2024.hello.world`
//! (a `%20` is three characters, `.20`: paths are not percent-decoded). The README's
//! "Compatible routes" section states these rules for users. Only a whole segment is
//! replaced: `blog-:HOST:` is an ordinary (and invalid) name.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName, Uri, header, uri::Authority};

use crate::store::{DEFAULT_NAMESPACE, MAX_NAME_LEN, MIN_NAME_LEN, is_name_char};

/// Replaced by the host of the page the request comes from.
pub const HOST: &str = ":HOST:";
/// Replaced by the path of the page the request comes from.
pub const PATHNAME: &str = ":PATHNAME:";

/// The name `:PATHNAME:` gives when the request names no page, or the site's root.
pub const INDEX: &str = "index";

/// `segment`, or what it stands for when it is a reserved word.
pub fn expand<'a>(segment: &'a str, headers: &HeaderMap) -> Cow<'a, str> {
    match segment {
        HOST => Cow::Owned(host(headers)),
        PATHNAME => Cow::Owned(pathname(headers)),
        _ => Cow::Borrowed(segment),
    }
}

/// What `:HOST:` stands for in a request with these headers.
pub fn host(headers: &HeaderMap) -> String {
    let host = url_host(headers, &header::ORIGIN)
        .or_else(|| url_host(headers, &header::REFERER))
        .or_else(|| {
            let value = headers.get(header::HOST)?.to_str().ok()?;
            let authority: Authority = value.parse().ok()?;
            Some(authority.host().to_owned())
        });
    match host {
        Some(host) => to_name(&host.to_ascii_lowercase(), DEFAULT_NAMESPACE),
        None => DEFAULT_NAMESPACE.to_owned(),
    }
}

/// What `:PATHNAME:` stands for in a request with these headers.
pub fn pathname(headers: &HeaderMap) -> String {
    match url(headers, &header::REFERER) {
        Some(referer) => to_name(referer.path().trim_matches('/'), INDEX),
        None => INDEX.to_owned(),
    }
}

/// The absolute URL in header `name` (a scheme and a host are required: `Origin: null` and
/// relative references are no URL here). A fragment, which browsers never send, is dropped.
fn url(headers: &HeaderMap, name: &HeaderName) -> Option<Uri> {
    let value = headers.get(name)?.to_str().ok()?;
    let value = value.split('#').next().unwrap_or_default();
    let uri: Uri = value.trim().parse().ok()?;
    (uri.scheme().is_some() && uri.host().is_some_and(|host| !host.is_empty())).then_some(uri)
}

fn url_host(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    url(headers, name)?.host().map(str::to_owned)
}

/// `raw` made into a valid name (see the module documentation), or `fallback` when nothing
/// of it is left but dots.
fn to_name(raw: &str, fallback: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| if is_name_char(c) { c } else { '.' })
        .take(MAX_NAME_LEN)
        .collect();
    if name.chars().all(|c| c == '.') {
        return fallback.to_owned();
    }
    format!("{name:.>MIN_NAME_LEN$}")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
        headers
    }

    #[test]
    fn host_comes_from_origin_then_referer_then_host_then_default() {
        let origin = (header::ORIGIN, "https://Blog.Example:8443");
        let referer = (header::REFERER, "http://www.other.example/a/b?c=d");
        let host_header = (header::HOST, "tally.example:5000");
        assert_eq!(
            host(&headers(&[
                origin.clone(),
                referer.clone(),
                host_header.clone()
            ])),
            "blog.example"
        );
        assert_eq!(
            host(&headers(&[referer.clone(), host_header.clone()])),
            "www.other.example"
        );
        assert_eq!(
            host(&headers(std::slice::from_ref(&host_header))),
            "tally.example"
        );
        assert_eq!(
            host(&headers(&[(header::HOST, "tally.example")])),
            "tally.example"
        );
        assert_eq!(host(&HeaderMap::new()), "default");
        // An opaque origin, a relative or broken referer: the next source is used.
        assert_eq!(
            host(&headers(&[(header::ORIGIN, "null"), host_header.clone()])),
            "tally.example"
        );
        assert_eq!(
            host(&headers(&[
                (header::REFERER, "/just/a/path"),
                host_header.clone()
            ])),
            "tally.example"
        );
        assert_eq!(
            host(&headers(&[(header::REFERER, "https://a b/"), host_header])),
            "tally.example"
        );
    }

    #[test]
    fn odd_hosts_become_valid_names() {
        assert_eq!(
            host(&headers(&[(header::ORIGIN, "http://[::1]:8080")])),
            "...1."
        );
        assert_eq!(host(&headers(&[(header::ORIGIN, "http://a")])), "..a");
        assert_eq!(host(&headers(&[(header::HOST, "[::]:80")])), "default");
        let long = format!("https://{}.example", "x".repeat(80));
        assert_eq!(host(&headers(&[(header::ORIGIN, &long)])), "x".repeat(64));
    }

    #[test]
    fn pathname_is_the_referer_path_made_into_a_name() {
        let cases = [
            (
                "https://blog.example/posts/hello-world?utm=x",
                "posts.hello-world",
            ),
            (
                "https://blog.example/posts/hello-world/",
                "posts.hello-world",
            ),
            ("https://blog.example/a", "..a"),
            ("https://blog.example/index.html#top", "index.html"),
            ("https://blog.example/caf%C3%A9", "caf.C3.A9"),
            ("https://blog.example/~user/", ".user"),
            ("https://blog.example/", INDEX),
            ("https://blog.example", INDEX),
            ("https://blog.example/%20", ".20"),
            ("https://blog.example/~/", INDEX),
            ("/relative", INDEX),
        ];
        for (referer, expected) in cases {
            assert_eq!(
                pathname(&headers(&[(header::REFERER, referer)])),
                expected,
                "{referer}"
            );
        }
        assert_eq!(pathname(&HeaderMap::new()), INDEX);
        let long = format!("https://blog.example/{}", "p".repeat(100));
        assert_eq!(
            pathname(&headers(&[(header::REFERER, &long)])),
            "p".repeat(64)
        );
    }

    #[test]
    fn only_whole_reserved_segments_are_replaced() {
        let headers = headers(&[(header::ORIGIN, "https://blog.example")]);
        assert_eq!(expand(HOST, &headers), "blog.example");
        assert_eq!(expand(PATHNAME, &headers), INDEX);
        assert_eq!(expand("blog-:HOST:", &headers), "blog-:HOST:");
        assert_eq!(expand(":host:", &headers), ":host:");
        assert_eq!(expand(":PATH:", &headers), ":PATH:");
        assert_eq!(expand("home", &headers), "home");
    }
}
