//! The typed form of a strategy file (format 2.0). Every key of the format has a field here,
//! including those training does not act on, so nothing in a file is silently dropped.

use ktrdr_data::types::{Symbol, Timeframe};
use ktrdr_indicators::{IndicatorEntry, IndicatorSpec, MembershipFunction};

use crate::spec::{Activation, TrainParams};

/// A validated strategy file.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    /// `name`: the model directory is named after it.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `version`: always `"2.0"`.
    pub version: String,
    /// `hypothesis` (not used by training).
    pub hypothesis: Option<String>,
    /// `scope` (not used by training).
    pub scope: Option<Scope>,
    /// `training_data`: the default symbols and timeframes when a run names none.
    pub training_data: Option<TrainingData>,
    /// `deployment` (not used by training).
    pub deployment: Option<Deployment>,
    /// `indicators`, in file order.
    pub indicators: Vec<StrategyIndicator>,
    /// `fuzzy_sets`, in file order: the feature columns follow this order.
    pub fuzzy_sets: Vec<FuzzyInput>,
    /// `model`.
    pub model: ModelSection,
    /// `decisions` (used by backtests, not by training).
    pub decisions: Option<Decisions>,
    /// `training`: labels and the data split.
    pub training: TrainingSection,
}

/// `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `universal`.
    Universal,
    /// `symbol_specific`.
    SymbolSpecific,
}

/// `training_data`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingData {
    /// `symbols.list` (mode `multi_symbol`) or `[symbols.symbol]` (mode `single`), in file order:
    /// the order is the symbol embedding's index order.
    pub symbols: Vec<Symbol>,
    /// `timeframes.list` (mode `multi_timeframe`) or `[timeframes.timeframe]` (mode `single`).
    pub timeframes: Vec<Timeframe>,
    /// The shortest timeframe, which is the base of every row (`timeframes.base_timeframe`, when
    /// given, must name it).
    pub base_timeframe: Timeframe,
    /// `history_required` (not used by training).
    pub history_required: Option<usize>,
}

/// `deployment` (not used by training).
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// `target_symbols.mode`: `group_restricted`, `training_only` or `universal`.
    pub target_symbols: Option<String>,
    /// `target_timeframes.supported` or `[target_timeframes.timeframe]`.
    pub target_timeframes: Vec<Timeframe>,
}

/// One entry of `indicators`: as written, and validated by the indicator registry.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyIndicator {
    /// The entry as written (`type`, `name`, parameters): what `features.json` records, so
    /// prediction rebuilds the very same indicator.
    pub entry: IndicatorEntry,
    /// The validated indicator and the name fuzzy sets refer to it by.
    pub spec: IndicatorSpec,
}

/// The fuzzy sets of one indicator: `fuzzy_sets.<indicator>`.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzyInput {
    /// The indicator's `name`.
    pub indicator: String,
    /// Its sets, in file order.
    pub sets: Vec<FuzzySet>,
}

/// One fuzzy set: `fuzzy_sets.<indicator>.<set>`.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzySet {
    /// The set's name (`oversold`).
    pub name: String,
    /// `type` and `parameters`, validated.
    pub membership: MembershipFunction,
}

/// `model`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSection {
    /// `symbol_embedding_dim` (default 16).
    pub symbol_embedding_dim: usize,
    /// `input_size`: when given, it must equal the number of feature columns.
    pub input_size: Option<usize>,
    /// `architecture`.
    pub architecture: Architecture,
    /// `features.lookback_periods` (default 0): lagged copies of every column.
    pub lookback_periods: usize,
    /// `features.include_price_context` (not used by training: features are fuzzy only).
    pub include_price_context: Option<bool>,
    /// `features.scale_features` (not used by training: memberships are already in [0, 1]).
    pub scale_features: Option<bool>,
    /// `training`: absent keys take the Python system's defaults ([`TrainParams::default`]).
    pub training: TrainParams,
    /// `training.estimated_duration_minutes` (not used by training: the ETA is learned).
    pub estimated_duration_minutes: Option<f64>,
}

/// `model.architecture`.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// `hidden_layers`: widths, input side first.
    pub hidden_layers: Vec<usize>,
    /// `activation` (default relu).
    pub activation: Activation,
    /// `dropout` in [0, 1) (default 0.2).
    pub dropout: f64,
}

/// `decisions` (used by backtests, not by training).
#[derive(Debug, Clone, PartialEq)]
pub struct Decisions {
    /// `output_format`.
    pub output_format: Option<String>,
    /// `confidence_threshold` in [0, 1].
    pub confidence_threshold: Option<f64>,
    /// `position_awareness`.
    pub position_awareness: Option<bool>,
    /// `filters.min_signal_separation`.
    pub min_signal_separation: Option<f64>,
    /// `filters.volume_filter`.
    pub volume_filter: Option<bool>,
}

/// `training`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSection {
    /// `method` (only `supervised`).
    pub method: Option<String>,
    /// `labels`.
    pub labels: Labels,
    /// `data_split`.
    pub data_split: DataSplit,
}

/// `training.labels` (`source: zigzag`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Labels {
    /// `zigzag_threshold` in (0, 1): the smallest relative swing that makes an extreme.
    pub zigzag_threshold: f64,
    /// `label_lookahead`: the furthest a label may look ahead, in base bars (the zigzag's
    /// horizon).
    pub label_lookahead: usize,
}

/// `training.data_split`: fractions of each symbol's rows, in time order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataSplit {
    /// `train`: the earliest rows.
    pub train: f64,
    /// `validation`: the rows after them.
    pub validation: f64,
    /// `test`: the latest rows.
    pub test: f64,
}
