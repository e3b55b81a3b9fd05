//! Refusing `HEAD` on routes whose `GET` counts.
//!
//! axum answers `HEAD` with the `GET` handler unless told otherwise; on `/count`, a badge, the
//! pixel or a compatible `/hit` that would count a visit (or create a counter) for every
//! `curl -I` or uptime probe. Those routes answer `405` with `Allow` instead.

use axum::{
    http::{HeaderValue, Uri, header},
    response::{IntoResponse, Response},
    routing::MethodRouter,
};

use super::{AppError, AppState};

/// `route` with `HEAD` refused: `405`, the JSON error and `Allow: allow`.
pub fn no_head(route: MethodRouter<AppState>, allow: &'static str) -> MethodRouter<AppState> {
    route.head(move |uri: Uri| async move { refused(&uri, allow) })
}

fn refused(uri: &Uri, allow: &'static str) -> Response {
    let mut response = AppError::MethodNotAllowed {
        method: "HEAD".to_owned(),
        path: uri.path().to_owned(),
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
