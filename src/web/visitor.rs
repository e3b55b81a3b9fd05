//! [`HitVisitor`]: who a counting request came from, for the counter's unique visitors.
//!
//! The visitor is the client's address, as [`ClientIp`] resolves it (`TRUSTED_PROXIES` decides
//! whose `X-Forwarded-For` counts, so a client cannot pose as a thousand visitors by writing
//! the header itself), and its `User-Agent`. The store turns the two into a keyed hash under
//! the day's salt at once (see `store::visitor`); neither is kept, logged, or put in an error.
//!
//! The trusted proxies reach the extractor as a request extension that the app adds around
//! the whole router ([`with_trusted_proxies`], in `startup.rs`), so that the routes need no
//! new state. A router served without it (the tests that build one by hand) trusts no proxy:
//! the peer is the client, as for the rate limiter. Without a peer address at all (a router
//! driven by `oneshot`) there is no visitor, and the hit counts no unique visitor.

use std::convert::Infallible;

use axum::{
    Extension, Router,
    extract::FromRequestParts,
    http::{header, request::Parts},
};

use super::ClientIp;
use crate::{config::TrustedProxies, store::Visitor};

/// The visitor of a counting request, if its address is known.
pub struct HitVisitor(pub Option<Visitor>);

impl HitVisitor {
    /// For [`crate::store::Store::increment_from`].
    pub fn as_ref(&self) -> Option<&Visitor> {
        self.0.as_ref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for HitVisitor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let trusted = parts
            .extensions
            .get::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        let client = ClientIp::of_request(&parts.extensions, &parts.headers, &trusted);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .map_or(&[][..], |value| value.as_bytes());
        Ok(HitVisitor(
            client.ip().map(|address| Visitor::new(address, user_agent)),
        ))
    }
}

/// `router` with `TRUSTED_PROXIES` available to [`HitVisitor`].
pub fn with_trusted_proxies(router: Router, trusted: TrustedProxies) -> Router {
    router.layer(Extension(trusted))
}
