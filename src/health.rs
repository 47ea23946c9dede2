//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::json_error;
use crate::store::writer::ANSWER_TIMEOUT;
use crate::store::{on_a_task_within, Db};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process answers", content_type = "application/json")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answers too", content_type = "application/json"),
        (status = 503, description = "`storage_unavailable`", body = crate::auth::handlers::ErrorBody),
    ))]
pub async fn readyz(db: web::Data<Db>) -> HttpResponse {
    // The prober is answered 503 after as long as a batch of callbacks waits for a database that
    // stopped answering; the ping runs on until its own deadline on Postgres
    // (`--db-answer-timeout-ms`) closes the connection.
    let pinging = db.clone();
    match on_a_task_within(ANSWER_TIMEOUT, async move { pinging.ping().await }).await {
        Ok(()) => {
            HttpResponse::Ok().json(json!({ "status": "ready", "database": db.backend_name() }))
        }
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable")
        }
    }
}
