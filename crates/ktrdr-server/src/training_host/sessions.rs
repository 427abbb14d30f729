//! The sessions of a training host service: each a training operation of its runner.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use ktrdr_ops::operations::{OperationHandle, OperationsError};
use ktrdr_ops::progress::ProgressPhase;
use ktrdr_ops::registry::OperationStatus;
use ktrdr_train::host::wire::{SessionProgress, SessionStatus};
use ktrdr_train::monitor::TrainingMonitor;
use serde_json::json;

/// One session.
#[derive(Clone)]
pub(super) struct Session {
    pub(super) handle: OperationHandle,
    pub(super) monitor: TrainingMonitor,
    pub(super) started: DateTime<Utc>,
}

impl Session {
    /// Whether it has not ended yet.
    pub(super) fn is_running(&self) -> bool {
        self.handle.outcome().is_none()
    }

    /// Its status in the protocol's shape.
    pub(super) fn status(&self) -> SessionStatus {
        let progress = self.handle.progress().snapshot();
        let outcome = self.handle.outcome();
        let status = match outcome.as_ref().map(|o| o.status) {
            None if progress.step_index >= ktrdr_train::pipeline::step::TRAIN => "running",
            None => "initializing",
            Some(OperationStatus::Completed) => "completed",
            Some(OperationStatus::Cancelled) => "stopped",
            Some(_) => "failed",
        };
        let training = self.monitor.snapshot();
        let history = training.history;
        let metrics = BTreeMap::from([
            ("train_loss".to_owned(), history.train_loss),
            ("train_accuracy".to_owned(), history.train_accuracy),
            ("val_loss".to_owned(), history.val_loss),
            ("val_accuracy".to_owned(), history.val_accuracy),
        ]);
        let finished = progress.phase.is_finished() || outcome.is_some();
        SessionStatus {
            session_id: self.handle.id().to_owned(),
            status: status.to_owned(),
            progress: SessionProgress {
                epoch: training.epoch,
                total_epochs: training.total_epochs,
                batch: training.batch,
                total_batches: training.total_batches,
                progress_percent: progress.percent,
                message: progress.message,
                eta_seconds: progress.eta.filter(|_| !finished).map(|e| e.remaining_secs),
            },
            metrics,
            gpu_usage: json!({
                "gpu_allocated": false,
                "memory_monitoring": false,
                "performance_optimization": false,
            }),
            start_time: rfc3339(self.started),
            last_updated: rfc3339(Utc::now()),
            error: outcome.as_ref().and_then(|o| o.error.clone()).or_else(|| {
                (progress.phase == ProgressPhase::Failed)
                    .then(|| progress.error.clone())
                    .flatten()
            }),
            result: outcome.and_then(|o| o.result_summary),
        }
    }
}

pub(super) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Why a session did not start.
pub(super) enum StartRefusal {
    /// This one runs.
    Busy(String),
    /// The runner refused (shutting down, registry failure).
    Failed(OperationsError),
}

/// The sessions by id.
#[derive(Default)]
pub(super) struct Sessions {
    by_id: Mutex<BTreeMap<String, Session>>,
}

impl Sessions {
    pub(super) fn get(&self, id: &str) -> Option<Session> {
        self.lock().get(id).cloned()
    }

    pub(super) fn all(&self) -> Vec<Session> {
        self.lock().values().cloned().collect()
    }

    /// Starts a session with `start` unless one is running; the check and the insert are
    /// one step, so two starts at once cannot both run.
    pub(super) fn start_if_idle(
        &self,
        start: impl FnOnce() -> Result<Session, OperationsError>,
    ) -> Result<Session, StartRefusal> {
        let mut sessions = self.lock();
        if let Some(running) = sessions.values().find(|s| s.is_running()) {
            return Err(StartRefusal::Busy(running.handle.id().to_owned()));
        }
        let session = start().map_err(StartRefusal::Failed)?;
        sessions.insert(session.handle.id().to_owned(), session.clone());
        Ok(session)
    }

    /// Removes an ended session; a running one is kept and returned as the refusal.
    pub(super) fn remove_ended(&self, id: &str) -> Result<Option<Session>, Session> {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(session) if session.is_running() => Err(session.clone()),
            _ => Ok(sessions.remove(id)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Session>> {
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
