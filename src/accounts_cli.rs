//! `hookbox user …` and `hookbox token …`: account management straight on the database.

use std::io::{BufRead, IsTerminal};

use crate::auth::accounts;
use crate::auth::password::Password;
use crate::cli::CliError;
use crate::config::{DatabaseArgs, TokenCommand, UserCommand};
use crate::store::sessions::Revoked;
use crate::store::{migrate, users, Db};

async fn open(database: &DatabaseArgs) -> Result<Db, CliError> {
    let url = database.url()?;
    migrate::run_pending(&url).await?;
    Ok(Db::connect(&url, &database.pool())?)
}

pub async fn user(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
            database,
        } => {
            let db = open(&database).await?;
            let password = read_password(password_stdin)?;
            let id = accounts::add_user(&db, &name, password, admin).await?;
            println!(
                "added user {name} (id {id}{})",
                if admin { ", admin" } else { "" }
            );
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            database,
        } => {
            let db = open(&database).await?;
            let password = read_password(password_stdin)?;
            accounts::change_password(&db, &name, password).await?;
            println!(
                "password of {name} changed; their sessions have ended \
                 (their API tokens still work: hookbox token revoke)"
            );
        }
        UserCommand::List { database } => {
            let db = open(&database).await?;
            println!(
                "{:<6} {:<24} {:<6} {:<9} last login",
                "id", "username", "admin", "disabled"
            );
            for user in users::list(&db).await? {
                println!(
                    "{:<6} {:<24} {:<6} {:<9} {}",
                    user.id,
                    user.username,
                    user.is_admin,
                    user.is_disabled,
                    user.last_login_at
                        .map_or_else(|| "never".to_owned(), crate::auth::api_time)
                );
            }
        }
        UserCommand::Disable { name, database } => {
            let db = open(&database).await?;
            accounts::disable_user(&db, &name).await?;
            println!("disabled {name}; their sessions have ended");
        }
    }
    Ok(())
}

pub async fn token(command: TokenCommand) -> Result<(), CliError> {
    match command {
        TokenCommand::Create {
            user,
            name,
            database,
        } => {
            let db = open(&database).await?;
            let (id, token) = accounts::create_token(&db, &user, &name).await?;
            eprintln!("token {id} ({name}) for {user}; it is shown only this once:");
            println!("{}", token.expose());
        }
        TokenCommand::Revoke {
            id_or_name,
            user,
            database,
        } => {
            let db = open(&database).await?;
            match accounts::revoke_token(&db, &id_or_name, user.as_deref()).await? {
                Revoked::Tokens(0) => {
                    let whose = user.map(|u| format!(" of {u}")).unwrap_or_default();
                    return Err(
                        format!("no live token{whose} with id or name {id_or_name:?}").into(),
                    );
                }
                Revoked::Tokens(n) => println!("revoked {n} token(s)"),
                Revoked::OfSeveralUsers(users) => {
                    return Err(format!(
                        "live tokens of {} are named {id_or_name:?}; nothing was revoked: \
                         name the user (--user) or give the token's id",
                        users.join(", ")
                    )
                    .into())
                }
            }
        }
    }
    Ok(())
}

/// From stdin's first line (`--password-stdin` or stdin not a terminal), else prompted twice.
fn read_password(from_stdin: bool) -> Result<Password, CliError> {
    let raw = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat: ")?;
        if first != second {
            return Err("the passwords differ".into());
        }
        first
    };
    Ok(Password::parse(raw)?)
}
