//! The training loop: seeded, deterministic, cancellable between batches, resumable.
//!
//! One `ChaCha8Rng` seeded from [`TrainParams::seed`] draws, in this order, the initial
//! weights, then per epoch the shuffle of the training rows and the dropout masks of each batch.
//! Nothing else is random, and candle's CPU kernels are deterministic, so the same seed and data
//! give bit-identical weights and metrics. The RNG is part of the [`Checkpoint`], so a run
//! cancelled anywhere and resumed draws the same numbers as one that never stopped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use ktrdr_ops::cancel::CancellationToken;

use crate::backprop::{forward_backward, Batch};
use crate::checkpoint::{
    BestEpoch, Checkpoint, DataShape, EarlyStopState, Position, CHECKPOINT_FORMAT,
};
use crate::dataset::{Dataset, Samples};
use crate::evaluate::{evaluate, to_classes};
use crate::metrics::{Classification, History, SymbolMetrics, TestMetrics, TrainingMetrics};
use crate::model::{default_device, parameter_shapes, Mlp, ModelError};
use crate::optim::{clip_grad_norm, Optimizer, Scheduler};
use crate::progress::{TrainObserver, TrainProgress};
use crate::spec::{MlpSpec, Monitor, SpecError, TrainParams};

/// The least time between two batch progress reports.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(5);

/// Why training could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The network or parameters are invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The dataset does not fit the network or is unusable.
    #[error("dataset: {0}")]
    Data(String),
    /// The checkpoint belongs to another run.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// The loss stopped being a finite number.
    #[error("training diverged: loss {loss} at epoch {epoch}, batch {batch}")]
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch.
        batch: usize,
        /// The loss seen.
        loss: f64,
    },
    /// A model operation failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        Self::Model(ModelError::Candle(e))
    }
}

/// The result of a finished run.
#[derive(Debug, Clone)]
pub struct TrainedModel {
    /// The best-validation weights.
    pub model: Mlp,
    /// The content of `metrics.json`.
    pub metrics: TrainingMetrics,
}

/// How a call to [`train`] ended.
#[derive(Debug, Clone)]
pub enum TrainOutcome {
    /// Every epoch ran, or early stopping ended the run.
    Completed(Box<TrainedModel>),
    /// The token was cancelled; the checkpoint continues the run (and holds the best epoch so
    /// far).
    Cancelled(Box<Checkpoint>),
}

/// Trains `spec` on `dataset`, from scratch or from `resume`. Checks `cancel` before every
/// batch and every validation chunk, so a cancel returns within one batch's time.
pub fn train(
    dataset: &Dataset,
    spec: &MlpSpec,
    params: &TrainParams,
    cancel: &CancellationToken,
    observer: &mut dyn TrainObserver,
    resume: Option<Checkpoint>,
) -> Result<TrainOutcome, TrainError> {
    spec.validate()?;
    params.validate()?;
    check_dataset(dataset, spec)?;
    let mut run = match resume {
        None => Run::fresh(dataset, spec, params)?,
        Some(cp) => {
            if let Some(why) = cp.mismatch(dataset, spec, params) {
                return Err(TrainError::Resume(why));
            }
            Run::resume(dataset, cp)?
        }
    };
    run.run(cancel, observer)
}

/// A run in progress.
struct Run<'a> {
    data: &'a Dataset,
    spec: MlpSpec,
    params: TrainParams,
    device: Device,
    /// Host copies of the live weights, the optimizer's working set.
    host: Vec<Vec<f32>>,
    shapes: Vec<Vec<usize>>,
    optimizer: Optimizer,
    scheduler: Scheduler,
    rng: ChaCha8Rng,
    position: Position,
    best: Option<BestEpoch>,
    early_stop: EarlyStopState,
    history: History,
    elapsed_before: f64,
    started: Instant,
}

impl<'a> Run<'a> {
    fn fresh(data: &'a Dataset, spec: &MlpSpec, params: &TrainParams) -> Result<Self, TrainError> {
        let device = default_device();
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let model = Mlp::init(spec, &mut rng, &device)?;
        let host = model
            .params()
            .iter()
            .map(|t| t.flatten_all()?.to_vec1::<f32>())
            .collect::<Result<Vec<_>, _>>()?;
        let lengths: Vec<usize> = host.iter().map(Vec::len).collect();
        Self::build(
            data,
            spec,
            params,
            device,
            host,
            Optimizer::new(params, &lengths),
            Scheduler::new(params, None),
            rng,
            Position {
                epoch: 0,
                batch: 0,
                order: Vec::new(),
                loss_sum: 0.0,
                correct: 0,
                seen: 0,
            },
        )
    }

