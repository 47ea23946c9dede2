//! The signed-in user, derived only from the session cookie or a bearer token: handlers take
//! `AuthenticatedUser` or `AdminUser` and never read a user id from the request.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{NaiveDateTime, Utc};

use super::error::{detached, ApiError};
use super::session::{SessionState, SessionTimes, Token};
use super::AuthState;
use crate::store::users::User;
use crate::store::{sessions, Db};

pub const SESSION_COOKIE: &str = "hookbox_session";

/// How the request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    Session(i64),
    ApiToken(i64),
}

#[derive(Clone, Debug)]
pub struct AuthenticatedUser {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub credential: Credential,
}

/// An authenticated user who is an admin (403 `forbidden` otherwise).
#[derive(Clone, Debug)]
pub struct AdminUser(pub AuthenticatedUser);

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let presented = presented_token(req);
        let db = req.app_data::<web::Data<Db>>().cloned();
        let state = req.app_data::<web::Data<AuthState>>().cloned();
        Box::pin(async move {
            let (Some(db), Some(state)) = (db, state) else {
                return Err(ApiError::Internal("auth state is not configured".into()));
            };
            let (token, bearer) = presented.ok_or(ApiError::Unauthenticated)?;
            detached(async move { authenticate(&db, &state, &token, bearer).await }).await
        })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let user = AuthenticatedUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.is_admin {
                Ok(AdminUser(user))
            } else {
                Err(ApiError::Forbidden)
            }
        })
    }
}

/// The bearer token if there is an `Authorization` header, else the session cookie.
/// The flag says whether it came as a bearer token.
fn presented_token(req: &HttpRequest) -> Option<(Token, bool)> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        return Token::parse(token).map(|t| (t, true));
    }
    session_cookie(req).map(|t| (t, false))
}

pub fn session_cookie(req: &HttpRequest) -> Option<Token> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .and_then(|(_, value)| Token::parse(value))
}

async fn authenticate(
    db: &Db,
    state: &AuthState,
    token: &Token,
    bearer: bool,
) -> Result<AuthenticatedUser, ApiError> {
    let hash = token.hash();
    let now = Utc::now().naive_utc();
    if bearer {
        if let Some(found) = sessions::find_token(db, &hash).await? {
            if found.user.is_disabled {
                return Err(ApiError::Unauthenticated);
            }
            if token_use_is_stale(found.last_used_at, now) {
                sessions::touch_token(db, found.id, now).await?;
            }
            return Ok(from_user(found.user, Credential::ApiToken(found.id)));
        }
    }
    let session = sessions::find(db, &hash)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if session.user.is_disabled {
        return Err(ApiError::Unauthenticated);
    }
    let times = SessionTimes {
        created_at: session.created_at,
        last_seen_at: session.last_seen_at,
        expires_at: session.expires_at,
        password_changed_at: session.user.password_changed_at,
    };
    match state.policy.judge(&times, now) {
        SessionState::Expired => {
            sessions::delete(db, session.id).await?;
            Err(ApiError::Unauthenticated)
        }
        SessionState::Valid { touch } => {
            if touch {
                sessions::touch(db, session.id, now).await?;
            }
            Ok(from_user(session.user, Credential::Session(session.id)))
        }
    }
}

/// A script polling with a token every few seconds must not turn each read into a durable
/// write: `last_used_at` is only refreshed once it is a minute old.
const TOKEN_TOUCH_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

fn token_use_is_stale(last_used_at: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    last_used_at.is_none_or(|last| now - last >= TOKEN_TOUCH_INTERVAL)
}

fn from_user(user: User, credential: Credential) -> AuthenticatedUser {
    AuthenticatedUser {
        id: user.id,
        username: user.username,
        is_admin: user.is_admin,
        created_at: user.created_at,
        last_login_at: user.last_login_at,
        credential,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_token_is_touched_when_never_used_or_a_minute_after_its_last_use() {
        let now = Utc::now().naive_utc();
        assert!(token_use_is_stale(None, now));
        assert!(!token_use_is_stale(Some(now), now));
        assert!(!token_use_is_stale(Some(now - TimeDelta::seconds(59)), now));
        assert!(token_use_is_stale(Some(now - TimeDelta::seconds(60)), now));
    }
}
