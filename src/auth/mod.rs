//! Accounts and sessions: `/api/auth/*`, the `AuthenticatedUser`/`AdminUser` extractors, the
//! cross-site check and the login throttle.

pub mod accounts;
pub mod deferred;
pub mod error;
pub mod extractor;
pub mod handlers;
pub mod known_admins;
pub mod origin;
pub mod password;
pub mod session;
pub mod throttle;

use actix_web::middleware::from_fn;
use actix_web::web;
use chrono::{NaiveDateTime, SecondsFormat};

pub use deferred::Deferred;
pub use error::ApiError;
pub use extractor::{AdminReader, AdminUser, AuthenticatedUser};
use known_admins::KnownAdmins;
use password::Password;
use session::SessionPolicy;
use throttle::{LoginThrottle, ThrottleSettings};

/// What the server is told about authentication at start.
#[derive(Clone, Debug, Default)]
pub struct AuthSettings {
    pub session: SessionPolicy,
    /// Always mark the cookie `Secure` (it is also marked when the request came over TLS).
    pub cookie_secure: bool,
    pub throttle: ThrottleSettings,
    /// The first admin's password when no user exists yet (else one is generated).
    pub admin_password: Option<Password>,
}

/// Shared by the auth handlers and extractors.
pub struct AuthState {
    pub policy: SessionPolicy,
    pub cookie_secure: bool,
    pub throttle: LoginThrottle,
    pub known_admins: KnownAdmins,
}

impl AuthState {
    pub fn new(settings: &AuthSettings) -> AuthState {
        AuthState {
            policy: settings.session,
            cookie_secure: settings.cookie_secure,
            throttle: LoginThrottle::new(settings.throttle),
            known_admins: KnownAdmins::default(),
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/auth")
            .wrap(from_fn(origin::refuse_cross_site))
            .app_data(error::json_config())
            .route("/login", web::post().to(handlers::login))
            .route("/logout", web::post().to(handlers::logout))
            .route("/me", web::get().to(handlers::me))
            .default_service(web::to(crate::http::not_found)),
    );
}

/// Times in API bodies: RFC 3339, UTC, milliseconds, `Z`.
pub fn api_time(time: NaiveDateTime) -> String {
    time.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
}
