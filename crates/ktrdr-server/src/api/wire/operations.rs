//! Operations on the wire: [`OperationInfo`] (one operation, whole), [`OperationSummary`] (a row
//! of a listing), built from the registry's [`OperationRecord`].

use chrono::{DateTime, Utc};
use ktrdr_data::types::LoadMode;
use ktrdr_ops::progress::ProgressState;
use ktrdr_ops::registry::{OperationRecord, OperationStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The operation types of the contract (its `OperationType`), which clients filter by; the
/// runner records any type name, these are the ones the API knows.
pub const OPERATION_TYPES: [&str; 5] = [
    "data_load",
    "training",
    "backtesting",
    "indicator_compute",
    "fuzzy_analysis",
];

/// Progress as the Python clients read it, plus our step, ETA and elapsed fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationProgress {
    /// 0..=100, never falling.
    pub percentage: f64,
    /// The human message of the current state (not a step index).
    pub current_step: Option<String>,
    /// Steps of the plan finished.
    pub steps_completed: usize,
    /// Steps in the plan.
    pub steps_total: usize,
    /// Items (bars, segments, batches) done.
    pub items_processed: u64,
    /// Items expected, when known.
    pub items_total: Option<u64>,
    /// What is being worked on now (the step's detail).
    pub current_item: Option<String>,
    /// Seconds left (point estimate), when an estimate exists.
    pub eta_seconds: Option<f64>,
    /// Optimistic end of the ETA range.
    pub eta_low_seconds: Option<f64>,
    /// Pessimistic end of the ETA range.
    pub eta_high_seconds: Option<f64>,
    /// Zero-based index of the current step.
    pub step_index: usize,
    /// Steps in the plan (same as `steps_total`).
    pub step_count: usize,
    /// Name of the current step.
    pub step_name: Option<String>,
    /// Seconds since the work started.
    pub elapsed_seconds: f64,
    /// When this progress was taken (the work's start plus `elapsed_seconds`): how fresh it is.
    pub as_of: Option<DateTime<Utc>>,
}

impl OperationProgress {
    /// The progress of an operation that has not reported any yet.
    pub fn empty() -> Self {
        OperationProgress {
            percentage: 0.0,
            current_step: None,
            steps_completed: 0,
            steps_total: 0,
            items_processed: 0,
            items_total: None,
            current_item: None,
            eta_seconds: None,
            eta_low_seconds: None,
            eta_high_seconds: None,
            step_index: 0,
            step_count: 0,
            step_name: None,
            elapsed_seconds: 0.0,
            as_of: None,
        }
    }
}

