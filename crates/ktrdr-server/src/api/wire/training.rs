//! Trainings and models (`/api/v1/trainings/*`, `/api/v1/models`): the Python backend's shapes
//! (spec §4.2), every field kept, with its fields that were never filled now filled.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /api/v1/trainings/start`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrainingStartBody {
    /// Symbols in embedding order (at least one; empty takes the strategy's).
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Timeframes (empty takes the strategy's).
    #[serde(default)]
    pub timeframes: Vec<String>,
    /// The strategy: `<strategies dir>/<strategy_name>.yaml`.
    pub strategy_name: String,
    /// First day (`YYYY-MM-DD`) or instant (RFC 3339); default the first stored bar.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Last day (inclusive) or instant; default the last stored bar.
    #[serde(default)]
    pub end_date: Option<String>,
    /// Accepted and ignored, as in the Python backend: the operation id is the task id.
    #[serde(default)]
    pub task_id: Option<String>,
    /// Accepted; it had no effect in the Python backend and has none here.
    #[serde(default)]
    pub detailed_analytics: bool,
    /// Epochs instead of the strategy's (ours).
    #[serde(default)]
    pub epochs: Option<u32>,
    /// The RNG seed (ours; default 42).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Continue from the checkpoint of a cancelled or interrupted run (ours).
    #[serde(default)]
    pub resume: bool,
}

/// The answer to `POST /api/v1/trainings/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrainingStarted {
    /// Always true here (failures are error answers).
    pub success: bool,
    /// The training operation's id.
    pub task_id: String,
    /// `training_started`.
    pub status: String,
    /// What started.
    pub message: String,
    /// Symbols, resolved.
    pub symbols: Vec<String>,
    /// Timeframes, resolved (shortest first).
    pub timeframes: Vec<String>,
    /// The strategy.
    pub strategy_name: String,
    /// From the ETA history when it has a prior; `null` otherwise (the Python backend said 30
    /// for everything).
    pub estimated_duration_minutes: Option<f64>,
    /// Whether a training host service runs it.
    pub use_host_service: bool,
}

/// `training_metrics` of a performance answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerformanceTraining {
    /// Training loss of the last epoch.
    pub final_train_loss: f64,
    /// Validation loss of the last epoch.
    pub final_val_loss: f64,
    /// Training accuracy of the last epoch.
    pub final_train_accuracy: f64,
    /// Validation accuracy of the last epoch.
    pub final_val_accuracy: f64,
    /// Epochs run (the Python backend reported its progress items here).
    pub epochs_completed: u64,
    /// Whether early stopping ended the run.
    pub early_stopped: bool,
    /// Minutes in the training loop.
    pub training_time_minutes: f64,
    /// Best validation accuracy, whose weights were kept (ours).
    pub best_val_accuracy: f64,
    /// The epoch whose weights were kept (ours).
    pub best_epoch: u64,
}

/// `test_metrics` of a performance answer: the kept weights on the held-out latest rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerformanceTest {
    /// Mean cross-entropy.
    pub test_loss: f64,
    /// Share predicted right.
    pub test_accuracy: f64,
    /// Weighted precision.
    pub precision: f64,
    /// Weighted recall.
    pub recall: f64,
    /// Weighted F1.
    pub f1_score: f64,
}

/// `model_info` of a performance answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerformanceModel {
    /// Parameters × 4 bytes.
    pub model_size_bytes: u64,
    /// Parameters.
    pub parameters_count: u64,
    /// `multi_symbol_mlp_<n>symbols`.
    pub architecture: String,
    /// Where it is stored (ours).
    pub model_path: Option<String>,
    /// `<strategy>/<SYMBOLS>_<tf>_v<N>` (ours).
    pub model_name: Option<String>,
}

/// `GET /api/v1/trainings/{task_id}/performance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrainingPerformance {
    /// Always true here.
    pub success: bool,
    /// The operation.
    pub task_id: String,
    /// `completed`.
    pub status: String,
    /// Loss and accuracy.
    pub training_metrics: PerformanceTraining,
    /// Held-out metrics.
    pub test_metrics: PerformanceTest,
    /// The network.
    pub model_info: PerformanceModel,
    /// Per-symbol test metrics, each with its own embedding (ours).
    #[schema(value_type = Object)]
    pub per_symbol_metrics: Value,
    /// Loss and accuracy per epoch (ours; the web page's curves).
    #[schema(value_type = Object)]
    pub history: Value,
}

/// The live epoch history of a training (ours): `GET /api/v1/trainings/{task_id}/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrainingHistory {
    /// Always true here.
    pub success: bool,
    /// The operation.
    pub task_id: String,
    /// Epochs finished.
    pub epoch: u32,
    /// Epochs planned.
    pub total_epochs: u32,
    /// `train_loss`, `train_accuracy`, `val_loss`, `val_accuracy`, one value per epoch.
    #[schema(value_type = Object)]
    pub history: Value,
}

/// One stored model of `GET /api/v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelEntry {
    /// `<strategy>/<SYMBOLS>_<tf>_v<N>`: what `ktrdr models show` takes (the Python `name`).
    pub name: String,
    /// The same, as the Python clients also read `id`.
    pub id: String,
    /// Strategy.
    pub strategy_name: String,
    /// `AAPL_MSFT_1h`.
    pub series: String,
    /// N.
    pub version: u32,
    /// Whether `_latest` points at it.
    pub latest: bool,
    /// `metadata.json` as stored (symbol, timeframe, created_at, training_summary, …).
    #[schema(value_type = Object)]
    pub metadata: Value,
}

/// `GET /api/v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// Always true here.
    pub success: bool,
    /// Every stored model, by strategy, series and version.
    pub models: Vec<ModelEntry>,
    /// Their number.
    pub total: usize,
}
