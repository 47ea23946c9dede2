//! The real binary as a child process on a free port, with its own data directory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hookbox::store::{callbacks, DatabaseUrl, Db, PoolSettings};

pub const SECRET: &str = "fault-secret-0123456789abcdef";
pub const PATH: &str = "/api/webhooks/llm-callback";

/// How many rounds/requests the long-running tests do: small in `cargo test`, larger with
/// `HOOKBOX_FAULT_ROUNDS`.
pub fn rounds(short: usize) -> usize {
    std::env::var("HOOKBOX_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(short)
}

pub struct Server {
    child: Child,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl Server {
    pub async fn start(url: &DatabaseUrl, extra: &[&str]) -> Server {
        for _ in 0..5 {
            let port = free_port();
            let data = tempfile::tempdir().unwrap();
            let log = std::fs::File::create(data.path().join("hookbox.log")).unwrap();
            let url_text = match url {
                DatabaseUrl::Postgres(raw) => raw.clone(),
                DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            };
            let child = Command::new(env!("CARGO_BIN_EXE_hookbox"))
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .args(["--database-url", &url_text])
                .args(["--webhook-secret", &format!("primary:{SECRET}")])
                .args(["--data-dir", &data.path().display().to_string()])
                .args(["--workers", "2"])
                .args(extra)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut server = Server {
                child,
                port,
                _data: data,
            };
            if server.wait_ready().await {
                return server;
            }
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
        panic!("hookbox did not start in 5 attempts");
    }

    async fn wait_ready(&mut self) -> bool {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if let Ok(response) = client.get(self.url("/healthz")).send().await {
                if response.status() == 200 {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to exit by itself; `None` if it is still running at `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Resident set size now and at its peak, in KiB (from /proc).
    pub fn rss_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads the stored callbacks straight from the database: (delivery key, raw body) by id.
pub async fn stored(url: &DatabaseUrl) -> Vec<(String, Vec<u8>)> {
    let db = Db::connect(
        url,
        &PoolSettings {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            answer_timeout: hookbox::store::DEFAULT_ANSWER_TIMEOUT,
        },
    )
    .unwrap();
    let rows = callbacks::all_of_source(&db, "llm-callback").await.unwrap();
    db.close();
    rows.into_iter().map(|r| (r.delivery_key, r.body)).collect()
}
