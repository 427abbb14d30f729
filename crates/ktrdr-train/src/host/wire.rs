//! The training host service's JSON shapes (the Python `training-host-service` protocol, spec
//! §4.1), shared by the server (`ktrdr training-host-service`) and the client (a training
//! operation's host mode), so the two cannot drift. Fields the Python service has keep their
//! names; ours are additions a Python client ignores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The routes, relative to the service's base URL.
pub mod routes {
    /// Service description.
    pub const ROOT: &str = "/";
    /// Liveness.
    pub const HEALTH: &str = "/health";
    /// Start a session.
    pub const START: &str = "/training/start";
    /// Stop a session (a cancel that keeps the best checkpoint).
    pub const STOP: &str = "/training/stop";
    /// A session's status: `/training/status/{session_id}`.
    pub const STATUS: &str = "/training/status/{session_id}";
    /// Every session.
    pub const SESSIONS: &str = "/training/sessions";
    /// One session, to delete an ended one: `/training/sessions/{session_id}`.
    pub const SESSION: &str = "/training/sessions/{session_id}";

    /// The status route of `session_id`.
    pub fn status(session_id: &str) -> String {
        format!("/training/status/{session_id}")
    }
}

/// The name `GET /` and `/health` report.
pub const SERVICE_NAME: &str = "ktrdr training host service";

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// [`SERVICE_NAME`].
    pub service: String,
    /// The ktrdr version.
    pub version: String,
    /// `running`.
    pub status: String,
    /// Now, RFC 3339.
    pub timestamp: String,
    /// Whether a GPU backend is compiled in and found.
    pub gpu_available: bool,
    /// GPUs in use (0 on the CPU).
    pub gpu_device_count: u32,
    /// `cpu`, `cuda` or `metal`.
    pub gpu_type: String,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Always true when the service answers.
    pub healthy: bool,
    /// [`SERVICE_NAME`].
    pub service: String,
    /// Now, RFC 3339.
    pub timestamp: String,
    /// `operational`.
    pub status: String,
}

/// `model_configuration` of a start request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelConfiguration {
    /// The strategy file's path, as the Python adapter sends it; read by the service when
    /// `strategy_yaml` is absent.
    #[serde(default)]
    pub strategy_config: Option<String>,
    /// The strategy file's text (ours): the service need not share the client's disk.
    #[serde(default)]
    pub strategy_yaml: Option<String>,
    /// The strategy's name (ours; the file stem), for the model's directory.
    #[serde(default)]
    pub strategy_name: Option<String>,
    /// Symbols to train on.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Timeframes to train on.
    #[serde(default)]
    pub timeframes: Vec<String>,
    /// `mlp`, the only one.
    #[serde(default)]
    pub model_type: Option<String>,
    /// Whether the Python adapter took its multi-symbol path (always true there; informative).
    #[serde(default)]
    pub multi_symbol: Option<bool>,
}

/// `training_configuration` of a start request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingConfiguration {
    /// Accepted and ignored: every strategy file has a `data_split`, which is used.
    #[serde(default)]
    pub validation_split: Option<f64>,
    /// First day of data, `YYYY-MM-DD` or RFC 3339.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Last day of data (inclusive).
    #[serde(default)]
    pub end_date: Option<String>,
    /// Accepted and ignored: a missing series is loaded when the service has a data source
    /// (`ktrdr training-host-service --source …`), never otherwise.
    #[serde(default)]
    pub data_mode: Option<String>,
    /// Epochs instead of the strategy's (ours: short runs).
    #[serde(default)]
    pub epochs: Option<u32>,
    /// The RNG seed (ours).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Continue from the checkpoint of an earlier stopped run of the same model (ours).
    #[serde(default)]
    pub resume: bool,
}

/// `data_configuration` of a start request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataConfiguration {
    /// Symbols (the Python adapter repeats them here).
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Timeframes.
    #[serde(default)]
    pub timeframes: Vec<String>,
    /// Accepted and ignored: the service's own `--source` is where missing data comes from.
    #[serde(default)]
    pub data_source: Option<String>,
}

/// `POST /training/start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartRequest {
    /// A session id the client chose; the service makes one otherwise.
    #[serde(default)]
    pub session_id: Option<String>,
    /// What to train.
    pub model_configuration: ModelConfiguration,
    /// How.
    #[serde(default)]
    pub training_configuration: TrainingConfiguration,
    /// On what.
    #[serde(default)]
    pub data_configuration: DataConfiguration,
    /// Accepted and ignored: the device is chosen when the service is built.
    #[serde(default)]
    pub gpu_configuration: Option<Value>,
}

/// The answer to `POST /training/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartResponse {
    /// The session (the service's operation id).
    pub session_id: String,
    /// `started`.
    pub status: String,
    /// What started.
    pub message: String,
    /// Whether a GPU runs it.
    pub gpu_allocated: bool,
    /// From the service's ETA history; the Python service said 30 for everything.
    pub estimated_duration_minutes: Option<f64>,
}

/// `POST /training/stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopRequest {
    /// The session to stop.
    pub session_id: String,
    /// Keep the best checkpoint so far (always kept; accepted for compatibility).
    #[serde(default = "yes")]
    pub save_checkpoint: bool,
}

fn yes() -> bool {
    true
}

/// The answer to `POST /training/stop`, once the session has stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopResponse {
    /// The session.
    pub session_id: String,
    /// `stopped`, or the status it had ended with before the stop arrived.
    pub status: String,
    /// What happened.
    pub message: String,
    /// Whether a checkpoint to `resume` from exists.
    pub checkpoint_saved: bool,
}

/// The `progress` of a status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionProgress {
    /// Epochs finished.
    pub epoch: u32,
    /// Epochs planned.
    pub total_epochs: u32,
    /// Batches finished in the current epoch.
    pub batch: u64,
    /// Batches per epoch.
    pub total_batches: u64,
    /// The whole operation's percent (data and features included), never going back.
    pub progress_percent: f64,
    /// The operation's progress line (ours).
    #[serde(default)]
    pub message: String,
    /// Seconds left, when estimated (ours).
    #[serde(default)]
    pub eta_seconds: Option<f64>,
}

/// `GET /training/status/{session_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The session.
    pub session_id: String,
    /// `initializing`, `running`, `completed`, `failed` or `stopped`.
    pub status: String,
    /// Where it is.
    pub progress: SessionProgress,
    /// Per-epoch history: `train_loss`, `train_accuracy`, `val_loss`, `val_accuracy`, each
    /// one value per finished epoch.
    pub metrics: BTreeMap<String, Vec<f64>>,
    /// Device facts.
    pub gpu_usage: Value,
    /// RFC 3339.
    pub start_time: String,
    /// RFC 3339.
    pub last_updated: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The operation's result summary once it has ended (ours): the model's path and metrics,
    /// or what a stopped run kept.
    #[serde(default)]
    pub result: Option<Value>,
}

/// `GET /training/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    /// Each session's status.
    pub sessions: Vec<SessionStatus>,
    /// Their number.
    pub total_sessions: usize,
    /// Now, RFC 3339.
    pub timestamp: String,
}

/// A refusal: `{detail}`, FastAPI's error shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// What is wrong.
    pub detail: String,
}
