//! Reloading sources: a good file swaps them at once, a broken one changes nothing, an
//! in-flight request finishes under the source it started with, and SIGHUP triggers it.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use hookbox::ingest::config::LoadError;
use hookbox::ingest::reload::reload;

use crate::helpers::*;
use crate::sources::*;

const NEW_OPENAI_SECRET: &str = "whsec_bmV3LW9wZW5haS1zZWNyZXQtMDEyMzQ1Njc=";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn openai_only(secret: &str) -> String {
    format!("[sources.openai]\npreset = \"openai\"\nsecrets = [{{ label = \"k\", value = \"{secret}\" }}]\n")
}

fn event(id: &str) -> String {
    format!(
        r#"{{"id":"evt_{id}","object":"event","created_at":1750287018,"type":"batch.completed","data":{{"id":"{id}"}}}}"#
    )
}

async fn status_of(app: &TestApp, source: &str, secret: &str, id: &str) -> u16 {
    let body = event(id);
    app.post_to_source(
        source,
        &body,
        &sw_headers(secret, &format!("msg_{id}"), now(), &body),
    )
    .await
    .status()
    .as_u16()
}

on_both_backends! {
    async fn a_good_file_replaces_every_source_and_a_broken_one_changes_nothing(test_db) {
        let (sources, loader, _dir) = sources_from(&openai_only(OPENAI_SECRET));
        let app = spawn_with_sources(&test_db, sources.clone()).await;
        assert_eq!(status_of(&app, "openai", OPENAI_SECRET, "a1").await, 200);
        assert_eq!(status_of(&app, "generic", GENERIC_SECRET, "a2").await, 404);

        let config = loader.config.clone().unwrap();
        std::fs::write(&config, format!(
            "{}\n[sources.generic]\npreset = \"standard-webhooks\"\nsecrets = [{{ label = \"g\", value = \"{GENERIC_SECRET}\" }}]\n",
            openai_only(NEW_OPENAI_SECRET)
        )).unwrap();
        let names = reload(&sources, &loader).expect("a good file reloads");
        assert_eq!(names, ["generic", "openai"]);
        assert_eq!(status_of(&app, "openai", OPENAI_SECRET, "b1").await, 401, "the old secret is gone");
        assert_eq!(status_of(&app, "openai", NEW_OPENAI_SECRET, "b2").await, 200);
        assert_eq!(status_of(&app, "generic", GENERIC_SECRET, "b3").await, 200);

        std::fs::write(&config, "[sources.openai]\npreset = \"openai\"\nsecrets = [{ label = \"k\", value = \"not base64!\" }]\n").unwrap();
        match reload(&sources, &loader) {
            Err(LoadError::Config(error)) => {
                assert_eq!(error.line, 3, "{error}");
                assert!(error.field.starts_with("sources.openai.secrets"), "{error}");
            }
            other => panic!("a broken file must be refused, got {:?}", other.map_err(|e| e.to_string())),
        }
        assert_eq!(sources.names(), ["generic", "openai"], "the previous sources stay");
        assert_eq!(status_of(&app, "openai", NEW_OPENAI_SECRET, "c1").await, 200);
        assert_eq!(status_of(&app, "generic", GENERIC_SECRET, "c2").await, 200);
        std::fs::remove_file(&config).unwrap();
        assert!(matches!(reload(&sources, &loader), Err(LoadError::Read { .. })), "a missing file is refused too");
        assert_eq!(status_of(&app, "openai", NEW_OPENAI_SECRET, "c3").await, 200);
    }

    async fn a_request_in_flight_finishes_under_the_source_it_started_with(test_db) {
        let (sources, loader, _dir) = sources_from(&openai_only(OPENAI_SECRET));
        let app = spawn_with_sources(&test_db, sources.clone()).await;
        let body = event("inflight");
        let headers = sw_headers(OPENAI_SECRET, "msg_inflight", now(), &body);
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
        let mut request = app.client.post(app.url("/api/webhooks/openai"))
            .body(reqwest::Body::wrap_stream(tokio_stream_from(receiver)));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let in_flight = tokio::spawn(request.send());
        let (first, rest) = body.as_bytes().split_at(10);
        sender.send(Ok(first.to_vec())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        std::fs::write(loader.config.as_ref().unwrap(), openai_only(NEW_OPENAI_SECRET).replace("openai]", "renamed]")).unwrap();
        reload(&sources, &loader).expect("reloads");
        assert_eq!(status_of(&app, "openai", OPENAI_SECRET, "after").await, 404, "new requests see the new sources");

        sender.send(Ok(rest.to_vec())).await.unwrap();
        drop(sender);
        let response = in_flight.await.unwrap().expect("the in-flight request is answered");
        let json = json_with_status(response, 200).await;
        assert_eq!(json["callback_id"], "inflight");
    }
}

fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// The real binary: SIGHUP re-reads the file; a broken file keeps the old sources.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_running_server_and_a_broken_file_keeps_the_old_sources() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookbox.toml");
    std::fs::write(&config, openai_only(OPENAI_SECRET)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookbox"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--workers",
            "1",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("HOOKBOX_CONFIG")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the hookbox binary starts");
    let pid = child.id().to_string();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match lines_rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        panic!("the server never logged {needle:?}");
    };
    let listening = wait_for("listening on http://");
    let port: u16 = listening
        .split("listening on http://127.0.0.1:")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let send = |source: &'static str, secret: &'static str, id: &'static str| {
        let body = event(id);
        let mut request = client
            .post(format!("{base}/api/webhooks/{source}"))
            .body(body.clone());
        for (name, value) in sw_headers(secret, &format!("msg_{id}"), now(), &body) {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -HUP works");
    };
    assert_eq!(send("openai", OPENAI_SECRET, "s1").await, 200);

    std::fs::write(&config, format!("{}\n[sources.generic]\npreset = \"standard-webhooks\"\nsecrets = [{{ label = \"g\", value = \"{GENERIC_SECRET}\" }}]\n", openai_only(OPENAI_SECRET))).unwrap();
    hangup();
    wait_for("sources reloaded");
    assert_eq!(
        send("generic", GENERIC_SECRET, "s2").await,
        200,
        "the added source answers after SIGHUP"
    );

    std::fs::write(&config, "[sources.generic\n").unwrap();
    hangup();
    let refused = wait_for("sources not reloaded");
    assert!(
        refused.contains("hookbox.toml:1"),
        "the log names file and line: {refused}"
    );
    assert_eq!(
        send("generic", GENERIC_SECRET, "s3").await,
        200,
        "the old sources stay after a broken file"
    );
    assert_eq!(send("openai", OPENAI_SECRET, "s4").await, 200);

    child.kill().unwrap();
    let _ = child.wait();
}

