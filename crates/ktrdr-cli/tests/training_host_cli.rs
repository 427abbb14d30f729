//! The training host service end to end: a `ktrdr training-host-service` child runs the real
//! pipeline for `ktrdr models train --training-host-url`, relays its progress, and stops (keeping a
//! checkpoint) when the client is interrupted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{cli, signal, Running};

const STRATEGY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/strategies/rsi_mean_reversion.yaml"
);

/// `ktrdr training-host-service --port 0 --source sim` on its own home, data and models
/// directories under `root`, killed when dropped.
struct TrainingHost {
    child: Child,
    url: String,
    models: PathBuf,
}

impl TrainingHost {
    fn start(root: &Path) -> TrainingHost {
        let models = root.join("host-models");
        let mut child = cli(&root.join("host-home"), &root.join("host-data"))
            .args(["training-host-service", "--port", "0", "--source", "sim"])
            .env("KTRDR_MODELS_DIR", &models)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ktrdr training-host-service starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .expect("it prints its URL");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_owned();
        TrainingHost { child, url, models }
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for TrainingHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ktrdr models train` of rsi_mean_reversion on AAPL 1h, on `host`.
fn train_on(root: &Path, host: &TrainingHost, epochs: &str) -> Command {
    let mut command = cli(&root.join("home"), &root.join("data"));
    command
        .env("KTRDR_MODELS_DIR", root.join("models"))
        .args([
            "models",
            "train",
            STRATEGY,
            "AAPL",
            "1h",
            "--training-host-url",
            &host.url,
        ])
        .args([
            "--start-date",
            "2024-03-01",
            "--end-date",
            "2024-10-31",
            "--epochs",
            epochs,
        ]);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_runs_on_the_host_and_its_model_is_saved_there() {
    let dir = tempfile::tempdir().unwrap();
    let host = TrainingHost::start(dir.path());
    let out = train_on(dir.path(), &host, "2")
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    let summary = &outcome["result_summary"];
    assert_eq!(summary["host_service_used"], true, "{summary}");
    let session = summary["session_id"].as_str().unwrap();
    // The model is the host's: saved under its models directory, not the client's.
    let saved = host.models.join("rsi_mean_reversion/AAPL_1h_v1");
    assert!(saved.join("model.safetensors").is_file(), "{summary}");
    assert!(!dir.path().join("models").exists());

    let status = host.get(&format!("/training/status/{session}")).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        status["metrics"]["val_accuracy"].as_array().unwrap().len(),
        2
    );
    assert_eq!(status["progress"]["total_epochs"], 2);
    let sessions = host.get("/training/sessions").await;
    assert_eq!(sessions["total_sessions"], 1, "{sessions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_the_client_stops_the_host_session_and_keeps_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let host = TrainingHost::start(dir.path());
    let running = Running::spawn(train_on(dir.path(), &host, "500"));
    // Wait until the host trains: a stop then interrupts epochs, not the data load.
    let session = loop {
        let sessions = host.get("/training/sessions").await;
        let running_epochs = sessions["sessions"]
            .as_array()
            .and_then(|s| s.first())
            .filter(|s| s["status"] == "running" && s["progress"]["epoch"].as_u64() >= Some(1));
        if let Some(s) = running_epochs {
            break s["session_id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    signal(running.child.id(), "INT");
    let (status, stdout, stderr) = running.finish();
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.contains("--resume"), "{stdout}");

    let after = host.get(&format!("/training/status/{session}")).await;
    assert_eq!(after["status"], "stopped", "{after}");
    let checkpoint = host
        .models
        .join("rsi_mean_reversion/AAPL_1h.checkpoint.json");
    assert!(checkpoint.is_file(), "{after}");
    // The client's operation says what the host kept.
    let shown = cli(&dir.path().join("home"), &dir.path().join("data"))
        .args(["ops", "show", &running_id(&stderr), "--json"])
        .output()
        .unwrap();
    let op: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(op["status"], "cancelled", "{op}");
    assert_eq!(op["result_summary"]["checkpoint_saved"], true, "{op}");
}

fn running_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| {
            l.split_once("; operation ")
                .map(|(_, id)| id.trim().to_owned())
        })
        .expect("the client names its operation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_session_is_refused_while_one_trains_and_unknown_sessions_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let host = TrainingHost::start(dir.path());
    let client = reqwest::Client::new();
    let yaml = std::fs::read_to_string(STRATEGY).unwrap();
    let body = serde_json::json!({
        "model_configuration": {"strategy_yaml": yaml, "strategy_name": "rsi_mean_reversion",
            "symbols": ["AAPL"], "timeframes": ["1h"]},
        "training_configuration": {"start_date": "2024-03-01", "end_date": "2024-10-31", "epochs": 500},
    });
    let start = |body: Value| {
        let client = client.clone();
        let url = format!("{}/training/start", host.url);
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let first = start(body.clone()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let second = start(body).await;
    assert_eq!(second.status(), 409);
    let refusal: Value = second.json().await.unwrap();
    assert!(refusal["detail"]
        .as_str()
        .unwrap()
        .contains("one session runs at a time"));

    let unknown = client
        .get(format!("{}/training/status/nope", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let stop = client
        .post(format!("{}/training/stop", host.url))
        .json(&serde_json::json!({"session_id": first["session_id"]}))
        .send()
        .await
        .unwrap();
    let stopped: Value = stop.json().await.unwrap();
    assert_eq!(stopped["status"], "stopped", "{stopped}");
}
