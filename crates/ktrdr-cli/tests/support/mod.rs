//! `ktrdr serve` as a child process for the black-box tests: its own `KTRDR_HOME` and data
//! directory, a random loopback port, killed when dropped.

#![allow(dead_code, reason = "each test crate uses the part it needs")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        self.child.wait().expect("ktrdr serve exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
