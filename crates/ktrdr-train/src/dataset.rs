//! Labelled samples ready for training: the seam between feature building and the trainer.

/// Labels are the indicator crate's (zigzag labelling produces them); re-exported here because
/// every sample carries one.
pub use ktrdr_indicators::labels::Signal;

/// Rows of one part of a dataset (train, validation or test), row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// `len() * width` feature values, one row per sample, columns in [`Dataset::feature_names`]
    /// order.
    pub features: Vec<f32>,
    /// One label per row.
    pub labels: Vec<Signal>,
    /// Each row's index into [`Dataset::symbols`] (the symbol embedding's row).
    pub symbol: Vec<u32>,
    /// Each row's bar open time (Unix seconds, as every `BarSeries`), for reports and for proving
    /// the split order.
    pub ts: Vec<i64>,
}

impl Samples {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A labelled dataset split chronologically per symbol: each symbol's earliest rows are in
/// `train`, the next in `validation`, its latest in `test`, so no part sees a later bar than the
/// part after it (the Python system shuffled before splitting, leaking the future into training).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Column names in the order of every row; recorded in `features.json`.
    pub feature_names: Vec<String>,
    /// Symbols in embedding order.
    pub symbols: Vec<String>,
    /// Rows to fit on.
    pub train: Samples,
    /// Rows that choose the best epoch and drive early stopping.
    pub validation: Samples,
    /// Rows held out for the final metrics.
    pub test: Samples,
}

impl Dataset {
    /// Features per row.
    pub fn width(&self) -> usize {
        self.feature_names.len()
    }
}
