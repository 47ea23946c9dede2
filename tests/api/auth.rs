//! Sessions, tokens, throttling and the authorization matrix of every auth/admin endpoint.

use chrono::Utc;
use hookbox::auth::accounts;
use hookbox::auth::password::Password;
use hookbox::auth::session::Token;
use hookbox::auth::throttle::ThrottleSettings;
use hookbox::auth::AuthSettings;
use hookbox::store::sessions::{self, NewSession, Revoked};
use hookbox::store::users;
use serde_json::{json, Value};

use crate::helpers::auth::Cred;
use crate::helpers::*;

/// Every admin/auth endpoint except login, with a body for the POSTs.
fn endpoints(id: i64, cursor: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", "/api/auth/me".into(), None),
        ("GET", "/api/admin/llm-callbacks/check".into(), None),
        (
            "GET",
            "/api/admin/llm-callbacks?status=completed".into(),
            None,
        ),
        ("GET", format!("/api/admin/llm-callbacks/{id}"), None),
        ("GET", format!("/api/admin/llm-callbacks/{id}?raw=1"), None),
        ("GET", "/api/admin/jobs/matrix-0".into(), None),
        ("GET", "/api/admin/llm-callbacks/facets".into(), None),
        ("GET", "/api/admin/rejections".into(), None),
        (
            "POST",
            format!("/api/admin/llm-callbacks/{id}/view"),
            Some(json!({})),
        ),
        (
            "POST",
            "/api/admin/llm-callbacks/view-all".into(),
            Some(json!({ "up_to": cursor })),
        ),
        // Last: it ends the session it is called with.
        ("POST", "/api/auth/logout".into(), Some(json!({}))),
    ]
}

async fn call(
    app: &TestApp,
    cred: &Cred,
    method: &str,
    path: &str,
    body: &Option<Value>,
) -> reqwest::Response {
    match method {
        "GET" => app.get_as(cred, path).await,
        _ => {
            app.post_as(cred, path, body.clone().unwrap_or(json!({})))
                .await
        }
    }
}

/// An app whose login throttle locks a username after `per_username` failures and an address
/// after `per_ip`, within a minute.
async fn spawn_throttled(test_db: &TestDb, per_username: u32, per_ip: u32) -> TestApp {
    let mut options = AppOptions::default();
    options.auth = AuthSettings {
        throttle: ThrottleSettings {
            max_failures_per_username: per_username,
            max_failures_per_ip: per_ip,
            window: std::time::Duration::from_secs(60),
        },
        ..options.auth
    };
    TestApp::spawn_with(test_db, options).await
}