impl From<&ProgressState> for OperationProgress {
    fn from(state: &ProgressState) -> Self {
        let steps_completed = if state.phase.is_finished() && state.percent >= 100.0 {
            state.step_count
        } else {
            state.step_index.min(state.step_count)
        };
        let eta = state.eta.as_ref();
        OperationProgress {
            percentage: state.percent.clamp(0.0, 100.0),
            current_step: non_empty(&state.message),
            steps_completed,
            steps_total: state.step_count,
            items_processed: state.items.map_or(0, |c| c.done),
            items_total: state.items.and_then(|c| c.total),
            current_item: state.step_detail.clone(),
            eta_seconds: eta.map(|e| e.remaining_secs),
            eta_low_seconds: eta.map(|e| e.low_secs),
            eta_high_seconds: eta.map(|e| e.high_secs),
            step_index: state.step_index,
            step_count: state.step_count,
            step_name: non_empty(&state.step_name),
            elapsed_seconds: state.elapsed_secs,
            as_of: std::time::Duration::try_from_secs_f64(state.elapsed_secs)
                .ok()
                .and_then(|elapsed| chrono::Duration::from_std(elapsed).ok())
                .and_then(|elapsed| state.started_at.checked_add_signed(elapsed)),
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// What an operation was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationMetadata {
    /// The instrument, when the operation has one.
    pub symbol: Option<String>,
    /// The bar size, when the operation has one.
    pub timeframe: Option<String>,
    /// The load mode (`local`, `tail`, `backfill`, `full`), for data loads.
    pub mode: Option<String>,
    /// First bar wanted.
    pub start_date: Option<String>,
    /// Last bar wanted.
    pub end_date: Option<String>,
    /// Everything else the operation was given.
    pub parameters: Map<String, Value>,
}

/// The keys of [`OperationMetadata`] read from a record's metadata; the rest are `parameters`.
const NAMED_KEYS: [&str; 8] = [
    "symbol",
    "timeframe",
    "mode",
    "start_date",
    "end_date",
    "start",
    "end",
    "parameters",
];

impl From<&Value> for OperationMetadata {
    fn from(metadata: &Value) -> Self {
        let text = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut parameters = match metadata.get("parameters") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        if let Value::Object(map) = metadata {
            for (key, value) in map {
                if !NAMED_KEYS.contains(&key.as_str()) && !value.is_null() {
                    parameters.insert(key.clone(), value.clone());
                }
            }
        }
        OperationMetadata {
            symbol: text("symbol"),
            timeframe: text("timeframe"),
            mode: text("mode"),
            start_date: text("start_date").or_else(|| text("start")),
            end_date: text("end_date").or_else(|| text("end")),
            parameters,
        }
    }
}

/// One operation, whole (`GET /operations/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationInfo {
    /// `op_{type}_{YYYYMMDD_HHMMSS}_{8 hex}`.
    pub operation_id: String,
    /// `data_load`, `training`, …
    pub operation_type: String,
    /// `pending|running|completed|failed|cancelled`, and our `cancelling|interrupted`.
    #[schema(value_type = String)]
    pub status: OperationStatus,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// Its latest progress.
    pub progress: OperationProgress,
    /// What it was asked to do.
    pub metadata: OperationMetadata,
    /// Why it failed (or the error a cancelled one stopped with).
    pub error_message: Option<String>,
    /// Warnings (kept for the contract; ours travel in the result summary).
    pub warnings: Vec<String>,
    /// Errors (kept for the contract).
    pub errors: Vec<String>,
    /// What the work reported at its end (for a cancelled one: what it kept).
    pub result_summary: Option<Value>,
    /// Seconds from start to end (to now while it runs).
    pub duration_seconds: Option<f64>,
    /// Why it was cancelled, in words.
    pub cancel_reason: Option<String>,
    /// The names of its steps, in order, when the server knows its plan (a load of one
    /// timeframe); `progress.step_index` points into it.
    pub step_plan: Option<Vec<String>>,
}

impl From<&OperationRecord> for OperationInfo {
    fn from(record: &OperationRecord) -> Self {
        OperationInfo {
            operation_id: record.id.clone(),
            operation_type: record.operation_type.clone(),
            status: record.status,
            created_at: record.created_at,
            started_at: record.started_at,
            completed_at: record.finished_at,
            progress: record
                .progress
                .as_ref()
                .map_or_else(OperationProgress::empty, OperationProgress::from),
            metadata: OperationMetadata::from(&record.metadata),
            error_message: record.error.clone(),
            warnings: Vec::new(),
            errors: Vec::new(),
            result_summary: record.result_summary.clone(),
            duration_seconds: duration_seconds(record),
            cancel_reason: record.cancel_reason.as_ref().map(ToString::to_string),
            step_plan: step_plan(record),
        }
    }
}

/// The step names of a load of one timeframe, from the mode in its metadata.
fn step_plan(record: &OperationRecord) -> Option<Vec<String>> {
    if record.operation_type != ktrdr_data::manager::OPERATION_KIND
        || record
            .metadata
            .get("timeframe")
            .and_then(Value::as_str)
            .is_none()
    {
        return None;
    }
    let mode: LoadMode = record.metadata.get("mode")?.as_str()?.parse().ok()?;
    let plan = ktrdr_data::manager::DataManager::plan(mode);
    Some(plan.steps().map(|(name, _)| name.to_owned()).collect())
}

/// One row of `GET /operations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationSummary {
    /// The id.
    pub operation_id: String,
    /// The type.
    pub operation_type: String,
    /// The status.
    #[schema(value_type = String)]
    pub status: OperationStatus,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// 0..=100.
    pub progress_percentage: f64,
    /// The current message.
    pub current_step: Option<String>,
    /// The instrument, when it has one.
    pub symbol: Option<String>,
    /// Seconds from start to end (to now while it runs).
    pub duration_seconds: Option<f64>,
    /// The bar size, when it has one.
    pub timeframe: Option<String>,
    /// Seconds left, when estimated.
    pub eta_seconds: Option<f64>,
    /// Optimistic end of the ETA range.
    pub eta_low_seconds: Option<f64>,
    /// Pessimistic end of the ETA range.
    pub eta_high_seconds: Option<f64>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
}

