//! The typed form of a strategy file (format 2.0). Every key of the format has a field here,
//! including those training does not act on, so nothing in a file is silently dropped.

use ktrdr_data::types::{Symbol, Timeframe};

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
    pub indicators: Vec<IndicatorEntry>,
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

/// One entry of `indicators`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorEntry {
    /// `name`: how fuzzy sets and feature columns refer to it.
    pub name: String,
    /// `type`, when given; otherwise the type is named by `name`.
    pub kind: Option<String>,
    /// Every other key, in file order: the indicator's parameters.
    pub params: Vec<(String, ParamValue)>,
}

/// A scalar indicator parameter as written in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A whole number.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// A string (`source: close`).
    Text(String),
    /// A boolean.
    Bool(bool),
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
    /// `type`: `triangular`, `trapezoidal` or `gaussian`.
    pub kind: MembershipKind,
    /// `parameters`.
    pub parameters: Vec<f64>,
}

/// A membership function's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipKind {
    /// `[a, b, c]`.
    Triangular,
    /// `[a, b, c, d]`.
    Trapezoidal,
    /// `[mean, sigma]`.
    Gaussian,
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
    /// `training`.
    pub training: TrainingParams,
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

/// A hidden layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `relu`.
    Relu,
    /// `tanh`.
    Tanh,
    /// `sigmoid`.
    Sigmoid,
    /// `leaky_relu`.
    LeakyRelu,
}

/// `model.training`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingParams {
    /// `learning_rate` (default 0.001).
    pub learning_rate: f64,
    /// `batch_size` (default 32).
    pub batch_size: usize,
    /// `epochs` (default 100).
    pub epochs: usize,
    /// `optimizer` (default adam).
    pub optimizer: Optimizer,
    /// `weight_decay`; absent means none (the Python system used 1e-4 even when absent).
    pub weight_decay: Option<f64>,
    /// `momentum`, for sgd (absent: 0.9 as in the Python system).
    pub momentum: Option<f64>,
    /// `early_stopping`; absent means off.
    pub early_stopping: Option<EarlyStopping>,
    /// `lr_scheduler`; absent means a constant rate.
    pub lr_scheduler: Option<LrScheduler>,
    /// `gradient_clip`: the largest gradient norm; absent means no clipping.
    pub gradient_clip: Option<f64>,
    /// `estimated_duration_minutes` (not used by training: the ETA is learned).
    pub estimated_duration_minutes: Option<f64>,
}

/// `model.training.optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Optimizer {
    /// `adam`.
    Adam,
    /// `sgd`.
    Sgd,
    /// `rmsprop`.
    RmsProp,
}

/// `model.training.early_stopping`.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    /// `patience`: epochs without improvement before stopping (default 10).
    pub patience: usize,
    /// `monitor` (default val_loss).
    pub monitor: Monitor,
    /// `min_delta`: the smallest change that counts as an improvement (default 1e-4).
    pub min_delta: f64,
}

/// What early stopping and plateau scheduling watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    /// `val_loss` (lower is better).
    ValLoss,
    /// `val_accuracy` (higher is better).
    ValAccuracy,
}

/// `model.training.lr_scheduler`.
#[derive(Debug, Clone, PartialEq)]
pub enum LrScheduler {
    /// `type: step`: multiply by `gamma` (default 0.1) every `step_size` (default 30) epochs.
    Step {
        /// Epochs between steps.
        step_size: usize,
        /// Factor per step.
        gamma: f64,
    },
    /// `type: exponential`: multiply by `gamma` (default 0.95) every epoch.
    Exponential {
        /// Factor per epoch.
        gamma: f64,
    },
    /// `type: reduce_on_plateau`: multiply by `factor` (default 0.5) after `patience` (default 5)
    /// epochs without a better validation loss.
    ReduceOnPlateau {
        /// Factor per reduction.
        factor: f64,
        /// Epochs without improvement before reducing.
        patience: usize,
    },
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
