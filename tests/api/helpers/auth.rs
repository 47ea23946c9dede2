//! Signing in, users and tokens for tests: typed helpers over the real HTTP API and the
//! account functions the CLI uses.

use hookbox::auth::accounts;
use hookbox::auth::password::Password;
use serde_json::Value;

use super::{json_with_status, TestApp, ADMIN_PASSWORD};

/// A credential a request can carry.
#[derive(Clone, Debug)]
pub enum Cred {
    None,
    Cookie(String),
    Bearer(String),
}

impl Cred {
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Cred::None => request,
            Cred::Cookie(token) => request.header("cookie", format!("hookbox_session={token}")),
            Cred::Bearer(token) => request.bearer_auth(token),
        }
    }
}

impl TestApp {
    /// Logs in and returns the session token from `Set-Cookie`.
    pub async fn login(&self, username: &str, password: &str) -> Cred {
        let response = self.post_login(username, password).await;
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        json_with_status(response, 200).await;
        let cookie = cookie.expect("login sets a cookie");
        let token = cookie
            .strip_prefix("hookbox_session=")
            .and_then(|rest| rest.split(';').next())
            .expect("cookie is hookbox_session");
        Cred::Cookie(token.to_owned())
    }

    pub async fn login_admin(&self) -> Cred {
        self.login("admin", ADMIN_PASSWORD).await
    }

    pub async fn post_login(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("request reaches the server")
    }

    /// Adds a user through the same function as `hookbox user add`.
    pub async fn add_user(&self, username: &str, password: &str, admin: bool) -> i64 {
        accounts::add_user(
            &self.db,
            username,
            Password::parse(password.into()).unwrap(),
            admin,
        )
        .await
        .expect("user added")
    }

    pub async fn get_as(&self, cred: &Cred, path: &str) -> reqwest::Response {
        cred.apply(self.client.get(self.url(path)))
            .send()
            .await
            .expect("request reaches the server")
    }

    pub async fn post_as(&self, cred: &Cred, path: &str, body: Value) -> reqwest::Response {
        cred.apply(self.client.post(self.url(path)).json(&body))
            .send()
            .await
            .expect("request reaches the server")
    }

    /// `GET` expecting 200, returning the JSON.
    pub async fn get_json(&self, cred: &Cred, path: &str) -> Value {
        json_with_status(self.get_as(cred, path).await, 200).await
    }

    /// Posts `count` signed callbacks for distinct jobs and returns their ids.
    pub async fn post_many(&self, prefix: &str, count: usize) -> Vec<i64> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let body = super::callback_body(&format!("{prefix}-{i}"), "workflow.completed");
            let json = json_with_status(self.post_signed(&body).await, 200).await;
            ids.push(json["id"].as_i64().unwrap());
        }
        ids
    }
}
