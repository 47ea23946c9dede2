//! `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::parse_username;
use super::error::{detached, ApiError};
use super::extractor::{AuthenticatedUser, Credential, SESSION_COOKIE};
use super::password::{self, Password};
use super::session::Token;
use super::{api_time, AuthState};
use crate::store::sessions::{self, NewSession};
use crate::store::{users, Db};

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// A user as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub last_login_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: UserView,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct LogoutResponse {
    /// Always `logged_out`.
    pub status: String,
}

/// The error envelope of every endpoint.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `payload_too_large`: the source's body limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    /// `too_many_failed_signatures`: as the `Retry-After` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; sets the `hookbox_session` cookie", body = LoginResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 403, description = "`cross_site_request`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`, see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    req: HttpRequest,
    body: web::Json<LoginRequest>,
    db: web::Data<Db>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    let ip = req
        .peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_default();
    let secure = secure(&req, &state);
    let (token, response) = detached(sign_in(db, state.clone(), ip, username, password)).await?;
    let cookie = session_cookie(token.expose(), state.policy.absolute.as_secs(), secure);
    Ok(HttpResponse::Ok()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response))
}

/// Checks the throttle and the password, then stores a new session.
async fn sign_in(
    db: web::Data<Db>,
    state: web::Data<AuthState>,
    ip: String,
    username: String,
    password: String,
) -> Result<(Token, LoginResponse), ApiError> {
    // A name that could never have been created matches nobody (and a NUL byte, which
    // Postgres refuses in text, never reaches the query); the throttle counts it against the
    // address only, so that it never keeps a key as long as a request body.
    let name = parse_username(&username).ok();
    let too_many = |retry_after_secs| ApiError::TooManyAttempts { retry_after_secs };
    let mut attempt = state.throttle.begin(&ip, name).map_err(too_many)?;
    let user = match name {
        Some(name) => users::find_by_name(&db, name).await?,
        None => None,
    };
    if user.is_some() {
        attempt.for_an_account().map_err(too_many)?;
    }
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = password::verify(Password::presented(password), stored).await?;
    let user = match user {
        Some(user) if matches && !user.is_disabled => user,
        _ => {
            attempt.failed();
            tracing::warn!(remote_addr = %ip, "login refused: invalid credentials");
            return Err(ApiError::InvalidCredentials);
        }
    };
    attempt.succeeded();

    let now = Utc::now().naive_utc();
    let token = Token::generate_session();
    let expires_at = state.policy.expires_at(now);
    sessions::delete_expired(&db, now).await?;
    let stored = sessions::create(
        &db,
        &NewSession {
            token_hash: &token.hash(),
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at,
        },
        &user.password_hash,
    )
    .await?;
    if !stored {
        tracing::warn!(
            user.id = user.id,
            "login refused: the password changed or the user was disabled while it was checked"
        );
        return Err(ApiError::InvalidCredentials);
    }
    users::record_login(&db, user.id, now).await?;
    tracing::info!(user.id = user.id, "signed in");
    let response = LoginResponse {
        user: UserView {
            id: user.id,
            username: user.username,
            is_admin: user.is_admin,
            created_at: api_time(user.created_at),
            last_login_at: Some(api_time(now)),
        },
        expires_at: api_time(expires_at),
    };
    Ok((token, response))
}
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses(
        (status = 200, description = "The session is deleted and the cookie cleared", body = LogoutResponse),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`cross_site_request`", body = ErrorBody),
    ))]
pub async fn logout(
    req: HttpRequest,
    user: AuthenticatedUser,
    db: web::Data<Db>,
    state: web::Data<AuthState>,
) -> Result<HttpResponse, ApiError> {
    if let Credential::Session(id) = user.credential {
        detached(async move { Ok(sessions::delete(&db, id).await?) }).await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header((
            header::SET_COOKIE,
            session_cookie("", 0, secure(&req, &state)),
        ))
        .json(LogoutResponse {
            status: "logged_out".into(),
        }))
}

#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses(
        (status = 200, description = "The signed-in user", body = UserView),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
    ))]
pub async fn me(user: AuthenticatedUser) -> web::Json<UserView> {
    web::Json(UserView {
        id: user.id,
        username: user.username,
        is_admin: user.is_admin,
        created_at: api_time(user.created_at),
        last_login_at: user.last_login_at.map(api_time),
    })
}

fn secure(req: &HttpRequest, state: &AuthState) -> bool {
    state.cookie_secure || req.connection_info().scheme() == "https"
}

fn session_cookie(value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cookie_has_every_protective_attribute() {
        let cookie = super::session_cookie("abc", 60, true);
        assert_eq!(
            cookie,
            "hookbox_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=60; Secure"
        );
        assert!(!super::session_cookie("abc", 60, false).contains("Secure"));
    }
}
