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
    "unsupported database URL {shown:?}: use postgres://user:password@host:port/database \
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
                shown: redact_password(url),
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

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
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
        ] {
            let error = DatabaseUrl::parse(url).expect_err(url);
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn display_hides_the_postgres_password() {
        let url = DatabaseUrl::parse("postgres://me:hunter2@db:5432/hookbox").expect("valid");
        assert_eq!(url.to_string(), "postgres://me:***@db:5432/hookbox");
    }
}