    fn resume(data: &'a Dataset, cp: Checkpoint) -> Result<Self, TrainError> {
        let shapes = parameter_shapes(&cp.spec);
        let fits = cp.weights.len() == shapes.len()
            && cp
                .weights
                .iter()
                .zip(&shapes)
                .all(|(w, s)| w.len() == s.iter().product::<usize>());
        if !fits {
            return Err(TrainError::Resume(
                "the checkpoint's weights do not fit its network".into(),
            ));
        }
        let mut run = Self::build(
            data,
            &cp.spec,
            &cp.params,
            default_device(),
            cp.weights,
            Optimizer::resume(&cp.params, cp.optimizer),
            Scheduler::new(&cp.params, Some(cp.scheduler)),
            cp.rng,
            cp.position,
        )?;
        run.best = cp.best;
        run.early_stop = cp.early_stop;
        run.history = cp.history;
        run.elapsed_before = cp.elapsed_secs;
        Ok(run)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        data: &'a Dataset,
        spec: &MlpSpec,
        params: &TrainParams,
        device: Device,
        host: Vec<Vec<f32>>,
        optimizer: Optimizer,
        scheduler: Scheduler,
        rng: ChaCha8Rng,
        position: Position,
    ) -> Result<Self, TrainError> {
        let shapes = parameter_shapes(spec);
        Ok(Self {
            data,
            spec: spec.clone(),
            params: params.clone(),
            device,
            host,
            shapes,
            optimizer,
            scheduler,
            rng,
            position,
            best: None,
            early_stop: EarlyStopState::default(),
            history: History::default(),
            elapsed_before: 0.0,
            started: Instant::now(),
        })
    }

    fn batches(&self) -> usize {
        self.data.train.len().div_ceil(self.params.batch_size)
    }

    fn run(
        &mut self,
        cancel: &CancellationToken,
        observer: &mut dyn TrainObserver,
    ) -> Result<TrainOutcome, TrainError> {
        let batches = self.batches();
        let mut last_report = Instant::now();
        while !self.early_stop.stopped && self.position.epoch < self.params.epochs {
            if self.position.order.is_empty() && self.position.batch == 0 {
                let mut order: Vec<u32> = (0..self.data.train.len() as u32).collect();
                order.shuffle(&mut self.rng);
                self.position.order = order;
            }
            while self.position.batch < batches {
                if cancel.is_cancelled() {
                    return Ok(TrainOutcome::Cancelled(Box::new(self.checkpoint())));
                }
                self.train_batch()?;
                if last_report.elapsed() >= PROGRESS_INTERVAL {
                    last_report = Instant::now();
                    observer.progress(&self.snapshot(None));
                }
            }
            let Some(val) = self.validate(cancel)? else {
                return Ok(TrainOutcome::Cancelled(Box::new(self.checkpoint())));
            };
            observer.progress(&self.snapshot(Some(val)));
            self.end_epoch(val);
            if observer.wants_epoch_checkpoints() {
                observer.epoch_checkpoint(&self.checkpoint());
            }
        }
        Ok(match self.finish(cancel)? {
            Some(m) => TrainOutcome::Completed(Box::new(m)),
            None => TrainOutcome::Cancelled(Box::new(self.checkpoint())),
        })
    }

