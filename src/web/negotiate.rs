//! Just enough content negotiation for the contract: `/` serves the page to browsers (an
//! `Accept` that names `text/html`) and `/count` answers JSON to `Accept: application/json`.
//!
//! Wildcards (`*/*`, `text/*`) deliberately do not count: curl sends `*/*` and must get the
//! plain-text answers of the tutorials. A type offered with `q=0` is refused, per RFC 9110.

use std::convert::Infallible;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};

/// Whether the request asks for JSON (`Accept: application/json`), as an extractor: it reads
/// the headers where they are, where a `HeaderMap` argument would copy them all.
pub struct AcceptsJson(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for AcceptsJson {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(AcceptsJson(accepts(&parts.headers, "application/json")))
    }
}

/// True when the request's `Accept` header names `mime` with a non-zero quality.
pub fn accepts(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or_default();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media_type.eq_ignore_ascii_case(mime) && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).expect("valid header"),
        );
        headers
    }

    #[test]
    fn browsers_accept_html_and_curl_does_not() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(accepts(&with_accept(firefox), "text/html"));
        assert!(!accepts(&with_accept("*/*"), "text/html"));
        assert!(!accepts(&HeaderMap::new(), "text/html"));
    }

    #[test]
    fn json_is_chosen_only_when_named_with_nonzero_quality() {
        assert!(accepts(
            &with_accept("application/json"),
            "application/json"
        ));
        assert!(accepts(
            &with_accept("text/plain, Application/JSON; q=0.5"),
            "application/json"
        ));
        assert!(!accepts(
            &with_accept("application/json;q=0"),
            "application/json"
        ));
        assert!(!accepts(&with_accept("text/plain"), "application/json"));
    }
}
