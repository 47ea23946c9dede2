//! `GET /api/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` attributes and the response types' `ToSchema` derives.

use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

use crate::admin::{check, detail, facets, history, jobs, rejections, sources, summary, views};
use crate::auth::handlers as auth;

#[derive(OpenApi)]
#[openapi(
    info(title = "Hookbox", description = "A self-hosted inbox for signed webhook callbacks."),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::ingest::handler::receive,
        auth::login,
        auth::logout,
        auth::me,
        check::check,
        history::history,
        detail::detail,
        views::view,
        views::view_all,
        jobs::job,
        facets::facets,
        sources::reload_sources,
        rejections::rejections,
        crate::metrics::scrape,
        openapi_json,
    ),
    components(schemas(
        auth::ErrorBody,
        auth::UserView,
        summary::Summary,
        summary::Outcome,
        summary::Signature,
    )),
    tags(
        (name = "ingest", description = "Signed callbacks in"),
        (name = "auth", description = "Sessions: cookie `hookbox_session` or `Authorization: Bearer`"),
        (name = "admin", description = "Admins only; each user has their own viewed state"),
        (name = "operations", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi_json));
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