    /// One optimizer step on the next batch of the epoch's order.
    fn train_batch(&mut self) -> Result<(), TrainError> {
        let bs = self.params.batch_size;
        let start = self.position.batch * bs;
        let end = (start + bs).min(self.position.order.len());
        let rows = &self.position.order[start..end];
        let (features, labels, symbols) = gather(&self.data.train, self.data.width(), rows);
        let batch = Batch {
            features: &features,
            symbols: &symbols,
            labels: &labels,
        };
        let mut step =
            forward_backward(&self.spec, &self.host, &batch, &mut self.rng, &self.device)?;
        if !step.loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch: self.position.epoch + 1,
                batch: self.position.batch + 1,
                loss: step.loss,
            });
        }
        if self.params.gradient_clip > 0.0 {
            clip_grad_norm(&mut step.grads, self.params.gradient_clip);
        }
        self.optimizer.step(&mut self.host, &mut step.grads);
        self.position.loss_sum += step.loss;
        self.position.correct += step.correct as u64;
        self.position.seen += rows.len() as u64;
        self.position.batch += 1;
        Ok(())
    }

    /// Validation loss and accuracy of the live weights; `None` if cancelled meanwhile.
    fn validate(&self, cancel: &CancellationToken) -> Result<Option<(f64, f64)>, TrainError> {
        let model = self.live_model()?;
        let Some(eval) = evaluate(
            &model,
            &self.data.validation,
            self.data.width(),
            Some(cancel),
        )?
        else {
            return Ok(None);
        };
        let classes = to_classes(&self.data.validation.labels);
        Ok(Some((
            eval.mean_loss(),
            Classification::of(&classes, &eval.predicted).accuracy,
        )))
    }

    /// Records the epoch, keeps its weights if best, steps the schedule, checks early stopping.
    fn end_epoch(&mut self, (val_loss, val_accuracy): (f64, f64)) {
        let batches = self.batches().max(1);
        let train_loss = self.position.loss_sum / batches as f64;
        let train_accuracy = self.position.correct as f64 / self.position.seen.max(1) as f64;
        self.history.train_loss.push(train_loss);
        self.history.train_accuracy.push(train_accuracy);
        self.history.val_loss.push(val_loss);
        self.history.val_accuracy.push(val_accuracy);
        let epoch = self.position.epoch + 1;

        let monitor = self
            .params
            .early_stopping
            .as_ref()
            .map_or(Monitor::ValAccuracy, |es| es.monitor);
        let is_best = match &self.best {
            None => true,
            Some(best) => match monitor {
                Monitor::ValAccuracy => val_accuracy > best.val_accuracy,
                Monitor::ValLoss => val_loss < best.val_loss,
            },
        };
        if is_best {
            self.best = Some(BestEpoch {
                epoch,
                val_loss,
                val_accuracy,
                weights: self.host.clone(),
            });
        }

        let lr = self.scheduler.step(self.optimizer.lr(), val_loss);
        self.optimizer.set_lr(lr);

        if let Some(es) = &self.params.early_stopping {
            let value = match es.monitor {
                Monitor::ValLoss => val_loss,
                Monitor::ValAccuracy => val_accuracy,
            };
            let improved = self.early_stop.best.is_none_or(|best| match es.monitor {
                Monitor::ValLoss => value < best - es.min_delta,
                Monitor::ValAccuracy => value > best + es.min_delta,
            });
            if improved {
                self.early_stop.best = Some(value);
                self.early_stop.bad_epochs = 0;
            } else {
                self.early_stop.bad_epochs += 1;
                self.early_stop.stopped = self.early_stop.bad_epochs >= es.patience;
            }
        }
        self.position = Position {
            epoch,
            batch: 0,
            order: Vec::new(),
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
        };
    }

    fn snapshot(&self, val: Option<(f64, f64)>) -> TrainProgress {
        let done = self.position.batch;
        TrainProgress {
            epoch: self.position.epoch + 1,
            total_epochs: self.params.epochs,
            batch: done,
            total_batches: self.batches(),
            train_loss: self.position.loss_sum / done.max(1) as f64,
            train_accuracy: self.position.correct as f64 / self.position.seen.max(1) as f64,
            val_loss: val.map(|v| v.0),
            val_accuracy: val.map(|v| v.1),
            learning_rate: self.optimizer.lr(),
        }
    }

    fn live_model(&self) -> Result<Mlp, TrainError> {
        self.model_of(&self.host)
    }

    /// A model holding a copy of `weights` (host vectors in parameter order).
    fn model_of(&self, weights: &[Vec<f32>]) -> Result<Mlp, TrainError> {
        let params = weights
            .iter()
            .zip(&self.shapes)
            .map(|(w, s)| Tensor::from_slice(w, s.as_slice(), &self.device))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Mlp::from_params(&self.spec, params))
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            format: CHECKPOINT_FORMAT,
            spec: self.spec.clone(),
            params: self.params.clone(),
            data: DataShape::of(self.data),
            weights: self.host.clone(),
            optimizer: self.optimizer.state().clone(),
            scheduler: self.scheduler.state().clone(),
            rng: self.rng.clone(),
            position: self.position.clone(),
            best: self.best.clone(),
            early_stop: self.early_stop.clone(),
            history: self.history.clone(),
            elapsed_secs: self.elapsed(),
        }
    }

    /// The best epoch's weights, evaluated on the test part overall and per symbol; `None` if
    /// cancelled meanwhile (a resumed run only evaluates).
    fn finish(&self, cancel: &CancellationToken) -> Result<Option<TrainedModel>, TrainError> {
        let best = self
            .best
            .as_ref()
            .ok_or_else(|| TrainError::Data("no epoch was validated".into()))?;
        let model = self.model_of(&best.weights)?;
        let test = &self.data.test;
        let Some(eval) = evaluate(&model, test, self.data.width(), Some(cancel))? else {
            return Ok(None);
        };
        let truth = to_classes(&test.labels);
        let overall = Classification::of(&truth, &eval.predicted);
        let mut per_symbol = BTreeMap::new();
        for (index, name) in self.data.symbols.iter().enumerate() {
            let rows: Vec<usize> = (0..test.len())
                .filter(|&r| test.symbol[r] as usize == index)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let t: Vec<u32> = rows.iter().map(|&r| truth[r]).collect();
            let p: Vec<u32> = rows.iter().map(|&r| eval.predicted[r]).collect();
            let m = Classification::of(&t, &p);
            per_symbol.insert(
                name.clone(),
                SymbolMetrics {
                    accuracy: m.accuracy,
                    precision: m.precision,
                    recall: m.recall,
                    f1_score: m.f1_score,
                    sample_count: rows.len(),
                },
            );
        }
        let h = &self.history;
        let last = |v: &[f64]| v.last().copied().unwrap_or(0.0);
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let metrics = TrainingMetrics {
            epochs_trained: h.train_loss.len(),
            final_train_loss: last(&h.train_loss),
            final_train_accuracy: last(&h.train_accuracy),
            best_train_accuracy: max(&h.train_accuracy),
            training_time: self.elapsed(),
            final_val_loss: last(&h.val_loss),
            final_val_accuracy: last(&h.val_accuracy),
            best_val_accuracy: max(&h.val_accuracy),
            best_epoch: best.epoch,
            early_stopped: self.early_stop.stopped,
            test_metrics: TestMetrics {
                test_loss: eval.mean_loss(),
                test_accuracy: overall.accuracy,
                precision: overall.precision,
                recall: overall.recall,
                f1_score: overall.f1_score,
                sample_count: test.len(),
            },
            per_symbol_metrics: per_symbol,
            history: h.clone(),
        };
        Ok(Some(TrainedModel { model, metrics }))
    }
}

