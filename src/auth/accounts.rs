//! Account operations shared by the CLI and startup: adding users, changing passwords, the
//! first admin, API tokens.

use chrono::Utc;

use super::error::ApiError;
use super::password::{self, Password};
use super::session::Token;
use crate::store::sessions::{self, NewApiToken, Revoked};
use crate::store::users::{self, Created, NewUser};
use crate::store::Db;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("a user named {0:?} already exists")]
    NameTaken(String),
    #[error("no user named {0:?}")]
    UnknownUser(String),
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("invalid token name {0:?}: use 1-64 characters, not only digits (`token revoke` takes an id or a name)")]
    InvalidTokenName(String),
    #[error("{0:?} is disabled: its tokens would be refused")]
    Disabled(String),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn parse_username(raw: &str) -> Result<&str, AccountError> {
    let valid = (1..=64).contains(&raw.chars().count())
        && raw
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(raw)
    } else {
        Err(AccountError::InvalidUsername(
            "use 1-64 letters, digits, '.', '_', '-' or '@'".into(),
        ))
    }
}

pub async fn add_user(
    db: &Db,
    username: &str,
    password: Password,
    is_admin: bool,
) -> Result<i64, AccountError> {
    let username = parse_username(username)?;
    let hash = password::hash(password).await?;
    let now = Utc::now().naive_utc();
    let created = users::create(
        db,
        &NewUser {
            username,
            password_hash: &hash,
            is_admin,
            is_disabled: false,
            created_at: now,
            password_changed_at: now,
        },
    )
    .await?;
    match created {
        Created::Created(id) => Ok(id),
        Created::NameTaken => Err(AccountError::NameTaken(username.to_owned())),
    }
}

/// Sets the password and ends every session of the user.
pub async fn change_password(
    db: &Db,
    username: &str,
    password: Password,
) -> Result<(), AccountError> {
    let hash = password::hash(password).await?;
    let now = Utc::now().naive_utc();
    if users::set_password(db, username, &hash, now).await? {
        Ok(())
    } else {
        Err(AccountError::UnknownUser(username.to_owned()))
    }
}

pub async fn disable_user(db: &Db, username: &str) -> Result<(), AccountError> {
    if users::disable(db, username).await? {
        Ok(())
    } else {
        Err(AccountError::UnknownUser(username.to_owned()))
    }
}

/// A token's name: 1–64 characters without control characters, and not only digits, which
/// `token revoke` would read as an id.
fn parse_token_name(raw: &str) -> Result<&str, AccountError> {
    let valid = (1..=64).contains(&raw.chars().count())
        && !raw.chars().any(char::is_control)
        && !raw.bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(raw)
    } else {
        Err(AccountError::InvalidTokenName(raw.to_owned()))
    }
}

/// Creates an API token for `username`; the token is returned once and stored only hashed.
pub async fn create_token(
    db: &Db,
    username: &str,
    name: &str,
) -> Result<(i64, Token), AccountError> {
    let name = parse_token_name(name)?;
    let user = users::find_by_name(db, username)
        .await?
        .ok_or_else(|| AccountError::UnknownUser(username.to_owned()))?;
    if user.is_disabled {
        return Err(AccountError::Disabled(username.to_owned()));
    }
    let token = Token::generate_api();
    let id = sessions::create_token(
        db,
        &NewApiToken {
            token_hash: &token.hash(),
            user_id: user.id,
            name,
            created_at: Utc::now().naive_utc(),
        },
    )
    .await?;
    Ok((id, token))
}

/// Revokes the tokens with this id or name; returns how many.
pub async fn revoke_token(
    db: &Db,
    id_or_name: &str,
    owner: Option<&str>,
) -> Result<Revoked, AccountError> {
    Ok(sessions::revoke_tokens(db, id_or_name, owner, Utc::now().naive_utc()).await?)
}

/// What `ensure_first_admin` did.
pub enum FirstAdmin {
    /// Users exist already.
    NotNeeded,
    /// Created `admin` with the configured password.
    CreatedWithConfigured,
    /// Created `admin` with this generated password (to be shown once).
    CreatedWithGenerated(Password),
}

/// With no users at all, creates `admin` (password configured, or generated and returned).
pub async fn ensure_first_admin(
    db: &Db,
    configured: Option<Password>,
) -> Result<FirstAdmin, AccountError> {
    if users::any_exists(db).await? {
        return Ok(FirstAdmin::NotNeeded);
    }
    let (password, generated) = match configured {
        Some(password) => (password, false),
        None => (Password::generate(), true),
    };
    match add_user(db, "admin", password.clone(), true).await {
        // Another instance created it at the same moment.
        Err(AccountError::NameTaken(_)) => Ok(FirstAdmin::NotNeeded),
        Err(other) => Err(other),
        Ok(_) if generated => Ok(FirstAdmin::CreatedWithGenerated(password)),
        Ok(_) => Ok(FirstAdmin::CreatedWithConfigured),
    }
}
