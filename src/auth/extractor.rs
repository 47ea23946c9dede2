//! The signed-in user, derived only from the session cookie or a bearer token: handlers take
//! `AuthenticatedUser` or `AdminUser` and never read a user id from the request.

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{NaiveDateTime, Utc};

use super::error::{detached, ApiError};
use super::session::{SessionState, SessionTimes, Token};
use super::AuthState;
use crate::store::sessions::{
    self, CredentialKey, CredentialKind, FoundCredential, WithCredential,
};
use crate::store::users::User;
use crate::store::Db;

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
            let key = presented.ok_or(ApiError::Unauthenticated)?;
            detached(async move { authenticate(&db, &state, &key).await }).await
        })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let user = AuthenticatedUser::from_request(req, payload);
        Box::pin(async move { admin(user.await?) })
    }
}

fn admin(user: AuthenticatedUser) -> Result<AdminUser, ApiError> {
    if user.is_admin {
        Ok(AdminUser(user))
    } else {
        Err(ApiError::Forbidden)
    }
}

/// An admin's credential, for a read that needs only the user's id (the dashboard's poll,
/// history, a callback's detail).
/// Nothing is checked on extraction; [`AdminReader::read`] judges the credential exactly as
/// [`AdminUser`] does, and returns the read's answer only when it passes. On Postgres, when the
/// credential authenticated an admin here before ([`KnownAdmins`]), its lookup is pipelined
/// with the read's statements on the read's connection instead of taking a round trip first.
///
/// [`KnownAdmins`]: super::known_admins::KnownAdmins
pub struct AdminReader {
    key: CredentialKey,
    db: web::Data<Db>,
    state: web::Data<AuthState>,
}

impl FromRequest for AdminReader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let db = req.app_data::<web::Data<Db>>().cloned();
        let state = req.app_data::<web::Data<AuthState>>().cloned();
        ready(match (db, state) {
            (Some(db), Some(state)) => presented_token(req)
                .map(|key| AdminReader { key, db, state })
                .ok_or(ApiError::Unauthenticated),
            _ => Err(ApiError::Internal("auth state is not configured".into())),
        })
    }
}

impl AdminReader {
    /// Runs `read` for the admin's id and returns its answer, or the refusal. `read` gets the
    /// credential's key when it is to look the credential up along with its own statements
    /// (and return what it found); a refusal always wins over the read's own answer or error.
    pub async fn read<T, F, Fut>(self, read: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(i64, Option<CredentialKey>) -> Fut,
        Fut: Future<Output = Result<WithCredential<T>, ApiError>> + Send + 'static,
    {
        let AdminReader { key, db, state } = self;
        // Only Postgres pipelines; SQLite, in process, has no round trip to save.
        let pipelines = matches!(**db, Db::Postgres { .. });
        let known = pipelines
            .then(|| state.known_admins.user_of(&key.token_hash))
            .flatten();
        let Some((user_id, kind)) = known else {
            let admin = judge_admin(&db, &state, &key, None).await?;
            if pipelines {
                let kind = match admin.credential {
                    Credential::ApiToken(_) => CredentialKind::ApiToken,
                    Credential::Session(_) => CredentialKind::Session,
                };
                state.known_admins.remember(&key.token_hash, admin.id, kind);
            }
            return Ok(detached(read(admin.id, None)).await?.value);
        };
        // Only where the credential was found before: a token never becomes a session's.
        let lookup = CredentialKey {
            token_hash: key.token_hash.clone(),
            kind,
        };
        let (admin, answer) = match detached(read(user_id, Some(lookup))).await {
            Ok(WithCredential {
                value,
                credential: Some(found),
            }) => (
                judge_admin(&db, &state, &key, Some(found)).await?,
                Ok(value),
            ),
            // The read failed before its lookup came back (a bad cursor, a database error):
            // the credential is judged on its own first, so its refusal still wins.
            answer => (
                judge_admin(&db, &state, &key, None).await?,
                answer.map(|read| read.value),
            ),
        };
        if admin.id != user_id {
            // Cannot happen (a credential never changes owner); the answer was read for
            // someone else, so it is dropped.
            state.known_admins.forget(&key.token_hash);
            return Err(ApiError::Internal(
                "a credential's remembered user was not its user".into(),
            ));
        }
        answer
    }
}

/// Judges a credential (looking it up unless `found`), forgets it when refused, and returns
/// the admin it belongs to.
async fn judge_admin(
    db: &web::Data<Db>,
    state: &web::Data<AuthState>,
    key: &CredentialKey,
    found: Option<FoundCredential>,
) -> Result<AuthenticatedUser, ApiError> {
    let (db, detached_state, key_for_task) = (db.clone(), state.clone(), key.clone());
    let judged = detached(async move {
        let found = match found {
            Some(found) => found,
            None => sessions::lookup(&db, &key_for_task).await?,
        };
        admin(settle(&db, &detached_state, found).await?)
    })
    .await;
    judged.map(|admin| admin.0).inspect_err(|_| {
        state.known_admins.forget(&key.token_hash);
    })
}

/// The bearer token if there is an `Authorization: Bearer` header, else the session cookie.
/// A header of another scheme is not Hookbox's (a proxy's own `Basic` sign-in, passed along
/// with every request) and leaves the cookie to decide.
fn presented_token(req: &HttpRequest) -> Option<CredentialKey> {
    let key = |token: Token, kind| CredentialKey {
        token_hash: token.hash(),
        kind,
    };
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    if let Some((_, token)) = bearer {
        return Token::parse(token).map(|t| key(t, CredentialKind::ApiTokenOrSession));
    }
    session_cookie(req).map(|t| key(t, CredentialKind::Session))
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
    key: &CredentialKey,
) -> Result<AuthenticatedUser, ApiError> {
    let found = sessions::lookup(db, key).await?;
    settle(db, state, found).await
}

/// Judges what a credential's lookup found, and does the writes that follow: a token's or a
/// session's use recorded, an expired session deleted.
async fn settle(
    db: &Db,
    state: &AuthState,
    found: FoundCredential,
) -> Result<AuthenticatedUser, ApiError> {
    let now = Utc::now().naive_utc();
    if let Some(found) = found.token {
        if found.user.is_disabled {
            return Err(ApiError::Unauthenticated);
        }
        if token_use_is_stale(found.last_used_at, now) {
            sessions::touch_token(db, found.id, now).await?;
        }
        return Ok(from_user(found.user, Credential::ApiToken(found.id)));
    }
    let session = found.session.ok_or(ApiError::Unauthenticated)?;
    if session.user.is_disabled {
        return Err(ApiError::Unauthenticated);
    }
    let times = SessionTimes {
        created_at: session.created_at,
        last_seen_at: session.last_seen_at,
        expires_at: session.expires_at,
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