impl From<&OperationRecord> for OperationSummary {
    fn from(record: &OperationRecord) -> Self {
        let progress = record.progress.as_ref();
        let eta = progress.and_then(|p| p.eta.as_ref());
        let text = |key: &str| {
            record
                .metadata
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        OperationSummary {
            operation_id: record.id.clone(),
            operation_type: record.operation_type.clone(),
            status: record.status,
            created_at: record.created_at,
            progress_percentage: progress.map_or(0.0, |p| p.percent.clamp(0.0, 100.0)),
            current_step: progress.and_then(|p| non_empty(&p.message)),
            symbol: text("symbol"),
            duration_seconds: duration_seconds(record),
            timeframe: text("timeframe"),
            eta_seconds: eta.map(|e| e.remaining_secs),
            eta_low_seconds: eta.map(|e| e.low_secs),
            eta_high_seconds: eta.map(|e| e.high_secs),
            started_at: record.started_at,
        }
    }
}

fn duration_seconds(record: &OperationRecord) -> Option<f64> {
    record
        .duration()
        .map(|d| d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_names_the_contract_fields_and_keeps_the_rest_as_parameters() {
        let meta = OperationMetadata::from(&json!({
            "symbol": "AAPL", "timeframe": "1h", "mode": "tail",
            "start": "2024-01-01T00:00:00Z", "end": null, "provider": "sim",
        }));
        assert_eq!(meta.symbol.as_deref(), Some("AAPL"));
        assert_eq!(meta.start_date.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(meta.end_date, None);
        assert_eq!(Value::Object(meta.parameters), json!({"provider": "sim"}));
    }

    #[test]
    fn progress_says_when_it_was_taken() {
        let handle = ktrdr_ops::progress::ProgressHandle::new(
            "op_x",
            ktrdr_ops::progress::StepPlan::single("work"),
        );
        let state = handle.snapshot();
        let progress = OperationProgress::from(&state);
        let as_of = progress.as_of.expect("a finite elapsed time");
        let elapsed = (as_of - state.started_at).num_microseconds().unwrap();
        assert!((elapsed as f64 / 1e6 - state.elapsed_secs).abs() < 1e-5);
        let mut broken = state.clone();
        broken.elapsed_secs = f64::INFINITY;
        assert_eq!(OperationProgress::from(&broken).as_of, None);
    }

    #[test]
    fn a_new_record_has_every_contract_field() {
        let record = OperationRecord::pending("op_x", "data_load", json!({"symbol": "MSFT"}));
        let info = serde_json::to_value(OperationInfo::from(&record)).unwrap();
        for field in [
            "operation_id",
            "operation_type",
            "status",
            "created_at",
            "started_at",
            "completed_at",
            "progress",
            "metadata",
            "error_message",
            "warnings",
            "errors",
            "result_summary",
            "duration_seconds",
            "cancel_reason",
        ] {
            assert!(info.get(field).is_some(), "OperationInfo lacks {field}");
        }
        assert_eq!(info["status"], "pending");
        assert_eq!(info["progress"]["percentage"], 0.0);
        let summary = serde_json::to_value(OperationSummary::from(&record)).unwrap();
        assert_eq!(summary["symbol"], "MSFT");
        assert_eq!(summary["progress_percentage"], 0.0);
    }

    #[test]
    fn a_load_of_one_timeframe_names_its_steps() {
        let load = |metadata| {
            OperationInfo::from(&OperationRecord::pending("op_x", "data_load", metadata))
        };
        let plan = load(json!({"symbol": "MSFT", "timeframe": "1h", "mode": "tail"})).step_plan;
        let plan = plan.expect("a plan");
        assert_eq!(plan.len(), 7);
        assert_eq!(plan[5], ktrdr_data::render::steps::FETCH);
        assert_eq!(
            load(json!({"timeframe": "1h", "mode": "local"}))
                .step_plan
                .map(|p| p.len()),
            Some(3)
        );
        assert_eq!(
            load(json!({"timeframes": ["1h"], "mode": "tail"})).step_plan,
            None
        );
        let other = OperationRecord::pending(
            "op_y",
            "training",
            json!({"timeframe": "1h", "mode": "tail"}),
        );
        assert_eq!(OperationInfo::from(&other).step_plan, None);
    }
}
