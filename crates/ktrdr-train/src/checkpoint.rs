//! The complete state of a training run, so a resumed run ends exactly as an uninterrupted one.

use serde::{Deserialize, Serialize};

use rand_chacha::ChaCha8Rng;

use crate::dataset::Dataset;
use crate::metrics::History;
use crate::optim::{OptimizerState, SchedulerState};
use crate::spec::{MlpSpec, TrainParams};

/// Bumped when the checkpoint's meaning changes; older files are refused, not misread.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// The weights kept as the result: those of the best validated epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Validation loss after it.
    pub val_loss: f64,
    /// Validation accuracy after it.
    pub val_accuracy: f64,
    /// A deep copy of the weights, in [`crate::model::parameter_names`] order.
    pub weights: Vec<Vec<f32>>,
}

/// Where the loop stands inside an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// 0-based epoch in progress.
    pub epoch: usize,
    /// Next batch to train; equal to the batch count when only validation is left.
    pub batch: usize,
    /// This epoch's order of training rows; empty before the epoch's shuffle.
    pub order: Vec<u32>,
    /// Sum of this epoch's batch losses so far.
    pub loss_sum: f64,
    /// Rows predicted right in this epoch so far.
    pub correct: u64,
    /// Rows trained in this epoch so far.
    pub seen: u64,
}

/// Early-stopping state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopState {
    /// Best monitored value so far.
    pub best: Option<f64>,
    /// Epochs since it improved by at least `min_delta`.
    pub bad_epochs: usize,
    /// Whether patience ran out: no more epochs, only the final evaluation is left.
    pub stopped: bool,
}

/// What the dataset looked like, so a checkpoint is never resumed on other data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataShape {
    /// Feature column names.
    pub feature_names: Vec<String>,
    /// Symbols in embedding order.
    pub symbols: Vec<String>,
    /// Rows in train, validation and test.
    pub rows: [usize; 3],
}

impl DataShape {
    /// The shape of `dataset`.
    pub fn of(dataset: &Dataset) -> Self {
        Self {
            feature_names: dataset.feature_names.clone(),
            symbols: dataset.symbols.clone(),
            rows: [
                dataset.train.len(),
                dataset.validation.len(),
                dataset.test.len(),
            ],
        }
    }
}

/// Everything needed to continue a run: the live weights and optimizer, the RNG, the position
/// in the epoch, the best epoch so far, the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_FORMAT`] when written.
    pub format: u32,
    /// The network.
    pub spec: MlpSpec,
    /// The training parameters.
    pub params: TrainParams,
    /// The data it was trained on.
    pub data: DataShape,
    /// Live weights.
    pub weights: Vec<Vec<f32>>,
    /// Optimizer state.
    pub optimizer: OptimizerState,
    /// Learning-rate schedule state.
    pub scheduler: SchedulerState,
    /// The one RNG, at the point the run stopped.
    pub rng: ChaCha8Rng,
    /// Position inside the current epoch.
    pub position: Position,
    /// The best validated epoch so far.
    pub best: Option<BestEpoch>,
    /// Early-stopping state.
    pub early_stop: EarlyStopState,
    /// Per-epoch figures so far.
    pub history: History,
    /// Training wall time so far, in seconds.
    pub elapsed_secs: f64,
}

impl Checkpoint {
    /// Why this checkpoint cannot continue a run of `spec` and `params` on `dataset`, if so.
    pub fn mismatch(
        &self,
        dataset: &Dataset,
        spec: &MlpSpec,
        params: &TrainParams,
    ) -> Option<String> {
        if self.format != CHECKPOINT_FORMAT {
            return Some(format!(
                "checkpoint format {} (this build reads {CHECKPOINT_FORMAT})",
                self.format
            ));
        }
        if &self.spec != spec {
            return Some(format!(
                "the network differs from the checkpoint's: {}",
                differences(&self.spec, spec)
            ));
        }
        if &self.params != params {
            return Some(format!(
                "the training parameters differ from the checkpoint's: {}",
                differences(&self.params, params)
            ));
        }
        let data = DataShape::of(dataset);
        if self.data != data {
            return Some(format!(
                "the dataset differs from the checkpoint's (new bars in the window? give the same \
                 --start-date and --end-date): {}",
                differences(&self.data, &data)
            ));
        }
        None
    }

    /// The 1-based epoch the checkpoint is in.
    pub fn epoch(&self) -> usize {
        self.position.epoch + 1
    }

    /// Serialises to JSON (floats are written so they read back bit for bit).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads a checkpoint written by [`Checkpoint::to_json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// `epochs: checkpoint 12, now 5; seed: …`: the top-level fields in which two values differ.
fn differences<T: Serialize>(checkpoint: &T, now: &T) -> String {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(checkpoint), serde_json::to_value(now))
    else {
        return "they differ".to_owned();
    };
    let shown = |v: &serde_json::Value| {
        let text = v.to_string();
        match text.char_indices().nth(60) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    };
    old.iter()
        .filter(|(key, value)| new.get(*key) != Some(*value))
        .map(|(key, value)| {
            let now = new.get(key).map_or_else(|| "absent".to_owned(), shown);
            format!("{key}: checkpoint {}, now {now}", shown(value))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
