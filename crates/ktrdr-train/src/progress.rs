//! What the training loop reports while it runs.

use crate::checkpoint::Checkpoint;

/// A snapshot of the loop: sent after some batches (at most every
/// [`crate::train::PROGRESS_INTERVAL`]) and after every epoch's validation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// The current epoch, 1-based.
    pub epoch: usize,
    /// Epochs configured.
    pub total_epochs: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub total_batches: usize,
    /// Mean batch loss of this epoch so far.
    pub train_loss: f64,
    /// Training accuracy of this epoch so far.
    pub train_accuracy: f64,
    /// Validation loss, once this epoch is validated.
    pub val_loss: Option<f64>,
    /// Validation accuracy, once this epoch is validated.
    pub val_accuracy: Option<f64>,
    /// The learning rate in use.
    pub learning_rate: f64,
}

/// Receives the loop's progress; runs on the training thread, so it must be cheap.
pub trait TrainObserver {
    /// A progress snapshot.
    fn progress(&mut self, progress: &TrainProgress);

    /// Whether [`TrainObserver::epoch_checkpoint`] should be called (building a checkpoint
    /// copies the weights and optimizer state).
    fn wants_epoch_checkpoints(&self) -> bool {
        false
    }

    /// The state after each epoch, for a caller that persists it so an interrupted process
    /// can resume.
    fn epoch_checkpoint(&mut self, _checkpoint: &Checkpoint) {}
}

impl<F: FnMut(&TrainProgress)> TrainObserver for F {
    fn progress(&mut self, progress: &TrainProgress) {
        self(progress)
    }
}
