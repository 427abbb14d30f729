//! A real browser for the web page's tests: Debian's `chromium`, headless, driven over
//! WebDriver by its `chromedriver` (both installed by `scripts/install-chromium.sh`, which
//! `.ci/run` calls). A browser that cannot start fails the test, naming what is missing.

#![allow(dead_code, reason = "each test uses the part it needs")]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// Where screenshots go: `target/tmp/web-page/` (cargo's scratch directory for integration tests).
pub const SCREENSHOTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/web-page");

/// The flags chromium runs with here: headless, and nothing that reaches the network.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Exact heap figures from `performance.memory` (PERFORMANCE.md's).
    "--enable-precise-memory-info",
];

/// A headless chromium with its driver, closed (and its processes ended) when dropped.
pub struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub client: Client,
    profile: tempfile::TempDir,
}

/// The path of `program` on the `PATH`, if there.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// The project's install script (`apt-get install chromium chromium-driver`), when either is
/// missing; one test at a time runs it.
fn install_if_absent() {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if on_path("chromium").is_some() && on_path("chromedriver").is_some() {
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/install-chromium.sh"
    );
    let status = Command::new("bash")
        .arg(script)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        status.success(),
        "{script} failed ({status}): no browser for the web page's tests"
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Browser {
    /// Starts chromedriver and a chromium session of 1400×1000 pixels.
    pub async fn start() -> Browser {
        install_if_absent();
        let missing = "run scripts/install-chromium.sh (Debian's chromium and chromium-driver)";
        let driver_path =
            on_path("chromedriver").unwrap_or_else(|| panic!("no chromedriver on PATH: {missing}"));
        let chromium =
            on_path("chromium").unwrap_or_else(|| panic!("no chromium on PATH: {missing}"));
        let port = free_port();
        let mut driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver does not start: {e}"));
        let stdout = driver.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line).expect("chromedriver's output");
            assert!(read > 0, "chromedriver exited before it started");
            if line.contains("started successfully") {
                break;
            }
        }
        // Its later lines must not fill the pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));

        let profile = tempfile::tempdir().expect("a profile directory");
        let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push("--window-size=1400,1000".to_owned());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": args}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("chromium does not start under chromedriver: {e}"));
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(180)),
                Some(Duration::from_secs(30)),
                None,
            ))
            .await
            .expect("timeouts set");
        Browser {
            driver,
            client,
            profile,
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `condition` (a function body returning a truthy value when it holds)
    /// holds, re-checking after every change of the page (a MutationObserver, no polling);
    /// its value. Fails naming `what` after `timeout`.
    pub async fn until(&self, what: &str, condition: &str, timeout: Duration) -> Value {
        let script = format!(
            r#"
            const done = arguments[arguments.length - 1];
            const check = () => {{ {condition} }};
            let timer = null;
            const observer = new MutationObserver(() => {{
                const value = check();
                if (value) finish(value);
            }});
            const finish = (value) => {{ observer.disconnect(); clearTimeout(timer); done(value); }};
            observer.observe(document.documentElement,
                {{ subtree: true, childList: true, characterData: true, attributes: true }});
            timer = setTimeout(() => finish(null), {ms});
            const now = check();
            if (now) finish(now);
            "#,
            ms = timeout.as_millis()
        );
        let value = self
            .client
            .execute_async(&script, vec![])
            .await
            .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
        if value.is_null() {
            let shot = self
                .screenshot(&format!("timeout-{}", what.replace(' ', "-")))
                .await;
            panic!(
                "{what}: not within {timeout:?} (screenshot {})",
                shot.display()
            );
        }
        value
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Types `text` into the element `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Chooses `value` in the select `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot choose {value} in {css}: {e}"));
    }

    /// Saves a screenshot of the window as `SCREENSHOTS/{name}.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(SCREENSHOTS).expect("the screenshot directory");
        let path = Path::new(SCREENSHOTS).join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot saved");
        path
    }

    /// Ends the session (chromium exits) and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    /// After a failed test the session is still open: end the driver and every chromium
    /// process of this browser's profile (found by its unique profile path), so none outlives
    /// the test.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let profile = self.profile.path().display().to_string();
        let Ok(processes) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in processes.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&profile) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}