/// Copies the given rows of a part into batch buffers.
fn gather(part: &Samples, width: usize, rows: &[u32]) -> (Vec<f32>, Vec<u32>, Vec<u32>) {
    let mut x = Vec::with_capacity(rows.len() * width);
    let mut labels = Vec::with_capacity(rows.len());
    let mut symbols = Vec::with_capacity(rows.len());
    for &r in rows {
        let r = r as usize;
        x.extend_from_slice(&part.features[r * width..(r + 1) * width]);
        labels.push(part.labels[r] as u32);
        symbols.push(part.symbol[r]);
    }
    (x, labels, symbols)
}

/// Refuses a dataset that does not fit the network, before any work.
fn check_dataset(data: &Dataset, spec: &MlpSpec) -> Result<(), TrainError> {
    let bad = |m: String| Err(TrainError::Data(m));
    if data.width() != spec.input_size {
        return bad(format!(
            "{} feature columns, the network takes {}",
            data.width(),
            spec.input_size
        ));
    }
    if data.symbols.len() != spec.num_symbols {
        return bad(format!(
            "{} symbols, the network embeds {}",
            data.symbols.len(),
            spec.num_symbols
        ));
    }
    for (name, part) in [
        ("train", &data.train),
        ("validation", &data.validation),
        ("test", &data.test),
    ] {
        let n = part.len();
        if part.features.len() != n * data.width() || part.symbol.len() != n {
            return bad(format!(
                "the {name} part has {n} labels, {} symbol indices and {} feature values \
                 ({} columns)",
                part.symbol.len(),
                part.features.len(),
                data.width()
            ));
        }
        if let Some(s) = part
            .symbol
            .iter()
            .find(|&&s| s as usize >= spec.num_symbols)
        {
            return bad(format!("the {name} part has symbol index {s} out of range"));
        }
    }
    if data.train.is_empty() {
        return bad("the train part is empty".into());
    }
    if data.train.len() > u32::MAX as usize {
        return bad("more than 2^32 training rows".into());
    }
    if data.validation.is_empty() {
        return bad("the validation part is empty, so no best epoch can be chosen".into());
    }
    Ok(())
}
