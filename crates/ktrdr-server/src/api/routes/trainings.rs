//! `/trainings/*` and `/models`: start a training as an operation, its performance once it has
//! completed, its live epoch history, and the stored models.

use axum::extract::{Path, State};
use axum::Json;
use ktrdr_ops::registry::OperationStatus;
use ktrdr_train::pipeline::{date_bound, PrepareError, StrategySource, TrainingRequest};
use ktrdr_train::strategy::StrategyError;
use serde_json::{json, Value};

use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::ApiJson;
use crate::api::wire::{
    ModelEntry, ModelList, PerformanceModel, PerformanceTest, PerformanceTraining, TrainingHistory,
    TrainingPerformance, TrainingStartBody, TrainingStarted,
};
use crate::api::ApiState;

/// `POST /trainings/start`: starts a `training` operation and answers at once with its id
/// (`task_id`); follow it at `GET /operations/{id}` or its event stream.
///
/// The strategy is `<strategies dir>/<strategy_name>.yaml` (`ktrdr serve --strategies-dir`);
/// every problem in it is listed in a 400. Symbols and timeframes default to its
/// `training_data`. A missing series is loaded first when the server has a data source.
#[utoipa::path(
    post,
    path = "/api/v1/trainings/start",
    tag = "training",
    request_body = TrainingStartBody,
    responses(
        (status = 200, description = "Started", body = TrainingStarted),
        (status = 400, description = "The strategy has errors (all listed in details), or a bad symbol, timeframe or date", body = ErrorBody),
        (status = 404, description = "No such strategy file", body = ErrorBody),
    )
)]
pub(crate) async fn start(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<TrainingStartBody>,
) -> Result<Json<TrainingStarted>, ApiError> {
    let name = body.strategy_name.trim();
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.');
    if !plain {
        return Err(ApiError::invalid_field(
            "strategy_name",
            format!("{name:?} is not a strategy file name (letters, digits, '_', '-', '.')"),
            &[],
        ));
    }
    let training = state.training().clone();
    let path = training.strategies_dir().join(format!("{name}.yaml"));
    if !path.is_file() {
        return Err(ApiError::not_found(
            "TRAINING-StrategyNotFound",
            format!("no strategy {name:?}: {} does not exist", path.display()),
        ));
    }
    let bad = |e: String| ApiError::bad_request("TRAINING-InvalidRequest", e);
    let request = TrainingRequest {
        strategy: StrategySource::read(&path).map_err(|e| bad(e.to_string()))?,
        symbols: body.symbols.clone(),
        timeframes: body.timeframes.clone(),
        start: date_bound(body.start_date.as_deref(), "start_date", false).map_err(bad)?,
        end: date_bound(body.end_date.as_deref(), "end_date", true).map_err(bad)?,
        epochs: body.epochs,
        seed: body.seed.unwrap_or(TrainingRequest::DEFAULT_SEED),
        resume: body.resume,
    };
    let service = training.service().clone();
    let prepared = tokio::task::spawn_blocking(move || service.prepare(request))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            PrepareError::Strategy(error) => {
                let problems = match &error {
                    StrategyError::Invalid { report, .. } => json!(report.errors),
                    other => json!([{ "path": "", "message": other.to_string() }]),
                };
                ApiError::bad_request(
                    "TRAINING-InvalidStrategy",
                    format!("strategy {name} has errors: {error}"),
                )
                .with_details(json!({ "problems": problems }))
            }
            PrepareError::Input(message) => bad(message),
        })?;
    let symbols = prepared.symbols.iter().map(ToString::to_string).collect();
    let timeframes = prepared
        .timeframes
        .iter()
        .map(ToString::to_string)
        .collect();
    let message = format!("Training {} started", prepared.describe());
    let operations = state.operations().clone();
    let starting = training.clone();
    // `Operations::run` writes the pending record before it returns.
    let started =
        tokio::task::spawn_blocking(move || starting.service().start(&operations, prepared))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
    training.track(&started);
    let eta = started.handle.progress().snapshot().eta;
    Ok(Json(TrainingStarted {
        success: true,
        task_id: started.handle.id().to_owned(),
        status: "training_started".to_owned(),
        message,
        symbols,
        timeframes,
        strategy_name: name.to_owned(),
        estimated_duration_minutes: eta.map(|e| e.remaining_secs / 60.0),
        use_host_service: training.service().is_on_host(),
    }))
}

