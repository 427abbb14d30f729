//! The work of a training operation: here, step by step, or as a session of a training host
//! service.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ktrdr_ops::cancel::CancellationToken;
use ktrdr_ops::host::{HostClient, RequestOptions};
use ktrdr_ops::operations::{OperationContext, OperationError};
use ktrdr_ops::progress::ProgressHandle;
use serde_json::{json, Value};

use super::step::{DATA, FEATURES, LABELS, SAVE, TRAIN};
use super::{data, PrepareError, PreparedTraining, TrainingService};
use crate::checkpoint::Checkpoint;
use crate::features::{label_and_split, symbol_frame, FeatureSpec, SymbolBars};
use crate::host::request::start_request;
use crate::host::wire::{routes, SessionStatus, StartResponse, StopRequest, StopResponse};
use crate::monitor::TrainingMonitor;
use crate::progress::{TrainObserver, TrainProgress};
use crate::render::{detail, TrainingProgressRenderer};
use crate::store::{ModelStore, NewModel, SeriesKey};
use crate::train::{train, TrainOutcome};

fn step(progress: &ProgressHandle, index: usize) -> Result<(), OperationError> {
    progress.start_step(index).map_err(OperationError::failed)
}

/// Runs the training in this process.
pub(super) async fn here(
    service: &TrainingService,
    prepared: &PreparedTraining,
    ctx: &OperationContext,
    monitor: &TrainingMonitor,
) -> Result<Value, OperationError> {
    let progress = &ctx.progress;
    step(progress, DATA)?;
    let mut series = data::load_series(
        prepared,
        &service.store,
        service.manager.as_ref(),
        &ctx.token,
        progress,
    )
    .await?;
    ctx.token.check()?;

    step(progress, FEATURES)?;
    let spec = FeatureSpec::from_strategy(&prepared.strategy, &prepared.timeframes)
        .map_err(OperationError::failed)?;
    let total = prepared.symbols.len() as u64;
    let mut frames = Vec::with_capacity(prepared.symbols.len());
    for (done, symbol) in prepared.symbols.iter().enumerate() {
        ctx.token.check()?;
        progress.set_sub_progress(done as u64, total);
        progress.set_step_detail(format!("{symbol}: indicators, fuzzy sets, alignment, lags"));
        let bars = SymbolBars {
            symbol: symbol.to_string(),
            series: prepared
                .timeframes
                .iter()
                .filter_map(|tf| series.remove(&(symbol.clone(), *tf)).map(|s| (*tf, s)))
                .collect(),
        };
        let spec = spec.clone();
        // CPU work: off the runtime.
        let frame = tokio::task::spawn_blocking(move || symbol_frame(&spec, &bars))
            .await
            .map_err(OperationError::failed)?
            .map_err(OperationError::failed)?;
        frames.push(frame);
    }
    ctx.token.check()?;

    step(progress, LABELS)?;
    let dataset = {
        let (spec, strategy) = (spec.clone(), prepared.strategy.clone());
        tokio::task::spawn_blocking(move || {
            label_and_split(&spec, strategy.labels(), strategy.data_split(), &frames)
        })
        .await
        .map_err(OperationError::failed)?
        .map_err(OperationError::failed)?
    };
    progress.set_step_detail(format!(
        "{} train, {} validation, {} test rows of {} features",
        dataset.train.len(),
        dataset.validation.len(),
        dataset.test.len(),
        dataset.width()
    ));
    ctx.token.check()?;

    step(progress, TRAIN)?;
    let dataset = Arc::new(dataset);
    let network = prepared
        .strategy
        .mlp_spec(dataset.width(), dataset.symbols.len());
    let mut params = prepared.strategy.training_params().clone();
    params.seed = prepared.request.seed;
    params.epochs = prepared.epochs as usize;
    let key = series_key(prepared);
    let resume = if prepared.request.resume {
        let found = off_runtime(&service.models, &key, |m, k| m.load_checkpoint(k)).await?;
        Some(found.ok_or_else(|| OperationError::failed(no_checkpoint(&service.models, &key)))?)
    } else {
        None
    };
    let per_epoch = dataset.train.len().div_ceil(params.batch_size.max(1)) as u64;
    progress.set_renderer(Arc::new(TrainingProgressRenderer::new(
        "mlp",
        prepared.series_label(),
        Some(per_epoch),
    )));
    monitor.set_plan(prepared.epochs, per_epoch);
    if let Some(cp) = &resume {
        monitor.set_history(cp.history.clone());
    }
    let outcome = {
        let dataset = dataset.clone();
        let token = ctx.token.clone();
        let mut observer = Relay::new(
            progress.clone(),
            monitor.clone(),
            service.models.clone(),
            key.clone(),
            per_epoch,
        );
        tokio::task::spawn_blocking(move || {
            train(&dataset, &network, &params, &token, &mut observer, resume)
        })
        .await
        .map_err(OperationError::failed)?
        .map_err(OperationError::failed)?
    };
    let trained = match outcome {
        TrainOutcome::Completed(trained) => trained,
        TrainOutcome::Cancelled(checkpoint) => {
            let kept = checkpoint.clone();
            let checkpoint_path = off_runtime(&service.models, &key, move |m, k| {
                m.save_checkpoint(k, &kept)
            })
            .await?;
            // The token is cancelled: the runner records `cancelled` with this as what it kept.
            return Ok(json!({
                "checkpoint": checkpoint_path,
                "epochs_completed": checkpoint.position.epoch,
                "best_val_accuracy": checkpoint.best.as_ref().map(|b| b.val_accuracy),
                "resume": "run the same training again with resume to continue",
            }));
        }
    };

    step(progress, SAVE)?;
    let strategy_json: Value = serde_norway::from_str(&prepared.request.strategy.yaml)
        .map_err(|e| OperationError::failed(format!("the strategy as JSON: {e}")))?;
    let timeframes: Vec<String> = prepared.timeframes.iter().map(|t| t.to_string()).collect();
    let features = serde_json::to_value(&spec).map_err(OperationError::failed)?;
    let model = trained.model.clone();
    let metrics = trained.metrics.clone();
    let saved = off_runtime(&service.models, &key, move |m, k| {
        let saved = m.save(&NewModel {
            key: k,
            timeframes: &timeframes,
            strategy: &strategy_json,
            features: &features,
            model: &model,
            metrics: &metrics,
        })?;
        // The run is done: its checkpoint would only resume a finished model.
        if let Err(error) = m.remove_checkpoint(k) {
            tracing::warn!(%error, "could not remove the finished run's checkpoint");
        }
        Ok(saved)
    })
    .await?;
    let spec = trained.model.spec();
    let parameters = spec.parameter_count();
    let model_info = json!({
        "model_size_bytes": parameters * 4,
        "parameters_count": parameters,
        "trainable_parameters": parameters,
        "architecture": format!("multi_symbol_mlp_{}symbols", spec.num_symbols),
    });
    progress.set_step_detail(format!(
        "val acc {:.2}, test acc {:.2}",
        trained.metrics.best_val_accuracy, trained.metrics.test_metrics.test_accuracy
    ));
    Ok(json!({
        "model_path": saved.path,
        "model_name": saved.name,
        "training_metrics": trained.metrics,
        "test_metrics": trained.metrics.test_metrics,
        "per_symbol_metrics": trained.metrics.per_symbol_metrics,
        "model_info": model_info,
    }))
}

