//! Server-side sessions and API tokens, both found by the SHA-256 of the presented token.

use std::future::Future;

use chrono::NaiveDateTime;
use diesel::QueryResult;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, Insertable, JoinOnDsl, OptionalExtension, QueryDsl,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join;

use super::schema::{api_tokens, sessions, users};
use super::users::User;
use super::{with_conn, Db, StoreError};

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

/// Stores the session if its user still has the password `verified_hash` and is not disabled;
/// returns whether it was stored. A login checks the password tens of milliseconds before it
/// gets here, and a password change or a disable that commits in between deletes only the
/// sessions that exist by then: stored unconditionally, this one would outlive the change.
/// On Postgres the user's row is locked for the insert, so a change under way is waited for
/// and then seen, or waits for the insert and then deletes the session with the others; on
/// SQLite the statement holds the one write lock.
pub async fn create(
    db: &Db,
    session: &NewSession<'_>,
    verified_hash: &str,
) -> Result<bool, StoreError> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let lock = match db {
        Db::Postgres { .. } => " FOR SHARE",
        Db::Sqlite { .. } => "",
    };
    // SQLite numbers `$N` parameters by their first appearance, so they appear in bind order.
    let insert = format!(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) \
         SELECT $1, id, $2, $3, $4 FROM users \
         WHERE id = $5 AND password_hash = $6 AND NOT is_disabled{lock}"
    );
    let stored = with_conn!(db, write, |conn| {
        diesel::sql_query(&insert)
            .bind::<Text, _>(session.token_hash)
            .bind::<Timestamp, _>(session.created_at)
            .bind::<Timestamp, _>(session.last_seen_at)
            .bind::<Timestamp, _>(session.expires_at)
            .bind::<BigInt, _>(session.user_id)
            .bind::<Text, _>(verified_hash)
            .execute(conn)
            .await
    })?;
    Ok(stored == 1)
}

/// The session whose token hashes to `$hash`, with its user, as a query.
macro_rules! session_by_hash {
    ($hash:expr) => {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::token_hash.eq($hash))
            .select((
                (
                    sessions::id,
                    sessions::created_at,
                    sessions::last_seen_at,
                    sessions::expires_at,
                ),
                User::as_select(),
            ))
    };
}

type SessionFields = ((i64, NaiveDateTime, NaiveDateTime, NaiveDateTime), User);

fn session_row(((id, created_at, last_seen_at, expires_at), user): SessionFields) -> SessionRow {
    SessionRow {
        id,
        created_at,
        last_seen_at,
        expires_at,
        user,
    }
}

async fn find(db: &Db, token_hash: &str) -> Result<Option<SessionRow>, StoreError> {
    let row: Option<SessionFields> = with_conn!(db, read, |conn| {
        session_by_hash!(token_hash).first(conn).await.optional()
    })?;
    Ok(row.map(session_row))
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

/// The live API token whose hash is `$hash`, with its user, as a query.
macro_rules! token_by_hash {
    ($hash:expr) => {
        api_tokens::table
            .inner_join(users::table.on(users::id.eq(api_tokens::user_id)))
            .filter(api_tokens::token_hash.eq($hash))
            .filter(api_tokens::revoked_at.is_null())
            .select((api_tokens::id, api_tokens::last_used_at, User::as_select()))
    };
}

type TokenFields = (i64, Option<NaiveDateTime>, User);

fn found_token((id, last_used_at, user): TokenFields) -> FoundToken {
    FoundToken {
        id,
        last_used_at,
        user,
    }
}

/// The user of a token that is not revoked, with the token's id and last use.
pub async fn find_token(db: &Db, token_hash: &str) -> Result<Option<FoundToken>, StoreError> {
    let row: Option<TokenFields> = with_conn!(db, read, |conn| {
        token_by_hash!(token_hash).first(conn).await.optional()
    })?;
    Ok(row.map(found_token))
}

/// A presented credential: the hash of its token and where it may be found.
#[derive(Clone, Debug)]
pub struct CredentialKey {
    pub token_hash: String,
    pub kind: CredentialKind,
}

/// Where a credential's token may be found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A cookie, or a credential known to be a session's token.
    Session,
    /// A bearer token: an API token or a session's token.
    ApiTokenOrSession,
    /// A credential known to be an API token.
    ApiToken,
}

