//! `ktrdr serve` as a child process for the black-box tests: its own `KTRDR_HOME` and data
//! directory, a random loopback port, killed when dropped.

#![allow(dead_code, reason = "each test crate uses the part it needs")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The real IB files of `../shared/data/ib` (see its README).
pub const IB_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ib");

/// Copies the IB fixture files `names` (`MSFT_1h.csv`, …) into the data directory a
/// [`Server::start`] on `root` serves.
pub fn seed_ib_files(root: &Path, names: &[&str]) {
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("data directory");
    for name in names {
        std::fs::copy(Path::new(IB_FIXTURES).join(name), data.join(name))
            .unwrap_or_else(|e| panic!("copy fixture {name}: {e}"));
    }
}

/// A running `ktrdr serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its `KTRDR_HOME` (the registry lives there).
    pub home: PathBuf,
    /// Its `KTRDR_DATA_DIR`.
    pub data: PathBuf,
}

impl Server {
    /// Starts `ktrdr serve --bind 127.0.0.1:0 ARGS` on the directories under `root`, with the
    /// extra environment `env`, and waits for its first line (the URL).
    pub fn start(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let (home, data) = (root.join("home"), root.join("data"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_ktrdr"));
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("KTRDR_API_TOKEN")
            .env_remove("KTRDR_DATA_SOURCE")
            .env_remove("USE_IB_HOST_SERVICE")
            .env("KTRDR_HOME", &home)
            .env("KTRDR_DATA_DIR", &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("ktrdr serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("ktrdr serve prints its URL");
        let start = first.find("http://").expect("the first line names the URL");
        let url = first[start..].split_whitespace().next().unwrap_or_default();
        let base = url.trim_end_matches("/api/v1").to_owned();
        Server {
            child,
            base,
            home,
            data,
        }
    }

    /// The URL of an API path (`/operations` → `http://…/api/v1/operations`).
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        self.child.wait().expect("ktrdr serve exits")
    }

    /// Kills the server with SIGKILL (no shutdown, as in a crash) and waits for it to end.
    pub fn kill(mut self) {
        signal(self.child.id(), "KILL");
        let _ = self.child.wait();
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `ktrdr` command on the server's `KTRDR_HOME` and data directory (so it shares the
    /// registry and the store), with no data source from the environment.
    pub fn cli(&self) -> Command {
        cli(&self.home, &self.data)
    }

    /// `method path` with `body` (JSON text, sent as `application/json`); the status and the
    /// JSON answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method name");
        let mut request = reqwest::Client::new().request(method, self.api(path));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        Reply::of(request.send().await.expect("the server answers")).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    /// The record of operation `id` (`GET /operations/{id}`'s `data`).
    pub async fn operation(&self, id: &str) -> Value {
        let reply = self.get(&format!("/operations/{id}")).await;
        assert_eq!(reply.status, 200, "GET /operations/{id}: {}", reply.body);
        reply.body["data"].clone()
    }

    /// Polls operation `id` until it has ended (at most a minute); its record then.
    pub async fn until_ended(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let record = self.operation(id).await;
            let status = record["status"].as_str().expect("a status");
            if ["completed", "failed", "cancelled", "interrupted"].contains(&status) {
                return record;
            }
            assert!(
                Instant::now() < deadline,
                "{id} still {status} after a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An answer of the API.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The raw body.
    pub text: String,
}

impl Reply {
    /// Reads `response` whole.
    pub async fn of(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    /// Asserts the error shape with `status` and `code`; the message.
    pub fn refused(&self, status: u16, code: &str) -> &str {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.body["success"], false, "{}", self.text);
        assert_eq!(self.body["error"]["code"], code, "{}", self.text);
        self.body["error"]["message"].as_str().expect("a message")
    }
}

/// A `ktrdr` command on `home` and `data`, with no data source from the environment and
/// only errors logged.
pub fn cli(home: &Path, data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ktrdr"));
    command
        .env_remove("KTRDR_API_TOKEN")
        .env_remove("KTRDR_DATA_SOURCE")
        .env_remove("USE_IB_HOST_SERVICE")
        .env("RUST_LOG", "error")
        .env("KTRDR_HOME", home)
        .env("KTRDR_DATA_DIR", data);
    command
}

/// Sends `SIG{name}` to process `pid`.
pub fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} {pid}");
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ktrdr host-service --provider sim` on a free loopback port (simulated "now"
/// 2025-01-01), killed when dropped. [`SimHost::pause`] stops the process (SIGSTOP), so a load
/// that fetches from it is sure to be running, and stays so, until [`SimHost::resume`].
pub struct SimHost {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl SimHost {
    /// Starts the host service with the extra arguments `args`.
    pub fn start(args: &[&str]) -> SimHost {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
            .args(["host-service", "--provider", "sim", "--port", "0"])
            .args(["--now", "2025-01-01T00:00:00Z"])
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ktrdr host-service starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut first)
            .expect("the host service prints its URL");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .trim_end_matches('/')
            .to_owned();
        SimHost { child, url }
    }

    /// Freezes the process: requests to it wait.
    pub fn pause(&self) {
        signal(self.child.id(), "STOP");
    }

    /// Lets it answer again.
    pub fn resume(&self) {
        signal(self.child.id(), "CONT");
    }

    /// The flags of a load that fetches from it.
    pub fn source(&self) -> [&str; 6] {
        [
            "--source",
            "host",
            "--host-url",
            &self.url,
            "--pacing",
            "fast",
        ]
    }
}

impl Drop for SimHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `ktrdr` child that names its operation on standard error (`data load`, `--server` or
/// not): running, with that id, its standard error read to the end in the background (a
/// closed pipe would fail its next progress line).
pub struct Running {
    /// The process.
    pub child: Child,
    /// The operation it started.
    pub id: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    /// Spawns `command` (standard output piped) and waits for the line naming its operation.
    pub fn spawn(command: Command) -> Running {
        Running::spawn_until(command, "; operation ")
    }

    /// Spawns `command` (standard output piped) and waits for a line of its standard error
    /// that contains `marker`; `id` is what follows `; operation ` on that line, if anything.
    pub fn spawn_until(mut command: Command, marker: &str) -> Running {
        let marker = marker.to_owned();
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ktrdr starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (named, id) = std::sync::mpsc::channel();
        let wanted = marker.clone();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(&wanted) {
                    let id = line.split_once("; operation ").map_or("", |(_, id)| id);
                    let _ = named.send(id.trim().to_owned());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let id = match id.recv() {
            Ok(id) => id,
            Err(_) => panic!(
                "no line with {marker:?}; stderr: {}",
                stderr.join().unwrap_or_default()
            ),
        };
        Running { child, id, stderr }
    }

    /// Waits for the end: the exit status, standard output and standard error.
    pub fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut stdout).expect("stdout reads");
        }
        let status = self.child.wait().expect("ktrdr exits");
        let stderr = self.stderr.join().unwrap_or_default();
        (status, stdout, stderr)
    }
}
