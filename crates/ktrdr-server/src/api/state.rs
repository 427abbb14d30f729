//! [`ApiState`]: what every handler shares: the process's one operations runner and its one data
//! manager (one provider connection and one pacing gate for every load).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ktrdr_data::manager::DataManager;
use ktrdr_ops::operations::Operations;
use ktrdr_ops::registry::Registry;
use tokio::sync::watch;

use super::error::ApiError;

/// The shared state of the API's handlers. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    operations: Operations,
    manager: DataManager,
    /// Turns `true` when the server starts shutting down, so that long-lived answers (event
    /// streams, long polls) end instead of holding the shutdown up.
    closing: watch::Sender<bool>,
    /// Open event streams (`GET /operations/{id}/events`).
    subscribers: AtomicUsize,
}

impl ApiState {
    /// State on the runner `operations` (whose registry the API reads) and the data manager
    /// `manager` (whose store the data routes read and whose provider the loads use).
    pub fn new(operations: Operations, manager: DataManager) -> Self {
        ApiState {
            inner: Arc::new(Inner {
                operations,
                manager,
                closing: watch::Sender::new(false),
                subscribers: AtomicUsize::new(0),
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

    /// How many event streams are open now (a gauge for the metrics).
    pub fn event_subscribers(&self) -> usize {
        self.inner.subscribers.load(Ordering::Relaxed)
    }

    /// Counts one more event stream until the guard is dropped.
    pub(crate) fn count_subscriber(&self) -> SubscriberGuard {
        self.inner.subscribers.fetch_add(1, Ordering::Relaxed);
        SubscriberGuard(Arc::clone(&self.inner))
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

/// One open event stream, counted in [`ApiState::event_subscribers`] until dropped.
pub(crate) struct SubscriberGuard(Arc<Inner>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::Relaxed);
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