on_both_backends! {
    async fn admins_reload_over_http_and_a_broken_file_is_refused_with_its_line(test_db) {
        use crate::helpers::auth::Cred;
        let (sources, loader, _dir) = sources_from(&openai_only(OPENAI_SECRET));
        let config = loader.config.clone().unwrap();
        let options = AppOptions {
            sources: Some(sources.clone()),
            sources_loader: Some(loader),
            ..AppOptions::default()
        };
        let app = TestApp::spawn_with(&test_db, options).await;
        let admin = app.login_admin().await;
        app.add_user("viewer", "viewer-password-0123", false).await;
        let viewer = app.login("viewer", "viewer-password-0123").await;
        let path = "/api/admin/sources/reload";

        let anonymous = app.post_as(&Cred::None, path, serde_json::json!({})).await;
        assert_eq!(json_with_status(anonymous, 401).await["error"], "unauthenticated");
        let refused = app.post_as(&viewer, path, serde_json::json!({})).await;
        assert_eq!(json_with_status(refused, 403).await["error"], "forbidden");
        let cross_site = admin
            .apply(app.client.post(app.url(path)))
            .header("origin", "https://evil.example")
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(json_with_status(cross_site, 403).await["error"], "cross_site_request");
        assert_eq!(sources.names(), ["openai"], "refused calls change nothing");

        std::fs::write(&config, format!(
            "{}\n[sources.generic]\npreset = \"standard-webhooks\"\nsecrets = [{{ label = \"g\", value = \"{GENERIC_SECRET}\" }}]\n",
            openai_only(OPENAI_SECRET)
        )).unwrap();
        let reloaded = json_with_status(app.post_as(&admin, path, serde_json::json!({})).await, 200).await;
        assert_eq!(reloaded["sources"], serde_json::json!(["generic", "openai"]));
        assert_eq!(status_of(&app, "generic", GENERIC_SECRET, "h1").await, 200);

        std::fs::write(&config, "[sources.openai]\npreset = \"openai\"\nsecrets = [{ label = \"k\", value = \"not base64!\" }]\n").unwrap();
        let broken = json_with_status(app.post_as(&admin, path, serde_json::json!({})).await, 422).await;
        assert_eq!(broken["error"], "invalid_config");
        let detail = broken["detail"].as_str().unwrap();
        assert!(detail.contains("hookbox.toml:3"), "the detail names file and line: {detail}");
        assert_eq!(sources.names(), ["generic", "openai"], "the previous sources stay");
        assert_eq!(status_of(&app, "generic", GENERIC_SECRET, "h2").await, 200);
    }
}