impl CredentialKind {
    fn may_be_api_token(self) -> bool {
        self != CredentialKind::Session
    }

    fn may_be_session(self) -> bool {
        self != CredentialKind::ApiToken
    }
}

/// What a credential's lookup found: the live API token and the session.
pub struct FoundCredential {
    pub token: Option<FoundToken>,
    pub session: Option<SessionRow>,
}

/// A read's answer and, when the credential's lookup travelled with it, what that found.
pub struct WithCredential<T> {
    pub value: T,
    pub credential: Option<FoundCredential>,
}

impl<T> WithCredential<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> WithCredential<U> {
        WithCredential {
            value: f(self.value),
            credential: self.credential,
        }
    }
}

/// Looks a credential up, the API token first: the session only when no token matched.
pub async fn lookup(db: &Db, key: &CredentialKey) -> Result<FoundCredential, StoreError> {
    if key.kind.may_be_api_token() {
        if let Some(token) = find_token(db, &key.token_hash).await? {
            return Ok(FoundCredential {
                token: Some(token),
                session: None,
            });
        }
    }
    let session = match key.kind.may_be_session() {
        true => find(db, &key.token_hash).await?,
        false => None,
    };
    Ok(FoundCredential {
        token: None,
        session,
    })
}

/// Looks a credential up on `conn` as a statement of a pipeline (both kinds at once when it may
/// be either), so that it costs no round trip of its own: see `AdminReader`.
/// Nothing without a key.
pub(crate) async fn lookup_pipelined(
    conn: &AsyncPgConnection,
    key: Option<&CredentialKey>,
) -> QueryResult<Option<FoundCredential>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let (mut for_token, mut for_session) = (conn, conn);
    let token = read_if(key.kind.may_be_api_token(), async {
        token_by_hash!(&key.token_hash)
            .first::<TokenFields>(&mut for_token)
            .await
            .optional()
    });
    let session = read_if(key.kind.may_be_session(), async {
        session_by_hash!(&key.token_hash)
            .first::<SessionFields>(&mut for_session)
            .await
            .optional()
    });
    let (token, session) = try_join(token, session).await?;
    Ok(Some(FoundCredential {
        token: token.map(found_token),
        session: session.map(session_row),
    }))
}

/// `read`'s answer when `wanted`, else nothing; `read` is not polled, so it sends nothing.
async fn read_if<T>(
    wanted: bool,
    read: impl Future<Output = QueryResult<Option<T>>>,
) -> QueryResult<Option<T>> {
    if wanted {
        read.await
    } else {
        Ok(None)
    }
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

/// What `revoke_tokens` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    /// This many live tokens were revoked.
    Tokens(usize),
    /// Nothing was revoked: the name is that of live tokens of several users (named here), and
    /// no owner was given.
    OfSeveralUsers(Vec<String>),
}

/// Revokes the live tokens whose id (when `key` is a number) or name is `key`, of `owner` when
/// given. A name many users' tokens share (every token made without `--name` is `cli`) revokes
/// nothing without an owner.
pub async fn revoke_tokens(
    db: &Db,
    key: &str,
    owner: Option<&str>,
    at: NaiveDateTime,
) -> Result<Revoked, StoreError> {
    let id: i64 = key.parse().unwrap_or(-1);
    with_conn!(db, write, |conn| {
        let mut matching = api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::id.eq(id).or(api_tokens::name.eq(key)))
            .filter(api_tokens::revoked_at.is_null())
            .select((api_tokens::id, users::username))
            .into_boxed();
        if let Some(owner) = owner {
            matching = matching.filter(users::username.eq(owner));
        }
        let matching: Vec<(i64, String)> = matching.load(conn).await?;
        let mut owners: Vec<String> = matching.iter().map(|(_, user)| user.clone()).collect();
        owners.sort_unstable();
        owners.dedup();
        if owner.is_none() && owners.len() > 1 {
            return Ok(Revoked::OfSeveralUsers(owners));
        }
        let ids: Vec<i64> = matching.into_iter().map(|(id, _)| id).collect();
        let revoked = diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq_any(ids))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(at))
        .execute(conn)
        .await?;
        Ok(Revoked::Tokens(revoked))
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
