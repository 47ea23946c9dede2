//! Real headless Chromium driven over WebDriver: one chromedriver (and so one browser) per
//! test, on a random 127.0.0.1 port, with a fresh profile, killed with its whole process
//! group when the test ends. Without chromium/chromedriver the browser tests skip, saying so,
//! unless CI=true or HOOKBOX_REQUIRE_BROWSER=1 make that a failure.

use std::future::Future;
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn browser_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("HOOKBOX_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

fn path_from_env(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Where screenshots of failed browser tests go.
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("browser-artifacts")
}

pub struct Browser {
    pub client: Client,
    /// The server under test, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    name: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (after printing why) when the browser is missing and not required.
    pub async fn start(name: &str, base: &str) -> Option<Browser> {
        Browser::start_sized(name, base, (1280, 900)).await
    }

    pub async fn start_sized(name: &str, base: &str, size: (u32, u32)) -> Option<Browser> {
        let chromium = path_from_env("HOOKBOX_CHROMIUM", CHROMIUM);
        let chromedriver = path_from_env("HOOKBOX_CHROMEDRIVER", CHROMEDRIVER);
        if !chromium.exists() || !chromedriver.exists() {
            let message = format!(
                "{} or {} is missing (Debian: apt-get install chromium chromium-driver)",
                chromium.display(),
                chromedriver.display()
            );
            assert!(
                !browser_required(),
                "browser tests are required here, but {message}"
            );
            eprintln!("SKIPPED (browser test {name}): {message}. Set HOOKBOX_REQUIRE_BROWSER=1 to make this a failure.");
            return None;
        }
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the browser it starts can be killed with it.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        Some(Browser {
            client: connect(port, &chromium, &profile, size).await,
            base: base.to_owned(),
            name: name.replace("::", "-"),
            driver,
            _profile: profile,
        })
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `condition` (a JS expression) is truthy, or fails saying `what`.
    pub async fn wait_until(&self, condition: &str, timeout: Duration, what: &str) {
        let script = format!("return Boolean({condition});");
        let start = Instant::now();
        loop {
            if let Ok(Value::Bool(true)) = self.client.execute(&script, vec![]).await {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of the first element matching `css` ("" when there is none).
    pub async fn text(&self, css: &str) -> String {
        let value = self
            .js(
                "const el = document.querySelector(arguments[0]); return el ? el.innerText : '';",
                vec![json!(css)],
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn click(&self, css: &str) {
        let element = self
            .client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Clicks the first `<button>` whose text is exactly `label`.
    pub async fn click_button_with_text(&self, label: &str) {
        let button = self
            .client
            .find(fantoccini::Locator::XPath(&format!(
                "//button[normalize-space()='{label}']"
            )))
            .await
            .unwrap_or_else(|e| panic!("no button {label:?}: {e}"));
        button
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {label:?}: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self
            .client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Presses `key` on the focused element, as a user at the keyboard would.
    pub async fn press(&self, key: fantoccini::key::Key) {
        let active = self
            .client
            .active_element()
            .await
            .expect("a focused element");
        active
            .send_keys(&key)
            .await
            .unwrap_or_else(|e| panic!("cannot press {key:?}: {e}"));
    }

    /// No alert/confirm/prompt is open.
    pub async fn assert_no_dialog(&self, when: &str) {
        match self.client.get_alert_text().await {
            Err(error) if error.is_no_such_alert() => {}
            Ok(text) => panic!("a JavaScript dialog opened {when}: {text:?}"),
            Err(error) => panic!("cannot ask for dialogs {when}: {error}"),
        }
    }

    /// Saves a screenshot as `<test>-<label>.png` in the artifacts directory.
    pub async fn screenshot(&self, label: &str) {
        let dir = artifacts_dir();
        let _ = std::fs::create_dir_all(&dir);
        match self.client.screenshot().await {
            Ok(png) => {
                let path = dir.join(format!("{}-{label}.png", self.name));
                if std::fs::write(&path, png).is_ok() {
                    eprintln!("screenshot saved: {}", path.display());
                }
            }
            Err(error) => eprintln!("no screenshot ({label}): {error}"),
        }
    }

    /// Runs a test body; when it fails, screenshots the page (and, with the panel open, the
    /// page behind it) before the failure is reported.
    pub async fn check<F: Future<Output = ()>>(&self, body: F) {
        if let Err(panic) = AssertUnwindSafe(body).catch_unwind().await {
            let _ = self.client.dismiss_alert().await;
            self.screenshot("failure").await;
            let _ = self
                .client
                .execute("document.getElementById('panel')?.close?.()", vec![])
                .await;
            self.screenshot("failure-behind-panel").await;
            std::panic::resume_unwind(panic);
        }
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started share the process group we gave it.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn connect(
    port: u16,
    chromium: &std::path::Path,
    profile: &tempfile::TempDir,
    size: (u32, u32),
) -> Client {
    let args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--hide-scrollbars".into(),
        format!("--window-size={},{}", size.0, size.1),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    // Leave dialogs open, so a test can see that one appeared (an XSS that ran).
    capabilities.insert("unhandledPromptBehavior".into(), json!("ignore"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium.display().to_string(), "args": args }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let attempt = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(client) => return client,
            // chromedriver needs a moment before it listens.
            Err(_) if start.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            Err(error) => panic!("cannot start a Chromium session via chromedriver: {error}"),
        }
    }
}
