//! Accounts. Passwords arrive here already hashed (see `auth::password`).

use chrono::NaiveDateTime;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::SelectableHelper;
use diesel::{ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{sessions, users};
use super::{with_conn, Db, StoreError};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub is_disabled: bool,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub password_changed_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    pub is_disabled: bool,
    pub created_at: NaiveDateTime,
    pub password_changed_at: NaiveDateTime,
}

/// Whether `create` stored the user or the name was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Created(i64),
    NameTaken,
}

pub async fn create(db: &Db, user: &NewUser<'_>) -> Result<Created, StoreError> {
    with_conn!(db, write, |conn| {
        let inserted = diesel::insert_into(users::table)
            .values(user)
            .returning(users::id)
            .get_result::<i64>(conn)
            .await;
        match inserted {
            Ok(id) => Ok(Created::Created(id)),
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Ok(Created::NameTaken)
            }
            Err(other) => Err(other.into()),
        }
    })
}

pub async fn find_by_name(db: &Db, username: &str) -> Result<Option<User>, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()?)
    })
}

pub async fn list(db: &Db) -> Result<Vec<User>, StoreError> {
    with_conn!(db, read, |conn| {
        Ok(users::table
            .order(users::id.asc())
            .select(User::as_select())
            .load(conn)
            .await?)
    })
}

pub async fn any_exists(db: &Db) -> Result<bool, StoreError> {
    with_conn!(db, read, |conn| {
        let first: Option<i64> = users::table
            .select(users::id)
            .first(conn)
            .await
            .optional()?;
        Ok(first.is_some())
    })
}

pub async fn record_login(db: &Db, user_id: i64, at: NaiveDateTime) -> Result<(), StoreError> {
    with_conn!(db, write, |conn| {
        diesel::update(users::table.find(user_id))
            .set(users::last_login_at.eq(at))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Sets a new password and ends every session of the user. Returns false for an unknown name.
pub async fn set_password(
    db: &Db,
    username: &str,
    password_hash: &str,
    at: NaiveDateTime,
) -> Result<bool, StoreError> {
    change_ending_sessions(db, username, Change::Password { password_hash, at }).await
}

/// Disables the user and ends every session. Returns false for an unknown name.
pub async fn disable(db: &Db, username: &str) -> Result<bool, StoreError> {
    change_ending_sessions(db, username, Change::Disable).await
}

/// A change to an account after which none of its sessions may live on.
enum Change<'a> {
    Password {
        password_hash: &'a str,
        at: NaiveDateTime,
    },
    Disable,
}

/// Applies `change` and deletes the user's sessions in one transaction, so that no session
/// survives a new password or a disabled account. Returns false for an unknown name.
async fn change_ending_sessions(
    db: &Db,
    username: &str,
    change: Change<'_>,
) -> Result<bool, StoreError> {
    with_conn!(db, write, |conn| {
        Ok(conn
            .transaction(async |conn| {
                let user = diesel::update(users::table.filter(users::username.eq(username)));
                let id: Option<i64> = match change {
                    Change::Password { password_hash, at } => user
                        .set((
                            users::password_hash.eq(password_hash),
                            users::password_changed_at.eq(at),
                        ))
                        .returning(users::id)
                        .get_result(conn)
                        .await
                        .optional()?,
                    Change::Disable => user
                        .set(users::is_disabled.eq(true))
                        .returning(users::id)
                        .get_result(conn)
                        .await
                        .optional()?,
                };
                let Some(id) = id else { return Ok(false) };
                diesel::delete(sessions::table.filter(sessions::user_id.eq(id)))
                    .execute(conn)
                    .await?;
                Ok::<_, DieselError>(true)
            })
            .await?)
    })
}
