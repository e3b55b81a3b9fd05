//! [`HitVisitor`]: who a counting request came from, for the counter's unique visitors.
//!
//! The visitor is the client's address, as [`ClientIp`] resolves it (`TRUSTED_PROXIES` decides
//! whose `X-Forwarded-For` counts, so a client cannot pose as a thousand visitors by writing
//! the header itself), and its `User-Agent`. The store turns the two into a keyed hash under
//! the day's salt at once (see `store::visitor`); neither is kept, logged, or put in an error.
//!
//! The trusted proxies are read from the app's state ([`super::AppParts::trusted_proxies`]),
//! not from a request extension: an extension would be one more allocation and one more layer
//! on every request. Without a peer address at all (a router driven by `oneshot`) there is no
//! visitor, and the hit counts no unique visitor.

use std::convert::Infallible;

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};

use super::{AppState, ClientIp};
use crate::store::Visitor;

/// The visitor of a counting request, if its address is known.
pub struct HitVisitor(pub Option<Visitor>);

impl HitVisitor {
    /// For [`crate::store::Store::increment_from`].
    pub fn as_ref(&self) -> Option<&Visitor> {
        self.0.as_ref()
    }
}

impl FromRequestParts<AppState> for HitVisitor {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client =
            ClientIp::of_request(&parts.extensions, &parts.headers, &state.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .map_or(&[][..], |value| value.as_bytes());
        Ok(HitVisitor(
            client.ip().map(|address| Visitor::new(address, user_agent)),
        ))
    }
}