/// Relays the loop's progress into the operation's progress and the monitor, and keeps the
/// checkpoint of each finished epoch on disk so an interrupted process can resume.
struct Relay {
    progress: ProgressHandle,
    monitor: TrainingMonitor,
    models: ModelStore,
    key: SeriesKey,
    per_epoch: u64,
    last_val_accuracy: Option<f64>,
    last_checkpoint: Option<Instant>,
}

impl Relay {
    fn new(
        progress: ProgressHandle,
        monitor: TrainingMonitor,
        models: ModelStore,
        key: SeriesKey,
        per_epoch: u64,
    ) -> Self {
        Relay {
            progress,
            monitor,
            models,
            key,
            per_epoch,
            last_val_accuracy: None,
            last_checkpoint: None,
        }
    }
}

impl TrainObserver for Relay {
    fn progress(&mut self, p: &TrainProgress) {
        let done = (p.epoch.saturating_sub(1) as u64) * self.per_epoch + p.batch as u64;
        let total = p.total_epochs as u64 * self.per_epoch;
        if let (Some(val_loss), Some(val_accuracy)) = (p.val_loss, p.val_accuracy) {
            self.monitor
                .push_epoch(p.train_loss, p.train_accuracy, val_loss, val_accuracy);
            self.last_val_accuracy = Some(val_accuracy);
        } else {
            self.monitor.set_batch(p.batch as u64);
        }
        self.progress.set_sub_progress(done, total);
        self.progress
            .set_step_detail(detail::metrics(p.train_loss, self.last_val_accuracy));
    }