async fn assert_refused(response: reqwest::Response, status: u16, code: &str, what: &str) {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{what}: body {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: JSON body: {text}"));
    assert_eq!(
        body,
        json!({ "error": code }),
        "{what}: a refused body carries only the code"
    );
}

/// A session stored already past its absolute expiry.
async fn expired_session(app: &TestApp, username: &str) -> Cred {
    let user = users::find_by_name(&app.db, username)
        .await
        .unwrap()
        .expect("the user exists");
    let token = Token::generate_session();
    let past = Utc::now().naive_utc() - chrono::Duration::hours(1);
    let stored = sessions::create(
        &app.db,
        &NewSession {
            token_hash: &token.hash(),
            user_id: user.id,
            created_at: past - chrono::Duration::hours(1),
            last_seen_at: past,
            expires_at: past,
        },
        &user.password_hash,
    )
    .await
    .unwrap();
    assert!(stored);
    Cred::Cookie(token.expose().to_owned())
}

on_both_backends! {
    async fn every_endpoint_answers_each_kind_of_caller_correctly(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let id = app.post_many("matrix", 1).await[0];
        let cursor = hookbox::admin::cursor::Cursor::at(id).encode();
        app.add_user("viewer", "viewer-password", false).await;
        app.add_user("gone", "gone-password", true).await;
        let disabled = app.login("gone", "gone-password").await;
        accounts::disable_user(&app.db, "gone").await.unwrap();
        let expired = expired_session(&app, "viewer").await;
        let refused: Vec<(&str, Cred, u16, &str)> = vec![
            ("anonymous", Cred::None, 401, "unauthenticated"),
            ("bad cookie", Cred::Cookie(Token::generate_session().expose().into()), 401, "unauthenticated"),
            ("bad bearer", Cred::Bearer("hbx_nope".into()), 401, "unauthenticated"),
            ("expired session", expired, 401, "unauthenticated"),
            ("disabled user", disabled, 401, "unauthenticated"),
        ];
        for (who, cred, status, code) in &refused {
            for (method, path, body) in endpoints(id, &cursor) {
                let response = call(&app, cred, method, &path, &body).await;
                assert_refused(response, *status, code, &format!("{who} {method} {path}")).await;
            }
        }
        for (method, path, body) in endpoints(id, &cursor) {
            let viewer = app.login("viewer", "viewer-password").await;
            let response = call(&app, &viewer, method, &path, &body).await;
            if path.starts_with("/api/admin/") {
                assert_refused(response, 403, "forbidden", &format!("non-admin {method} {path}")).await;
            } else {
                assert_eq!(response.status(), 200, "non-admin {method} {path}");
            }
            let admin = app.login_admin().await;
            let response = call(&app, &admin, method, &path, &body).await;
            assert_eq!(response.status(), 200, "admin {method} {path}");
            if method == "POST" {
                let foreign = admin.apply(app.client.post(app.url(&path)).json(&body))
                    .header("origin", "https://evil.example")
                    .send().await.unwrap();
                assert_refused(foreign, 403, "cross_site_request", &format!("cross-site {path}")).await;
                let fetch = admin.apply(app.client.post(app.url(&path)).json(&body))
                    .header("sec-fetch-site", "cross-site")
                    .send().await.unwrap();
                assert_refused(fetch, 403, "cross_site_request", &format!("sec-fetch-site {path}")).await;
            }
        }
        let foreign_login = app.client.post(app.url("/api/auth/login"))
            .header("origin", "https://evil.example")
            .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD }))
            .send().await.unwrap();
        assert_refused(foreign_login, 403, "cross_site_request", "cross-site login").await;
    }

    async fn malformed_input_is_refused_only_to_a_caller_who_may_send_it(test_db) {
        // A query string or body that does not parse must not answer 400 before the credential
        // is judged: without a credential, the answer is 401 whatever the input.
        let app = TestApp::spawn(&test_db).await;
        let id = app.post_many("malformed", 1).await[0];
        let malformed: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", "/api/admin/llm-callbacks/check?limit=abc".into(), None),
            ("GET", "/api/admin/llm-callbacks?limit=abc".into(), None),
            ("GET", format!("/api/admin/llm-callbacks/{id}?raw=1&raw=0"), None),
            ("GET", format!("/api/admin/llm-callbacks/{id}?raw=yes"), None),
            ("GET", "/api/admin/rejections?limit=abc".into(), None),
            ("POST", "/api/admin/llm-callbacks/view-all".into(), Some(json!({ "up_to": 5 }))),
        ];
        app.add_user("viewer", "viewer-password", false).await;
        let viewer = app.login("viewer", "viewer-password").await;
        let admin = app.login_admin().await;
        // Seen authenticating an admin before, so that its lookup travels with the read.
        let leaving = app.login_admin().await;
        app.get_json(&leaving, "/api/admin/llm-callbacks/check").await;
        app.get_json(&leaving, &format!("/api/admin/llm-callbacks/{id}")).await;
        app.get_json(&leaving, "/api/admin/llm-callbacks").await;
        json_with_status(app.post_as(&leaving, "/api/auth/logout", json!({})).await, 200).await;
        let refused = [
            ("anonymous", Cred::None, 401, "unauthenticated"),
            ("bad bearer", Cred::Bearer("hbx_nope".into()), 401, "unauthenticated"),
            ("logged out", leaving, 401, "unauthenticated"),
            ("non-admin", viewer, 403, "forbidden"),
        ];
        for (who, cred, status, code) in &refused {
            for (method, path, body) in &malformed {
                let response = call(&app, cred, method, path, body).await;
                assert_refused(response, *status, code, &format!("{who} {method} {path}")).await;
            }
        }
        for (method, path, body) in &malformed {
            let answer = json_with_status(call(&app, &admin, method, path, body).await, 400).await;
            assert_eq!(answer["error"], "invalid_request", "admin {method} {path}: {answer}");
            assert!(answer["detail"].is_string(), "admin {method} {path}: {answer}");
        }
    }

    async fn login_sets_a_protective_cookie_and_me_shows_the_user(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let response = app.post_login("admin", ADMIN_PASSWORD).await;
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        let body = json_with_status(response, 200).await;
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
            assert!(cookie.contains(attribute), "cookie lacks {attribute}: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP without --cookie-secure: {cookie}");
        assert_eq!(body["user"]["username"], "admin");
        assert_eq!(body["user"]["is_admin"], true);
        assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
        let token = cookie.split(';').next().unwrap().strip_prefix("hookbox_session=").unwrap();
        let me = app.get_json(&Cred::Cookie(token.into()), "/api/auth/me").await;
        assert_eq!(me["username"], "admin");
        assert!(me["last_login_at"].is_string());
        assert_eq!(me.as_object().unwrap().len(), 5, "User has exactly the contract's fields: {me}");
    }

    async fn wrong_password_and_unknown_user_get_the_same_answer(test_db) {
        let app = TestApp::spawn(&test_db).await;
        app.add_user("off", "off-password", true).await;
        accounts::disable_user(&app.db, "off").await.unwrap();
        for (name, password) in [("admin", "wrong-password"), ("nobody", "whatever-pw"), ("off", "off-password")] {
            let response = app.post_login(name, password).await;
            assert!(response.headers().get("set-cookie").is_none());
            assert_refused(response, 401, "invalid_credentials", name).await;
        }
        let malformed = app.client.post(app.url("/api/auth/login"))
            .header("content-type", "application/json").body("{").send().await.unwrap();
        let body = json_with_status(malformed, 400).await;
        assert_eq!(body["error"], "invalid_request");
    }

    async fn logout_ends_the_session_on_the_server(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let session = app.login_admin().await;
        let response = app.post_as(&session, "/api/auth/logout", json!({})).await;
        let cleared = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert_eq!(json_with_status(response, 200).await, json!({ "status": "logged_out" }));
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        assert_refused(app.get_as(&session, "/api/auth/me").await, 401, "unauthenticated", "after logout").await;
    }

    async fn a_password_change_ends_every_session_of_that_user_only(test_db) {
        let app = TestApp::spawn(&test_db).await;
        app.add_user("alice", "alice-password", true).await;
        let alice_a = app.login("alice", "alice-password").await;
        let alice_b = app.login("alice", "alice-password").await;
        let admin = app.login_admin().await;
        accounts::change_password(&app.db, "alice", Password::parse("alice-new-password".into()).unwrap())
            .await.unwrap();
        for session in [&alice_a, &alice_b] {
            assert_refused(app.get_as(session, "/api/auth/me").await, 401, "unauthenticated", "old session").await;
        }
        app.get_json(&admin, "/api/auth/me").await;
        assert_refused(app.post_login("alice", "alice-password").await, 401, "invalid_credentials", "old password").await;
        app.login("alice", "alice-new-password").await;
    }

    async fn a_login_checked_against_a_password_since_changed_stores_no_session(test_db) {
        // A login reads the user, checks the password (tens of milliseconds), then stores its
        // session: a password change or a disable in between must not be outlived.
        let app = TestApp::spawn(&test_db).await;
        for name in ["alice", "bob"] {
            app.add_user(name, &format!("{name}-password"), true).await;
        }
        let alice = users::find_by_name(&app.db, "alice").await.unwrap().unwrap();
        let bob = users::find_by_name(&app.db, "bob").await.unwrap().unwrap();
        accounts::change_password(&app.db, "alice", Password::parse("alice-new-password".into()).unwrap())
            .await.unwrap();
        accounts::disable_user(&app.db, "bob").await.unwrap();
        for (who, user) in [("password changed", &alice), ("disabled", &bob)] {
            let token = Token::generate_session();
            let now = Utc::now().naive_utc();
            let session = NewSession {
                token_hash: &token.hash(),
                user_id: user.id,
                created_at: now,
                last_seen_at: now,
                expires_at: now + chrono::Duration::hours(1),
            };
            assert!(!sessions::create(&app.db, &session, &user.password_hash).await.unwrap(), "{who}");
            assert_refused(app.get_as(&Cred::Cookie(token.expose().to_owned()), "/api/auth/me").await,
                           401, "unauthenticated", who).await;
        }
        let session = app.login("alice", "alice-new-password").await;
        app.get_json(&session, "/api/auth/me").await;
    }

    async fn another_authorization_scheme_leaves_the_session_cookie_to_decide(test_db) {
        // A proxy's own sign-in (HTTP Basic) passes its header along with every request.
        let app = TestApp::spawn(&test_db).await;
        let Cred::Cookie(session) = app.login_admin().await else { panic!("a cookie") };
        let me = |authorization: &'static str| {
            app.client.get(app.url("/api/auth/me"))
                .header("authorization", authorization)
                .header("cookie", format!("hookbox_session={session}"))
                .send()
        };
        for scheme in ["Basic dXNlcjpwYXNz", "Digest username=\"u\"", "Negotiate"] {
            assert_eq!(json_with_status(me(scheme).await.unwrap(), 200).await["username"], "admin", "{scheme}");
        }
        // A bearer token is the credential presented: a wrong one is not made up for by the cookie.
        assert_refused(me("Bearer not-a-token").await.unwrap(), 401, "unauthenticated", "wrong bearer").await;
    }

    async fn api_tokens_work_like_sessions_until_revoked(test_db) {
        let app = TestApp::spawn(&test_db).await;
        app.add_user("script", "script-password", true).await;
        let (_, token) = accounts::create_token(&app.db, "script", "ci").await.unwrap();
        let bearer = Cred::Bearer(token.expose().to_owned());
        assert_eq!(app.get_json(&bearer, "/api/auth/me").await["username"], "script");
        app.get_json(&bearer, "/api/admin/llm-callbacks/check").await;
        assert_eq!(accounts::revoke_token(&app.db, "ci", None).await.unwrap(), Revoked::Tokens(1));
        assert_refused(app.get_as(&bearer, "/api/admin/llm-callbacks/check").await, 401, "unauthenticated", "revoked").await;
        let (id, token) = accounts::create_token(&app.db, "script", "second").await.unwrap();
        let bearer = Cred::Bearer(token.expose().to_owned());
        app.get_json(&bearer, "/api/auth/me").await;
        assert_eq!(accounts::revoke_token(&app.db, &id.to_string(), None).await.unwrap(), Revoked::Tokens(1), "revoke by id");
        assert_refused(app.get_as(&bearer, "/api/auth/me").await, 401, "unauthenticated", "revoked by id").await;
    }

    async fn a_token_name_that_would_read_as_an_id_is_refused(test_db) {
        let app = TestApp::spawn(&test_db).await;
        app.add_user("script", "script-password", true).await;
        for bad in ["", "7", "007", "a\nb", &"x".repeat(65)] {
            let refused = accounts::create_token(&app.db, "script", bad).await;
            assert!(matches!(refused, Err(accounts::AccountError::InvalidTokenName(_))), "{bad:?}");
        }
        let (id, _) = accounts::create_token(&app.db, "script", "ci-7").await.unwrap();
        assert_eq!(accounts::revoke_token(&app.db, &id.to_string(), None).await.unwrap(), Revoked::Tokens(1));
    }

    async fn a_disabled_user_is_given_no_token(test_db) {
        let app = TestApp::spawn(&test_db).await;
        app.add_user("gone", "gone-password-1234", true).await;
        accounts::disable_user(&app.db, "gone").await.unwrap();
        let refused = accounts::create_token(&app.db, "gone", "ci").await;
        assert!(matches!(refused, Err(accounts::AccountError::Disabled(_))), "{:?}", refused.err());
        assert_eq!(accounts::revoke_token(&app.db, "ci", None).await.unwrap(), Revoked::Tokens(0), "none stored");
    }

    async fn a_token_name_several_users_share_revokes_nothing_without_the_user(test_db) {
        let app = TestApp::spawn(&test_db).await;
        let mut bearers = Vec::new();
        for user in ["alice", "bob"] {
            app.add_user(user, &format!("{user}-password"), true).await;
            let (_, token) = accounts::create_token(&app.db, user, "cli").await.unwrap();
            bearers.push(Cred::Bearer(token.expose().to_owned()));
        }
        assert_eq!(
            accounts::revoke_token(&app.db, "cli", None).await.unwrap(),
            Revoked::OfSeveralUsers(vec!["alice".into(), "bob".into()])
        );
        for bearer in &bearers {
            app.get_json(bearer, "/api/auth/me").await;
        }
        assert_eq!(accounts::revoke_token(&app.db, "cli", Some("alice")).await.unwrap(), Revoked::Tokens(1));
        assert_refused(app.get_as(&bearers[0], "/api/auth/me").await, 401, "unauthenticated", "alice's token").await;
        assert_eq!(app.get_json(&bearers[1], "/api/auth/me").await["username"], "bob");
        assert_eq!(accounts::revoke_token(&app.db, "cli", Some("alice")).await.unwrap(), Revoked::Tokens(0));
        assert_eq!(accounts::revoke_token(&app.db, "cli", None).await.unwrap(), Revoked::Tokens(1), "only bob's is left");
    }

    async fn reads_judge_a_credential_they_have_seen_before_on_every_request(test_db) {
        // Check, history and detail look a credential they have seen authenticate an admin up
        // along with their own statements (AdminReader); a refusal must still win.
        let app = TestApp::spawn(&test_db).await;
        let id = app.post_many("seen", 1).await[0];
        let reads = ["/api/admin/llm-callbacks/check".to_owned(), "/api/admin/llm-callbacks?limit=5".to_owned(),
                     format!("/api/admin/llm-callbacks/{id}")];
        app.add_user("script", "script-password", true).await;
        let (_, token) = accounts::create_token(&app.db, "script", "ci").await.unwrap();
        let revoked = Cred::Bearer(token.expose().to_owned());
        for name in ["disabled", "changed", "leaving"] {
            app.add_user(name, &format!("{name}-password"), true).await;
        }
        let disabled = app.login("disabled", "disabled-password").await;
        let changed = app.login("changed", "changed-password").await;
        let leaving = app.login("leaving", "leaving-password").await;
        let admin = app.login_admin().await;
        for cred in [&revoked, &disabled, &changed, &leaving, &admin] {
            for _ in 0..2 {
                for path in &reads {
                    app.get_json(cred, path).await;
                }
            }
        }
        assert_eq!(accounts::revoke_token(&app.db, "ci", None).await.unwrap(), Revoked::Tokens(1));
        accounts::disable_user(&app.db, "disabled").await.unwrap();
        accounts::change_password(&app.db, "changed", Password::parse("changed-new-password".into()).unwrap())
            .await.unwrap();
        json_with_status(app.post_as(&leaving, "/api/auth/logout", json!({})).await, 200).await;
        let bad_cursor = "/api/admin/llm-callbacks/check?after=garbage";
        let missing = "/api/admin/llm-callbacks/99999999";
        for (who, cred) in [("revoked token", &revoked), ("disabled user", &disabled),
                            ("password changed", &changed), ("logged out", &leaving)] {
            for round in 0..2 {
                for path in &reads {
                    assert_refused(app.get_as(cred, path).await, 401, "unauthenticated", &format!("{who} {path} #{round}")).await;
                }
            }
            // The read's own answer never shows first: not 400 for a bad cursor, not 404.
            assert_refused(app.get_as(cred, bad_cursor).await, 401, "unauthenticated", &format!("{who} bad cursor")).await;
            assert_refused(app.get_as(cred, missing).await, 401, "unauthenticated", &format!("{who} missing id")).await;
        }
        for path in &reads {
            app.get_json(&admin, path).await;
        }
        assert_refused(app.get_as(&admin, bad_cursor).await, 400, "invalid_cursor", "an admin's bad cursor").await;
        assert_refused(app.get_as(&admin, missing).await, 404, "not_found", "an admin's missing id").await;
    }

    async fn a_token_records_its_use_at_most_once_a_minute(test_db) {
        // A script polling every few seconds must not turn each read into a durable write.
        let app = TestApp::spawn(&test_db).await;
        app.add_user("poller", "poller-password", true).await;
        let (_, token) = accounts::create_token(&app.db, "poller", "poll").await.unwrap();
        let last_used = || async {
            sessions::find_token(&app.db, &token.hash())
                .await
                .unwrap()
                .expect("the token exists")
                .last_used_at
        };
        assert_eq!(last_used().await, None, "never used yet");
        let bearer = Cred::Bearer(token.expose().to_owned());
        app.get_json(&bearer, "/api/auth/me").await;
        let first = last_used().await;
        assert!(first.is_some(), "the first use is recorded");
        for _ in 0..3 {
            app.get_json(&bearer, "/api/admin/llm-callbacks/check").await;
        }
        assert_eq!(last_used().await, first, "uses within the minute write nothing");
    }

    async fn an_idle_session_ends(test_db) {
        let mut options = AppOptions::default();
        options.auth.session.idle = std::time::Duration::from_secs(1);
        let app = TestApp::spawn_with(&test_db, options).await;
        let session = app.login_admin().await;
        app.get_json(&session, "/api/auth/me").await;
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_refused(app.get_as(&session, "/api/auth/me").await, 401, "unauthenticated", "idle").await;
    }

    async fn repeated_failures_are_throttled_per_username_and_per_ip(test_db) {
        let app = spawn_throttled(&test_db, 3, 6).await;
        for _ in 0..3 {
            assert_eq!(app.post_login("admin", "wrong-password").await.status(), 401);
        }
        let locked = app.post_login("admin", ADMIN_PASSWORD).await;
        let retry_after: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        assert_refused(locked, 429, "too_many_attempts", "username locked, even with the right password").await;
        for i in 0..3 {
            assert_eq!(app.post_login(&format!("nobody{i}"), "wrong-password").await.status(), 401);
        }
        app.add_user("fresh", "fresh-password", true).await;
        assert_refused(app.post_login("fresh", "fresh-password").await, 429, "too_many_attempts", "ip locked").await;
    }

    async fn failed_logins_sent_at_once_count_against_the_limit(test_db) {
        let app = spawn_throttled(&test_db, 3, 100).await;
        let answers = futures_util::future::join_all((0..12).map(|_| app.post_login("admin", "wrong-password"))).await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [[401; 3].as_slice(), &[429; 9]].concat(), "twelve guesses at once");
    }

    async fn a_login_with_a_name_no_account_can_have_is_refused_like_any_other(test_db) {
        let app = TestApp::spawn(&test_db).await;
        for name in ["ad\u{0}min", "", "a b", &"x".repeat(65)] {
            assert_refused(app.post_login(name, "wrong-password").await, 401, "invalid_credentials", name).await;
        }
        app.login_admin().await;
    }
}

