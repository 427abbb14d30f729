//! [`MeteredRegistry`]: a [`Registry`] decorator that times every write and observes the
//! duration of each operation that reaches a terminal status through it.

use std::sync::Arc;
use std::time::Duration;

use ktrdr_ops::progress::ProgressState;
use ktrdr_ops::registry::{
    CancelRequest, KeyClaim, OperationCount, OperationFilter, OperationList, OperationRecord,
    OperationStatus, Registry, RegistryError, TransitionPatch,
};
use tokio::time::Instant;

use super::{CallLabels, Metrics, OperationLabels};

/// The registry the server's runner records through.
pub struct MeteredRegistry {
    inner: Arc<dyn Registry>,
    metrics: Arc<Metrics>,
}

impl MeteredRegistry {
    /// `inner`, measured into `metrics`.
    pub fn new(inner: Arc<dyn Registry>, metrics: Arc<Metrics>) -> Self {
        MeteredRegistry { inner, metrics }
    }

    fn timed<T>(&self, call: &'static str, write: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = write();
        self.metrics
            .registry_write_seconds
            .get_or_create(&CallLabels { call })
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Observes how long operation `id`, just recorded `status`, ran.
    fn observe_end(&self, id: &str, status: OperationStatus) {
        let Ok(Some(record)) = self.inner.get(id) else {
            return;
        };
        let Some(ran) = record.duration().and_then(|d| d.to_std().ok()) else {
            return;
        };
        self.metrics
            .operation_seconds
            .get_or_create(&OperationLabels {
                operation_type: record.operation_type,
                status: status.as_str(),
            })
            .observe(ran.as_secs_f64());
    }
}

impl Registry for MeteredRegistry {
    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError> {
        self.timed("insert", || self.inner.insert(record))
    }

    fn insert_idempotent(
        &self,
        record: &OperationRecord,
        key: &str,
        fingerprint: &str,
    ) -> Result<KeyClaim, RegistryError> {
        self.timed("insert_idempotent", || {
            self.inner.insert_idempotent(record, key, fingerprint)
        })
    }

    fn transition(
        &self,
        id: &str,
        expected: &[OperationStatus],
        to: OperationStatus,
        patch: &TransitionPatch,
    ) -> Result<(), RegistryError> {
        self.timed("transition", || {
            self.inner.transition(id, expected, to, patch)
        })?;
        if to.is_terminal() {
            self.observe_end(id, to);
        }
        Ok(())
    }

    fn update_progress(&self, id: &str, progress: &ProgressState) -> Result<bool, RegistryError> {
        self.timed("update_progress", || {
            self.inner.update_progress(id, progress)
        })
    }

    fn get(&self, id: &str) -> Result<Option<OperationRecord>, RegistryError> {
        self.inner.get(id)
    }

    fn list(&self, filter: &OperationFilter) -> Result<OperationList, RegistryError> {
        self.inner.list(filter)
    }

    fn cancel_requests(&self, ids: &[String]) -> Result<Vec<CancelRequest>, RegistryError> {
        self.inner.cancel_requests(ids)
    }

    fn counts(&self) -> Result<Vec<OperationCount>, RegistryError> {
        self.inner.counts()
    }

    fn interrupt_dead_owners(&self) -> Result<Vec<String>, RegistryError> {
        self.timed("interrupt_dead_owners", || {
            self.inner.interrupt_dead_owners()
        })
    }

    fn cleanup(&self, older_than: Duration) -> Result<usize, RegistryError> {
        self.timed("cleanup", || self.inner.cleanup(older_than))
    }

    fn may_block(&self) -> bool {
        self.inner.may_block()
    }
}
