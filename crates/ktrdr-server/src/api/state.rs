//! [`ApiState`]: what every handler shares: the process's one operations runner and its one data
//! manager (one provider connection and one pacing gate for every load).

use std::sync::Arc;

use ktrdr_data::manager::DataManager;
use ktrdr_ops::operations::Operations;
use ktrdr_ops::registry::Registry;
use tokio::sync::watch;

use ktrdr_train::pipeline::TrainingService;

use super::chart_cache::ChartCache;
use super::error::ApiError;
use super::gap_filler::GapFillerControl;
use super::metrics::{Metrics, StreamGuard};
use super::training::TrainingApi;

/// Where models go unless the server is told otherwise (the Python system's `models/`,
/// relative to the working directory).
pub const DEFAULT_MODELS_DIR: &str = "models";
/// Where `strategy_name` is looked up unless the server is told otherwise.
pub const DEFAULT_STRATEGIES_DIR: &str = "strategies";

/// The shared state of the API's handlers. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    operations: Operations,
    manager: DataManager,
    metrics: Arc<Metrics>,
    /// Turns `true` when the server starts shutting down, so that long-lived answers (event
    /// streams, long polls) end instead of holding the shutdown up.
    closing: watch::Sender<bool>,
    /// The gap filler service (stopped until started).
    gap_filler: GapFillerControl,
    /// The series the chart route read last.
    chart_cache: ChartCache,
    /// Trainings: the service, the strategies directory, live histories.
    training: TrainingApi,
}

impl ApiState {
    /// State on the runner `operations` (whose registry the API reads) and the data manager
    /// `manager` (whose store the data routes read and whose provider the loads use).
    pub fn new(operations: Operations, manager: DataManager) -> Self {
        Self::with_metrics(operations, manager, Arc::default())
    }

    /// The same, measuring into `metrics` (whose [`Metrics::meter_registry`] should wrap the
    /// registry of `operations`, so that registry writes and operation durations are counted).
    pub fn with_metrics(
        operations: Operations,
        manager: DataManager,
        metrics: Arc<Metrics>,
    ) -> Self {
        let training = TrainingApi::new(
            TrainingService::new(manager.store().clone(), DEFAULT_MODELS_DIR)
                .with_manager(manager.clone()),
            DEFAULT_STRATEGIES_DIR,
        );
        Self::with_training(operations, manager, metrics, training)
    }

    /// The state of a server that also trains with `training`.
    pub fn with_training(
        operations: Operations,
        manager: DataManager,
        metrics: Arc<Metrics>,
        training: TrainingApi,
    ) -> Self {
        ApiState {
            inner: Arc::new(Inner {
                operations,
                manager,
                metrics,
                closing: watch::Sender::new(false),
                gap_filler: GapFillerControl::default(),
                chart_cache: ChartCache::default(),
                training,
            }),
        }
    }

    /// The operations runner.
    pub fn operations(&self) -> &Operations {
        &self.inner.operations
    }

    /// The registry every process records into.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        self.inner.operations.registry()
    }

    /// The data manager.
    pub fn manager(&self) -> &DataManager {
        &self.inner.manager
    }

    /// The training service, its strategies and the live histories of its trainings.
    pub fn training(&self) -> &TrainingApi {
        &self.inner.training
    }

    /// The gap filler service.
    pub fn gap_filler(&self) -> &GapFillerControl {
        &self.inner.gap_filler
    }

    /// The series the chart route read last.
    pub(crate) fn chart_cache(&self) -> &ChartCache {
        &self.inner.chart_cache
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Tells long-lived answers that the server is shutting down.
    pub(crate) fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Completes once the server is shutting down.
    pub async fn closing(&self) {
        let mut closing = self.inner.closing.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = closing.wait_for(|closing| *closing).await;
    }

    /// Counts one more event stream until the guard is dropped.
    pub(crate) fn count_subscriber(&self) -> StreamGuard {
        self.inner.metrics.event_stream()
    }

    /// Runs a registry (or other blocking) call off the runtime's worker threads: a SQLite
    /// statement may wait on another process's lock.
    pub async fn blocking<T, F>(&self, call: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&ApiState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        if !state.registry().may_block() {
            return call(&state);
        }
        tokio::task::spawn_blocking(move || call(&state))
            .await
            .map_err(ApiError::internal)?
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("operations", &self.inner.operations)
            .field("manager", &self.inner.manager)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl ApiState {
    /// State on an in-memory registry and a store nobody reads, for handler tests.
    pub(crate) fn in_memory() -> ApiState {
        use ktrdr_data::store::BarStore;
        use ktrdr_ops::registry::MemoryRegistry;
        let operations = Operations::new(Arc::new(MemoryRegistry::new()), None);
        let manager = DataManager::builder()
            .store(BarStore::new("/nonexistent/ktrdr-test-store"))
            .build()
            .expect("a manager without a provider builds");
        ApiState::new(operations, manager)
    }
}