/// The stored record of training `id`, 404 when there is none or it is another type.
async fn training_record(
    state: &ApiState,
    id: String,
) -> Result<ktrdr_ops::registry::OperationRecord, ApiError> {
    let record = state
        .blocking(move |s| {
            s.registry()
                .get(&id)
                .map_err(ApiError::internal)
                .map(|r| (id, r))
        })
        .await?;
    match record {
        (_, Some(r)) if r.operation_type == ktrdr_train::pipeline::OPERATION_KIND => Ok(r),
        (id, _) => Err(ApiError::not_found(
            "TRAINING-NotFound",
            format!("no training operation {id}"),
        )),
    }
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// `GET /trainings/{task_id}/performance`: the metrics of a completed training (404 until it
/// has completed, as in the Python backend).
#[utoipa::path(
    get,
    path = "/api/v1/trainings/{task_id}/performance",
    tag = "training",
    params(("task_id" = String, Path, description = "The training operation's id")),
    responses(
        (status = 200, description = "Its metrics", body = TrainingPerformance),
        (status = 404, description = "No such training, or it has not completed", body = ErrorBody),
    )
)]
pub(crate) async fn performance(
    State(state): State<ApiState>,
    Path(task_id): Path<String>,
) -> Result<Json<TrainingPerformance>, ApiError> {
    let record = training_record(&state, task_id.clone()).await?;
    if record.status != OperationStatus::Completed {
        return Err(ApiError::not_found(
            "TRAINING-NotCompleted",
            format!(
                "training {task_id} is {}; its performance exists once it has completed",
                record.status
            ),
        ));
    }
    let summary = record.result_summary.unwrap_or_default();
    let m = &summary["training_metrics"];
    let t = &summary["test_metrics"];
    let info = &summary["model_info"];
    Ok(Json(TrainingPerformance {
        success: true,
        task_id,
        status: "completed".to_owned(),
        training_metrics: PerformanceTraining {
            final_train_loss: number(&m["final_train_loss"]),
            final_val_loss: number(&m["final_val_loss"]),
            final_train_accuracy: number(&m["final_train_accuracy"]),
            final_val_accuracy: number(&m["final_val_accuracy"]),
            epochs_completed: m["epochs_trained"].as_u64().unwrap_or(0),
            early_stopped: m["early_stopped"].as_bool().unwrap_or(false),
            training_time_minutes: number(&m["training_time"]) / 60.0,
            best_val_accuracy: number(&m["best_val_accuracy"]),
            best_epoch: m["best_epoch"].as_u64().unwrap_or(0),
        },
        test_metrics: PerformanceTest {
            test_loss: number(&t["test_loss"]),
            test_accuracy: number(&t["test_accuracy"]),
            precision: number(&t["precision"]),
            recall: number(&t["recall"]),
            f1_score: number(&t["f1_score"]),
        },
        model_info: PerformanceModel {
            model_size_bytes: info["model_size_bytes"].as_u64().unwrap_or(0),
            parameters_count: info["parameters_count"].as_u64().unwrap_or(0),
            architecture: info["architecture"].as_str().unwrap_or("mlp").to_owned(),
            model_path: summary["model_path"].as_str().map(str::to_owned),
            model_name: summary["model_name"].as_str().map(str::to_owned),
        },
        per_symbol_metrics: summary["per_symbol_metrics"].clone(),
        history: m["history"].clone(),
    }))
}

/// `GET /trainings/{task_id}/history`: loss and accuracy per finished epoch, live while this
/// server runs the training, from its stored result afterwards (ours: the web page's curves).
#[utoipa::path(
    get,
    path = "/api/v1/trainings/{task_id}/history",
    tag = "training",
    params(("task_id" = String, Path, description = "The training operation's id")),
    responses(
        (status = 200, description = "Per-epoch history", body = TrainingHistory),
        (status = 404, description = "No such training", body = ErrorBody),
    )
)]
pub(crate) async fn history(
    State(state): State<ApiState>,
    Path(task_id): Path<String>,
) -> Result<Json<TrainingHistory>, ApiError> {
    if let Some(monitor) = state.training().monitor(&task_id) {
        let s = monitor.snapshot();
        return Ok(Json(TrainingHistory {
            success: true,
            task_id,
            epoch: s.epoch,
            total_epochs: s.total_epochs,
            history: serde_json::to_value(&s.history).map_err(ApiError::internal)?,
        }));
    }
    let record = training_record(&state, task_id.clone()).await?;
    let summary = record.result_summary.unwrap_or_default();
    let history = summary["training_metrics"]["history"].clone();
    let epochs = history["val_loss"].as_array().map_or(0, Vec::len);
    let planned = record.metadata["epochs"].as_u64().unwrap_or(epochs as u64);
    Ok(Json(TrainingHistory {
        success: true,
        task_id,
        epoch: u32::try_from(epochs).unwrap_or(u32::MAX),
        total_epochs: u32::try_from(planned).unwrap_or(u32::MAX),
        history,
    }))
}

/// `GET /models`: every stored model (`ktrdr models list`), newest version last per series.
#[utoipa::path(
    get,
    path = "/api/v1/models",
    tag = "training",
    responses((status = 200, description = "Stored models", body = ModelList))
)]
pub(crate) async fn models(State(state): State<ApiState>) -> Result<Json<ModelList>, ApiError> {
    let store = state.training().service().models().clone();
    let listed = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let models: Vec<ModelEntry> = listed
        .into_iter()
        .map(|m| ModelEntry {
            id: m.name.clone(),
            name: m.name,
            strategy_name: m.strategy,
            series: m.series,
            version: m.version,
            latest: m.latest,
            metadata: m.metadata,
        })
        .collect();
    Ok(Json(ModelList {
        success: true,
        total: models.len(),
        models,
    }))
}
