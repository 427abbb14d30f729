//! [`TrainingApi`]: what the server's training routes share — the training service (where bars
//! are, where models go, local or on a host), the directory strategy names resolve in, and the
//! live epoch histories of the trainings this server started (for the web page's curves).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ktrdr_train::monitor::TrainingMonitor;
use ktrdr_train::pipeline::{StartedTraining, TrainingService};

/// How many finished trainings' live histories are kept (the stored result has them too).
const KEPT_HISTORIES: usize = 64;

/// The training side of the server; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct TrainingApi {
    service: TrainingService,
    strategies_dir: PathBuf,
    live: Arc<Mutex<HashMap<String, StartedTraining>>>,
}

impl TrainingApi {
    /// Trainings run by `service`; a request's `strategy_name` is the file
    /// `<strategies_dir>/<strategy_name>.yaml`.
    pub fn new(service: TrainingService, strategies_dir: impl Into<PathBuf>) -> Self {
        TrainingApi {
            service,
            strategies_dir: strategies_dir.into(),
            live: Arc::default(),
        }
    }

    /// The training service.
    pub fn service(&self) -> &TrainingService {
        &self.service
    }

    /// Where strategy files are looked up.
    pub fn strategies_dir(&self) -> &Path {
        &self.strategies_dir
    }

    /// Keeps the monitor of a training this server started.
    pub(crate) fn track(&self, started: &StartedTraining) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live.len() >= KEPT_HISTORIES {
            // Forget the finished ones; their stored results hold their histories.
            live.retain(|_, t| t.handle.outcome().is_none());
        }
        live.insert(started.handle.id().to_owned(), started.clone());
    }

    /// The monitor of a training this server started, if it still has it.
    pub(crate) fn monitor(&self, id: &str) -> Option<TrainingMonitor> {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .map(|t| t.monitor.clone())
    }
}
