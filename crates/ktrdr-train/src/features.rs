//! Features: fuzzy memberships of indicators on every timeframe of a strategy, aligned to the
//! base (shortest) timeframe without look-ahead, with lags; and the labelled, chronologically
//! split dataset built from them.
//!
//! - [`FeatureSpec`] (`features.json`) fixes the columns and their order, for training and
//!   prediction alike; [`FeatureSpec::build`] computes a symbol's rows, [`FeatureSpec::latest_rows`]
//!   the last ones for prediction.
//! - [`assemble_dataset`] labels the rows with zigzag labels and splits each symbol's rows in
//!   time order into train, validation and test.

mod align;
mod assemble;
mod build;
mod input;
mod spec;

use ktrdr_data::types::Timeframe;

pub use assemble::{assemble_dataset, label_and_split, symbol_frame, SymbolBars, SymbolFrame};
pub use build::FeatureFrame;
pub use spec::{FeatureInput, FeatureSet, FeatureSpec, ScalingInfo, TemporalConfig};

/// Why features or a dataset could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// No timeframe to build on.
    #[error("no timeframe given: features need at least the base timeframe")]
    NoTimeframe,
    /// A fuzzy input names no indicator.
    #[error("fuzzy sets of {0:?} refer to no indicator of the strategy")]
    UnknownInput(String),
    /// An input's indicator is not valid.
    #[error("indicator {name:?}: {source}")]
    Indicator {
        /// The input's name.
        name: String,
        /// Why the registry refused it.
        source: ktrdr_indicators::SpecError,
    },
    /// An input whose value at a bar depends on later bars.
    #[error("indicator {0:?} is a zigzag, which looks ahead (an extreme is known only once later bars confirm it); it can label bars but not be a feature")]
    LooksAhead(String),
    /// A stored spec that does not describe its own columns.
    #[error("features.json is inconsistent: {0}")]
    Corrupt(String),
    /// A timeframe of the spec without bars.
    #[error("no bars given for timeframe {0}")]
    MissingSeries(Timeframe),
    /// The labeller refused the strategy's label settings.
    #[error("labels: {0}")]
    Labels(#[from] ktrdr_indicators::labels::LabelError),
    /// Too few rows for a symbol to give every part of the split a row.
    #[error("{symbol}: {rows} labelled feature rows are too few for the split ({why})")]
    TooFewRows {
        /// The symbol.
        symbol: String,
        /// Its rows after warm-up and labelling.
        rows: usize,
        /// Which part came out empty.
        why: String,
    },
}
