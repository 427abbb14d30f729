//! [`TrainingMonitor`]: what a running training shows beyond its progress line — where it is
//! in epochs and batches, and the per-epoch history of loss and accuracy — for the training host
//! service's status, the API and the web page's curves.
//!
//! The operation's [`ProgressState`](ktrdr_ops::progress::ProgressState) is the one progress
//! shape; this adds only what that shape has no place for (a history), written by the training
//! loop and read by anyone holding a clone.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::metrics::History;

/// Where a training is, with its history so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSnapshot {
    /// Epochs finished.
    pub epoch: u32,
    /// Epochs planned (early stopping may end sooner).
    pub total_epochs: u32,
    /// Batches finished in the epoch under way.
    pub batch: u64,
    /// Batches per epoch.
    pub total_batches: u64,
    /// One entry per finished epoch.
    pub history: History,
}

/// A shared, cheaply cloned view of one training's [`TrainingSnapshot`].
#[derive(Debug, Clone, Default)]
pub struct TrainingMonitor {
    inner: Arc<Mutex<TrainingSnapshot>>,
}

impl TrainingMonitor {
    /// A monitor with nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> TrainingSnapshot {
        self.lock().clone()
    }

    /// Records the shape of the epochs once the dataset is known.
    pub fn set_plan(&self, total_epochs: u32, total_batches: u64) {
        let mut s = self.lock();
        s.total_epochs = total_epochs;
        s.total_batches = total_batches;
    }

    /// Records a finished batch of the epoch under way.
    pub fn set_batch(&self, batch: u64) {
        self.lock().batch = batch;
    }

    /// Replaces the history (a resumed run starts from its checkpoint's).
    pub fn set_history(&self, history: History) {
        let mut s = self.lock();
        s.epoch = u32::try_from(history.val_loss.len()).unwrap_or(u32::MAX);
        s.history = history;
    }

    /// Records a finished epoch.
    pub fn push_epoch(
        &self,
        train_loss: f64,
        train_accuracy: f64,
        val_loss: f64,
        val_accuracy: f64,
    ) {
        let mut s = self.lock();
        s.history.train_loss.push(train_loss);
        s.history.train_accuracy.push(train_accuracy);
        s.history.val_loss.push(val_loss);
        s.history.val_accuracy.push(val_accuracy);
        s.epoch = s.epoch.saturating_add(1);
        s.batch = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrainingSnapshot> {
        // A panic while holding the lock leaves plain numbers behind, still worth showing.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
