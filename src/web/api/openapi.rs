//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers' annotations and the
//! types they answer with (utoipa), served at `/api/v1/openapi.json`.
//!
//! The document is meant to be exact, so that a schema-driven fuzzer finds every answer
//! conforming: each status a route can give, its content types, and the bounds and patterns of
//! every parameter, which the handlers enforce. `tests/data/openapi.json` is its snapshot.

use std::sync::LazyLock;

use axum::{Json, response::IntoResponse};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

use super::{counters, export, history, images, import, jobs, live_events, stats};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tally counting API",
        description = "Named counters with owners, badges and a pixel. Every error is `{\"error\": code, \"message\": text}`."
    ),
    paths(
        counters::create,
        counters::info,
        counters::set,
        counters::delete,
        counters::hit,
        counters::add,
        counters::list,
        live_events::events,
        images::badge,
        images::pixel,
        history::history,
        history::chart,
        export::export,
        import::import,
        stats::stats,
        jobs::queue::create,
        jobs::queue::list,
        jobs::upload::import,
        jobs::queue::show,
        jobs::queue::cancel,
        jobs::queue::retry,
        jobs::result::result,
        jobs::events::events,
        jobs::workers::workers,
    ),
    // Named by a parameter's `value_type`, which utoipa does not collect by itself.
    components(schemas(history::ZoneName)),
    modifiers(&Bearer),
    tags(
        (name = "counters", description = "Named counters"),
        (name = "instance", description = "Every counter at once: export, import and the numbers"),
        (name = "jobs", description = "Background jobs (export, import, copy, maintenance) and their workers; the admin's"),
    )
)]
struct ApiDoc;

/// The `bearer` scheme: an owner's `admin_token` or the instance's `ADMIN_TOKEN`.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document, built once.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    Json(&*DOCUMENT)
}
