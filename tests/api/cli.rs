//! The binary as a new user runs it: first start, the generated secret, send-test, migrate.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_hookbox");

/// A `hookbox` server process in `dir`, its log lines collected as they come.
struct ServerProcess {
    child: Child,
    port: u16,
    log: mpsc::Receiver<String>,
}

impl ServerProcess {
    fn start(dir: &std::path::Path, args: &[&str]) -> (ServerProcess, Vec<String>) {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("HOOKBOX_WEBHOOK_SECRET")
            .env_remove("HOOKBOX_WEBHOOK_SECRET_FILE")
            .env_remove("HOOKBOX_DATA_DIR")
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("hookbox starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let port = loop {
            let line = log
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!("server did not report listening; log so far: {lines:#?}")
                });
            let port = line
                .split("listening on http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|port| port.parse::<u16>().ok());
            lines.push(line);
            if let Some(port) = port {
                break port;
            }
        };
        (ServerProcess { child, port, log }, lines)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while self.log.try_recv().is_ok() {}
    }
}

#[test]
fn the_first_start_generates_a_secret_once_names_its_file_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let (first, log) = ServerProcess::start(dir.path(), &[]);
    let secret_path = dir.path().join("data/webhook-secret");
    let secret = std::fs::read_to_string(&secret_path).expect("secret file created in ./data");
    let secret = secret.trim();
    assert_eq!(secret.len(), 64, "32 random bytes, hex");
    let log = log.join("\n");
    assert!(log.contains("generated a webhook secret"), "{log}");
    assert!(
        log.contains("data/webhook-secret"),
        "the log says where the secret is: {log}"
    );
    assert!(!log.contains(secret), "the secret itself is never logged");
    assert!(
        dir.path().join("data/hookbox.db").exists(),
        "SQLite file under ./data"
    );
    drop(first);

    let (_second, log) = ServerProcess::start(dir.path(), &[]);
    let log = log.join("\n");
    assert!(log.contains("using the generated webhook secret"), "{log}");
    assert!(
        !log.contains("generated a webhook secret"),
        "generated only once: {log}"
    );
    assert!(!log.contains(secret));
    let again = std::fs::read_to_string(&secret_path).unwrap();
    assert_eq!(again.trim(), secret, "the secret is reused, not replaced");
}

#[test]
fn send_test_signs_with_the_generated_secret_and_the_server_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = ServerProcess::start(dir.path(), &[]);
    let url = format!("http://127.0.0.1:{}", server.port);
    for args in [
        vec!["send-test", "--url", &url],
        vec![
            "send-test",
            "--url",
            &url,
            "--event",
            "workflow.failed",
            "--status",
            "failed",
            "--job-id",
            "job_cli",
        ],
    ] {
        assert_stored_by_send_test(dir.path(), &args);
    }
}

/// Runs `hookbox send-test` with `args` in `dir` and checks the server stored a new callback.
fn assert_stored_by_send_test(dir: &std::path::Path, args: &[&str]) {
    let output = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("HOOKBOX_WEBHOOK_SECRET")
        .env_remove("HOOKBOX_WEBHOOK_SECRET_FILE")
        .env_remove("HOOKBOX_DATA_DIR")
        .output()
        .expect("send-test runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("200 OK"), "{stdout}");
    assert!(stdout.contains("\"duplicate\":false"), "{stdout}");
}

/// `--runtime-threads 1`: the writer's runtime with a single worker still stores callbacks
/// (on SQLite, whose writes leave the runtime for its blocking threads).
#[test]
fn with_one_runtime_thread_the_server_stores_what_send_test_sends() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = ServerProcess::start(dir.path(), &["--runtime-threads", "1"]);
    let url = format!("http://127.0.0.1:{}", server.port);
    assert_stored_by_send_test(dir.path(), &["send-test", "--url", &url]);
}

#[test]
fn send_test_without_any_secret_explains_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .args(["send-test", "--url", "http://127.0.0.1:9"])
        .env_remove("HOOKBOX_WEBHOOK_SECRET")
        .env_remove("HOOKBOX_WEBHOOK_SECRET_FILE")
        .env_remove("HOOKBOX_DATA_DIR")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HOOKBOX_WEBHOOK_SECRET"), "{stderr}");
    assert!(
        !dir.path().join("data/webhook-secret").exists(),
        "send-test never creates a secret"
    );
}

#[test]
fn migrate_applies_once_and_bad_database_urls_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    let run = |url: &str| {
        Command::new(BIN)
            .args(["migrate", "--database-url", url])
            .output()
            .unwrap()
    };
    let first = run(&url);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied"));
    let second = run(&url);
    assert!(String::from_utf8_lossy(&second.stdout).contains("already up to date"));
    let bad = run("mysql://root:hunter2@localhost/db");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("postgres://") && stderr.contains("sqlite://"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "passwords are never echoed: {stderr}"
    );
}

#[test]
fn a_failure_to_start_is_told_once_not_again_as_its_own_cause() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = Command::new(BIN)
        .current_dir(dir.path())
        .args(["--listen", &address])
        .env_remove("DATABASE_URL")
        .env_remove("HOOKBOX_DATA_DIR")
        .env("HOOKBOX_WEBHOOK_SECRET", "a-secret-for-this-test")
        .env("HOOKBOX_ADMIN_PASSWORD", "a-password-for-this-test")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("error: cannot listen on {address}: ")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("caused by"),
        "the message already ends with its cause: {stderr}"
    );
}