    fn wants_epoch_checkpoints(&self) -> bool {
        // A checkpoint is a few MB written with two fsyncs; short epochs would spend more time
        // saving than training. A cancel writes its own, so this bounds only what a crash loses.
        self.last_checkpoint
            .is_none_or(|at| at.elapsed() >= EPOCH_CHECKPOINT_EVERY)
    }

    fn epoch_checkpoint(&mut self, checkpoint: &Checkpoint) {
        self.last_checkpoint = Some(Instant::now());
        if let Err(error) = self.models.save_checkpoint(&self.key, checkpoint) {
            tracing::warn!(%error, "could not keep the epoch's checkpoint");
        }
    }
}

/// The models' key of `prepared`: strategy, symbols, base timeframe.
pub(super) fn series_key(prepared: &PreparedTraining) -> SeriesKey {
    SeriesKey {
        strategy: prepared.request.strategy.name.clone(),
        symbols: prepared.symbols.iter().map(ToString::to_string).collect(),
        timeframe: prepared.base_timeframe().to_string(),
    }
}

fn no_checkpoint(models: &ModelStore, key: &SeriesKey) -> String {
    format!(
        "nothing to resume: no checkpoint at {} (a cancelled or interrupted run of the same \
         strategy, symbols and timeframes leaves one)",
        models.checkpoint_path(key).display()
    )
}