/// The password change's transaction (a new hash, the user's sessions deleted) is under way while
/// a login that checked the old password stores its session: the login waits for it and stores
/// nothing, rather than adding a session the change's delete did not see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storing_its_session_while_the_password_changes_waits_and_stores_nothing() {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    let Some(test_db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let app = TestApp::spawn(&test_db).await;
    app.add_user("alice", "alice-password", true).await;
    let alice = users::find_by_name(&app.db, "alice")
        .await
        .unwrap()
        .unwrap();

    let mut change = test_db.postgres_connection().await;
    change
        .batch_execute(&format!(
            "BEGIN; UPDATE users SET password_hash = 'changed', password_changed_at = now() \
             WHERE id = {id}; DELETE FROM sessions WHERE user_id = {id}",
            id = alice.id
        ))
        .await
        .unwrap();
    let token = Token::generate_session();
    let login = {
        let (db, hash, token_hash) = (app.db.clone(), alice.password_hash.clone(), token.hash());
        tokio::spawn(async move {
            let now = Utc::now().naive_utc();
            let session = NewSession {
                token_hash: &token_hash,
                user_id: alice.id,
                created_at: now,
                last_seen_at: now,
                expires_at: now + chrono::Duration::hours(1),
            };
            sessions::create(&db, &session, &hash).await
        })
    };
    let mut observer = test_db.postgres_connection().await;
    let waiting = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM pg_stat_activity \
          WHERE datname = current_database() AND wait_event_type = 'Lock')",
    );
    for _ in 0..500 {
        if login.is_finished()
            || diesel::select(waiting.clone())
                .get_result::<i64>(&mut observer)
                .await
                .unwrap()
                > 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    change.batch_execute("COMMIT").await.unwrap();

    assert!(
        !login.await.unwrap().unwrap(),
        "the login's session was stored"
    );
    let sessions: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "(SELECT count(*) FROM sessions WHERE user_id = {})",
        alice.id
    )))
    .get_result(&mut observer)
    .await
    .unwrap();
    assert_eq!(sessions, 0);
    assert_refused(
        app.get_as(&Cred::Cookie(token.expose().to_owned()), "/api/auth/me")
            .await,
        401,
        "unauthenticated",
        "the login's token",
    )
    .await;
}
