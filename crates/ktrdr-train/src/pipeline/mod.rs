//! A training from a strategy file to a stored model, as one `training` operation on the
//! kernel: progress, cancel, ETA and registry exactly as for a data load.
//!
//! Steps ([`crate::render::steps`]): load the bars of every symbol and timeframe (loading a
//! missing series through the data manager when a source is configured), compute indicators
//! and features (fuzzy memberships, timeframe alignment, lags) per symbol, label and split,
//! train (the epochs), then evaluate and save. The ETA is learned per
//! strategy, epochs and size (the operation's `eta_factors` and `items`) and follows the live
//! batch rate, since training dominates the plan. A cancel stops between two batches and keeps
//! the run's checkpoint (the best weights so far among it); the same request with `resume`
//! continues from it and ends as the uninterrupted run would have.
//!
//! [`TrainingService`] runs it here, or on a training host service when built with
//! [`TrainingService::on_host`]: then the operation's work is the host session, its progress
//! relayed and a cancel sent to the host as a stop.

mod data;
mod request;
mod run;

use std::path::PathBuf;
use std::sync::Arc;

use ktrdr_data::manager::DataManager;
use ktrdr_data::store::BarStore;
use ktrdr_ops::host::HostClient;
use ktrdr_ops::operations::{OperationContext, OperationHandle, Operations, OperationsError};
use ktrdr_ops::progress::StepPlan;

pub use request::{date_bound, PrepareError, PreparedTraining, StrategySource, TrainingRequest};

use crate::monitor::TrainingMonitor;
use crate::render::{steps, TrainingProgressRenderer};
use crate::store::ModelStore;

/// The operation type of a training (the API contract's name).
pub const OPERATION_KIND: &str = "training";

/// The indexes of the steps of [`TrainingService::plan`].
pub mod step {
    /// [`steps::DATA`](crate::render::steps::DATA).
    pub const DATA: usize = 0;
    /// [`steps::FEATURES`](crate::render::steps::FEATURES).
    pub const FEATURES: usize = 1;
    /// [`steps::LABELS`](crate::render::steps::LABELS).
    pub const LABELS: usize = 2;
    /// [`steps::TRAIN`](crate::render::steps::TRAIN).
    pub const TRAIN: usize = 3;
    /// [`steps::SAVE`](crate::render::steps::SAVE).
    pub const SAVE: usize = 4;
}

/// A started training: its operation and its live epoch history.
#[derive(Debug, Clone)]
pub struct StartedTraining {
    /// The operation.
    pub handle: OperationHandle,
    /// Epochs, batches and per-epoch history while it runs.
    pub monitor: TrainingMonitor,
}

/// Runs trainings: where the bars are, where models go, and whether a host trains them.
#[derive(Clone)]
pub struct TrainingService {
    store: BarStore,
    manager: Option<DataManager>,
    models: ModelStore,
    host: Option<HostClient>,
}

impl std::fmt::Debug for TrainingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainingService")
            .field("store", &self.store.dir())
            .field("models", &self.models.root())
            .field("host", &self.host.as_ref().map(|h| h.base_url().as_str()))
            .finish_non_exhaustive()
    }
}

impl TrainingService {
    /// Trains here on the bars of `store`, saving models under `models_dir`.
    pub fn new(store: BarStore, models_dir: impl Into<PathBuf>) -> Self {
        TrainingService {
            store,
            manager: None,
            models: ModelStore::new(models_dir),
            host: None,
        }
    }

    /// The same service loading a missing series through `manager` (when it has a source)
    /// before training on it.
    pub fn with_manager(mut self, manager: DataManager) -> Self {
        self.store = manager.store().clone();
        self.manager = Some(manager);
        self
    }

    /// The same service training on the training host service `host` instead of here.
    pub fn on_host(mut self, host: HostClient) -> Self {
        self.host = Some(host);
        self
    }

    /// Whether a training host service trains.
    pub fn is_on_host(&self) -> bool {
        self.host.is_some()
    }

    /// Where models are saved.
    pub fn models(&self) -> &ModelStore {
        &self.models
    }

    /// The steps of a training, weighted by their usual share of its time.
    pub fn plan() -> StepPlan {
        // Weights are fixed, valid and unique, so `new` cannot refuse them; the fallback only
        // satisfies the type (a test checks the plan against the `step` indexes).
        StepPlan::new([
            (steps::DATA, 8),
            (steps::FEATURES, 6),
            (steps::LABELS, 2),
            (steps::TRAIN, 82),
            (steps::SAVE, 2),
        ])
        .unwrap_or_else(|_| StepPlan::single(steps::TRAIN))
    }

    /// Checks `request` before anything starts: the strategy (every problem), the symbols and
    /// timeframes, the window, and the checkpoint: `resume` needs one, and a fresh run is
    /// refused while one exists (its first epoch would overwrite the unfinished run's).
    ///
    /// # Errors
    ///
    /// [`PrepareError`] naming every problem.
    pub fn prepare(&self, request: TrainingRequest) -> Result<PreparedTraining, PrepareError> {
        let prepared = PreparedTraining::new(request)?;
        if self.host.is_none() {
            run::check_checkpoint(&self.models, &prepared)?;
        }
        Ok(prepared)
    }

    /// Starts `prepared` as a `training` operation of `ops` and returns at once.
    ///
    /// # Errors
    ///
    /// What [`Operations::run`] refuses with.
    pub fn start(
        &self,
        ops: &Operations,
        prepared: PreparedTraining,
    ) -> Result<StartedTraining, OperationsError> {
        let monitor = TrainingMonitor::new();
        let mut metadata = prepared.metadata(self.host.is_some());
        let items = data::base_bars(&prepared, &self.store);
        if items > 0 {
            metadata["items"] = items.into();
        }
        let service = self.clone();
        let work_monitor = monitor.clone();
        let work = move |ctx: OperationContext| async move {
            // Set here, not after `run` returns, so it can never replace the epoch renderer the
            // work sets once the dataset is known.
            ctx.progress
                .set_renderer(Arc::new(TrainingProgressRenderer::new(
                    "mlp",
                    prepared.series_label(),
                    None,
                )));
            match &service.host {
                Some(host) => run::on_host(host, &prepared, &ctx, &work_monitor).await,
                None => run::here(&service, &prepared, &ctx, &work_monitor).await,
            }
        };
        let handle = ops.run(OPERATION_KIND, metadata, Self::plan(), work)?;
        Ok(StartedTraining { handle, monitor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_indexes_name_the_plans_steps() {
        let plan = TrainingService::plan();
        let names: Vec<&str> = plan.steps().map(|(name, _)| name).collect();
        let mut expected = vec![""; 5];
        expected[step::DATA] = steps::DATA;
        expected[step::FEATURES] = steps::FEATURES;
        expected[step::LABELS] = steps::LABELS;
        expected[step::TRAIN] = steps::TRAIN;
        expected[step::SAVE] = steps::SAVE;
        assert_eq!(names, expected);
    }
}
