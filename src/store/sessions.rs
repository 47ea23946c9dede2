//! Server-side sessions and API tokens, both found by the SHA-256 of the presented token.

use chrono::NaiveDateTime;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, Insertable, JoinOnDsl, OptionalExtension, QueryDsl,
    SelectableHelper,
};
use diesel_async::RunQueryDsl;

use super::schema::{api_tokens, sessions, users};
use super::users::User;
use super::{with_conn, Db, StoreError};

#[derive(Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// A stored session with its user.
pub struct SessionRow {
    pub id: i64,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub user: User,
}

pub async fn create(db: &Db, session: &NewSession<'_>) -> Result<(), StoreError> {
    with_conn!(db, write, |conn| {
        diesel::insert_into(sessions::table)
            .values(session)
            .execute(conn)
            .await?;
        Ok(())
    })
}

pub async fn find(db: &Db, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
    let row: Option<((i64, NaiveDateTime, NaiveDateTime, NaiveDateTime), User)> =
        with_conn!(db, read, |conn| {
            sessions::table
                .inner_join(users::table)
                .filter(sessions::token_hash.eq(token_hash))
                .select((
                    (
                        sessions::id,
                        sessions::created_at,
                        sessions::last_seen_at,
                        sessions::expires_at,
                    ),
                    User::as_select(),
                ))
                .first(conn)
                .await
                .optional()
        })?;
    Ok(row.map(
        |((id, created_at, last_seen_at, expires_at), user)| SessionRow {
            id,
            created_at,
            last_seen_at,
            expires_at,
            user,
        },
    ))
}

pub async fn touch(db: &Db, id: i64, at: NaiveDateTime) -> Result<(), StoreError> {
    with_conn!(db, write, |conn| {
        diesel::update(sessions::table.find(id))
            .set(sessions::last_seen_at.eq(at))
            .execute(conn)
            .await?;
        Ok(())
    })
}

pub async fn delete(db: &Db, id: i64) -> Result<(), StoreError> {
    with_conn!(db, write, |conn| {
        diesel::delete(sessions::table.find(id))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Removes expired sessions (called at login, so the table cannot grow without bound).
pub async fn delete_expired(db: &Db, now: NaiveDateTime) -> Result<(), StoreError> {
    with_conn!(db, write, |conn| {
        diesel::delete(sessions::table.filter(sessions::expires_at.le(now)))
            .execute(conn)
            .await?;
        Ok(())
    })
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewApiToken<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub name: &'a str,
    pub created_at: NaiveDateTime,
}

pub async fn create_token(db: &Db, token: &NewApiToken<'_>) -> Result<i64, StoreError> {
    with_conn!(db, write, |conn| {
        Ok(diesel::insert_into(api_tokens::table)
            .values(token)
            .returning(api_tokens::id)
            .get_result(conn)
            .await?)
    })
}

/// A live API token and its user.
pub struct FoundToken {
    pub id: i64,
    pub last_used_at: Option<NaiveDateTime>,
    pub user: User,
}

/// The user of a token that is not revoked, with the token's id and last use.
pub async fn find_token(db: &Db, token_hash: &str) -> Result<Option<FoundToken>, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(api_tokens::table
            .inner_join(users::table.on(users::id.eq(api_tokens::user_id)))
            .filter(api_tokens::token_hash.eq(token_hash))
            .filter(api_tokens::revoked_at.is_null())
            .select((api_tokens::id, api_tokens::last_used_at, User::as_select()))
            .first(conn)
            .await
            .optional()?
            .map(|(id, last_used_at, user)| FoundToken {
                id,
                last_used_at,
                user,
            }))
    })
}

pub async fn touch_token(db: &Db, id: i64, at: NaiveDateTime) -> Result<(), StoreError> {
    with_conn!(db, write, |conn| {
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::last_used_at.eq(at))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Revokes the live tokens whose id (when `key` is a number) or name is `key`; returns how many.
pub async fn revoke_tokens(db: &Db, key: &str, at: NaiveDateTime) -> Result<usize, StoreError> {
    let id: i64 = key.parse().unwrap_or(-1);
    with_conn!(db, write, |conn| {
        Ok(diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(id).or(api_tokens::name.eq(key)))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(at))
        .execute(conn)
        .await?)
    })
}

/// Sessions not past their absolute expiry (for the metrics gauge).
pub async fn count_unexpired(db: &Db, now: NaiveDateTime) -> Result<i64, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(sessions::table
            .filter(sessions::expires_at.gt(now))
            .count()
            .get_result(conn)
            .await?)
    })
}
