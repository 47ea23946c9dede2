use std::fmt;
use std::path::PathBuf;

/// Where the data lives. The backend is chosen strictly by the URL scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unsupported database URL {shown}: use postgres://user:password@host:port/database \
     (or postgresql://...) for Postgres, or sqlite://path/to/file.db (or sqlite:path) for SQLite"
)]
pub struct InvalidDatabaseUrl {
    shown: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, InvalidDatabaseUrl> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .filter(|path| !path.is_empty() && !path.starts_with(":memory:"));
        match path {
            Some(path) => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
            None => Err(InvalidDatabaseUrl {
                shown: shown_when_refused(url),
            }),
        }
    }
}

/// Shown in logs and errors: never includes a Postgres password.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => f.write_str(&redact_password(url)),
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The password of a Postgres URL, in the credentials or as a `password=` parameter, as `***`.
/// The driver takes everything before the first `@` as credentials, so a password may hold `/`
/// or `?`; everything before the last `@` is taken for credentials here, which covers an
/// unescaped `@` in the password too (and at worst hides more than the password).
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let rest = match rest.rsplit_once('@') {
        Some((credentials, server)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{server}"),
            None => rest.to_owned(),
        },
        None => rest.to_owned(),
    };
    format!("{scheme}://{}", without_password_parameters(&rest))
}

/// A refused URL as the error shows it. Without a scheme there is no telling where a password
/// is (`user:secret@host/db` with the scheme forgotten, libpq's `host=db password=secret`), so
/// one that could hold credentials or parameters is not shown at all.
fn shown_when_refused(url: &str) -> String {
    let has_scheme = url.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    if has_scheme {
        format!("{:?}", redact_password(url))
    } else if url.contains(['@', '=']) {
        "(not shown: it may hold a password)".to_owned()
    } else {
        format!("{url:?}")
    }
}

/// Every `password=` parameter's value as `***`, wherever the parameters start.
fn without_password_parameters(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut pieces = text.split(['?', '&']);
    let mut at = 0;
    if let Some(first) = pieces.next() {
        kept.push_str(first);
        at = first.len();
    }
    for piece in pieces {
        // The separator this piece followed.
        kept.push_str(&text[at..at + 1]);
        at += 1 + piece.len();
        match piece.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                kept.push_str(key);
                kept.push_str("=***");
            }
            _ => kept.push_str(piece),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_of_both_spellings_pick_postgres() {
        for url in ["postgres://u@h/db", "postgresql://u:p@h:5432/db"] {
            assert!(matches!(
                DatabaseUrl::parse(url),
                Ok(DatabaseUrl::Postgres(_))
            ));
        }
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/hookbox.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("data/hookbox.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/hookbox.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/var/lib/hookbox.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("x.db")))
        );
    }

    #[test]
    fn other_schemes_and_in_memory_sqlite_are_refused_without_leaking_the_password() {
        for url in [
            "mysql://u:secret@h/db",
            "sqlite::memory:",
            "sqlite://",
            "data.db",
            "",
            "u:secret@h/db",
            "host=h user=u password=secret",
            "mysql://h/db?password=secret",
            "host=h password=se://cret",
        ] {
            let error = DatabaseUrl::parse(url).expect_err(url);
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        let error = DatabaseUrl::parse("data.db").expect_err("no scheme");
        assert!(error.to_string().contains(r#""data.db""#), "{error}");
    }

    #[test]
    fn display_hides_the_postgres_password() {
        for (url, shown) in [
            (
                "postgres://me:hunter2@db:5432/hookbox",
                "postgres://me:***@db:5432/hookbox",
            ),
            // The driver reads credentials up to the first `@`, `/` and `?` included.
            (
                "postgres://me:hun/ter2@db:5432/hookbox",
                "postgres://me:***@db:5432/hookbox",
            ),
            (
                "postgresql://me:hun?ter2@db/hookbox",
                "postgresql://me:***@db/hookbox",
            ),
            (
                "postgres://me:hun@ter2@db/hookbox",
                "postgres://me:***@db/hookbox",
            ),
            (
                "postgres://db/hookbox?user=me&password=hunter2&sslmode=require",
                "postgres://db/hookbox?user=me&password=***&sslmode=require",
            ),
            (
                "postgres://me:hunter2@db/hookbox?PASSWORD=hunter2",
                "postgres://me:***@db/hookbox?PASSWORD=***",
            ),
            ("postgres://me@db/hookbox", "postgres://me@db/hookbox"),
            (
                "postgres://db/hookbox?password=hunter2&options=a@b",
                "postgres://db/hookbox?password=***&options=a@b",
            ),
        ] {
            let url = DatabaseUrl::parse(url).expect("valid");
            assert_eq!(url.to_string(), shown);
            assert!(!format!("{url:?}").contains("hunter2"));
        }
    }
}
