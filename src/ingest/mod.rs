//! Receiving signed callbacks: `POST /api/webhooks/{source}`.

mod body;
pub mod config;
pub mod delivery;
mod error;
pub(crate) mod handler;
mod lone_surrogates;
pub mod mapping;
pub mod payload;
pub mod presets;
pub mod reload;
pub mod scheme;
pub mod secrets;
mod shallow_json;
pub mod signature;
pub mod source;
pub mod standard_webhooks;
pub mod throttle;

use actix_web::web;

pub use error::{IngestError, RETRY_AFTER_SECONDS};
pub use handler::IngestState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/webhooks/{source}")
            .route(web::post().to(handler::receive))
            .default_service(web::to(crate::http::method_not_allowed_post)),
    );
}

#[cfg(test)]
mod hostile_tests;