/// Checks the checkpoint against the request: `resume` needs one; a fresh run is refused while
/// one exists, since its first epoch's checkpoint would overwrite the unfinished run's.
pub(super) fn check_checkpoint(
    models: &ModelStore,
    prepared: &PreparedTraining,
) -> Result<(), PrepareError> {
    let key = series_key(prepared);
    let path = models.checkpoint_path(&key);
    match (prepared.request.resume, path.is_file()) {
        (true, false) => Err(PrepareError::Input(no_checkpoint(models, &key))),
        (false, true) => Err(PrepareError::Input(format!(
            "an unfinished run of the same strategy, symbols and timeframes left {}: resume it, \
             or delete that file to start over",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Runs a model-store call on a blocking thread (they read and write files with fsyncs).
async fn off_runtime<T: Send + 'static>(
    models: &ModelStore,
    key: &SeriesKey,
    call: impl FnOnce(&ModelStore, &SeriesKey) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, OperationError> {
    let (models, key) = (models.clone(), key.clone());
    tokio::task::spawn_blocking(move || call(&models, &key))
        .await
        .map_err(OperationError::failed)?
        .map_err(OperationError::failed)
}

/// The least time between two epoch checkpoints.
const EPOCH_CHECKPOINT_EVERY: Duration = Duration::from_secs(10);

/// How often a host session's status is read while it runs.
const HOST_POLL: Duration = Duration::from_millis(250);
/// How long the host may stay unreachable before the training is failed.
const HOST_SILENCE: Duration = Duration::from_secs(60);

/// Runs the training as a session of the training host service `host`: its status relayed
/// into this operation's progress, a cancel sent as a stop.
pub(super) async fn on_host(
    host: &HostClient,
    prepared: &PreparedTraining,
    ctx: &OperationContext,
    monitor: &TrainingMonitor,
) -> Result<Value, OperationError> {
    let progress = &ctx.progress;
    step(progress, DATA)?;
    progress.set_step_detail(format!("starting on {}", host.base_url()));
    // Not cut short by a cancel: the host may have started the session already, and only its
    // id lets us stop it (an orphan would hold the host's one slot).
    let started: StartResponse = host
        .post_json(
            routes::START,
            &start_request(&prepared.request),
            RequestOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .map_err(|e| host_failure("start", &e))?;
    let session = started.session_id;
    if ctx.token.is_cancelled() {
        return stop_on_host(host, &session).await;
    }
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            _ = ctx.token.cancelled() => return stop_on_host(host, &session).await,
            () = tokio::time::sleep(HOST_POLL) => {}
        }
        let status: SessionStatus = match host.get_json(&routes::status(&session), &ctx.token).await
        {
            Ok(status) => status,
            Err(_) if ctx.token.is_cancelled() => return stop_on_host(host, &session).await,
            Err(e) if last_heard.elapsed() < HOST_SILENCE && !e.is_status() => continue,
            Err(e) => return Err(host_failure("status", &e)),
        };
        last_heard = Instant::now();
        relay_status(&status, progress, monitor, prepared);
        match status.status.as_str() {
            "completed" => {
                let mut result = status.result.unwrap_or_else(|| json!({}));
                result["session_id"] = session.clone().into();
                result["host_service_used"] = true.into();
                result["host_url"] = host.base_url().as_str().into();
                return Ok(result);
            }
            "failed" => {
                return Err(OperationError::failed(format!(
                    "training failed on the host (session {session}): {}",
                    status.error.unwrap_or_else(|| "no reason given".to_owned())
                )))
            }
            "stopped" => {
                return Err(OperationError::failed(format!(
                    "the host stopped session {session} (not at our request)"
                )))
            }
            _ => {}
        }
    }
}

/// The host session's state as this operation's progress.
fn relay_status(
    status: &SessionStatus,
    progress: &ProgressHandle,
    monitor: &TrainingMonitor,
    prepared: &PreparedTraining,
) {
    let p = &status.progress;
    if status.status == "running" && p.total_batches > 0 {
        if progress.snapshot().step_index < TRAIN {
            let _ = progress.start_step(TRAIN);
            progress.set_renderer(Arc::new(TrainingProgressRenderer::new(
                "mlp",
                prepared.series_label(),
                Some(p.total_batches),
            )));
        }
        let done = u64::from(p.epoch) * p.total_batches + p.batch;
        progress.set_sub_progress(done, u64::from(p.total_epochs) * p.total_batches);
        let loss = status
            .metrics
            .get("train_loss")
            .and_then(|v| v.last().copied());
        let val = status
            .metrics
            .get("val_accuracy")
            .and_then(|v| v.last().copied());
        if let Some(loss) = loss {
            progress.set_step_detail(detail::metrics(loss, val));
        }
    } else if status.status == "initializing" {
        progress.set_step_detail(format!("on the host: {}", p.message));
    }
    monitor.set_plan(p.total_epochs, p.total_batches);
    let history = crate::metrics::History {
        train_loss: status
            .metrics
            .get("train_loss")
            .cloned()
            .unwrap_or_default(),
        train_accuracy: status
            .metrics
            .get("train_accuracy")
            .cloned()
            .unwrap_or_default(),
        val_loss: status.metrics.get("val_loss").cloned().unwrap_or_default(),
        val_accuracy: status
            .metrics
            .get("val_accuracy")
            .cloned()
            .unwrap_or_default(),
    };
    monitor.set_history(history);
    monitor.set_batch(p.batch);
}

/// Sends the stop and returns what the host kept; the operation's token is cancelled, so the
/// runner records `cancelled` with it.
async fn stop_on_host(host: &HostClient, session: &str) -> Result<Value, OperationError> {
    // The operation's token is cancelled; the stop must still go out.
    let own = CancellationToken::new();
    let request = StopRequest {
        session_id: session.to_owned(),
        save_checkpoint: true,
    };
    let stopped: StopResponse = host
        .post_json(routes::STOP, &request, RequestOptions::default(), &own)
        .await
        .map_err(|e| host_failure("stop", &e))?;
    Ok(json!({
        "session_id": session,
        "host_status": stopped.status,
        "checkpoint_saved": stopped.checkpoint_saved,
        "host_message": stopped.message,
    }))
}

fn host_failure(what: &str, error: &ktrdr_ops::host::HostError) -> OperationError {
    let detail = error
        .body()
        .and_then(|b| serde_json::from_str::<crate::host::wire::Refusal>(b).ok())
        .map_or_else(|| error.to_string(), |r| r.detail);
    OperationError::failed(format!("training host service, {what}: {detail}"))
}
