//! Strategy files (format 2.0): parsed into typed config with every problem reported by key
//! path, never silently dropped.
//!
//! Every key of the format is either acted on by training, or accepted and reported as a note
//! ("not used by training"); any other key is an error naming its path and the allowed keys.

mod checks;
mod config;
mod locate;
mod parse;
mod reader;
mod report;

use std::path::{Path, PathBuf};

pub use config::*;
pub use report::{Problem, Report, StrategyError};

use ktrdr_data::types::{Symbol, Timeframe};

use crate::spec::{MlpSpec, TrainParams};

/// The outcome of checking one strategy text: the strategy when it has no errors, and every
/// error and note found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The strategy, when `report` has no errors.
    pub strategy: Option<Strategy>,
    /// Every error and note.
    pub report: Report,
}

/// Checks strategy YAML text, reporting every problem with its key path and, where it can be
/// told, its line.
pub fn check_str(text: &str) -> Checked {
    let mut report = Report::default();
    let doc: serde_norway::Value = match serde_norway::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            report.errors.push(Problem {
                path: String::new(),
                line: e.location().map(|l| l.line()),
                message: format!("not valid YAML: {e}"),
            });
            return Checked {
                strategy: None,
                report,
            };
        }
    };
    let strategy = parse::strategy(&mut report, &doc);
    for problem in report.errors.iter_mut().chain(report.notes.iter_mut()) {
        problem.line = problem
            .line
            .or_else(|| locate::line_of(text, &problem.path));
    }
    Checked {
        strategy: strategy.filter(|_| report.is_ok()),
        report,
    }
}

/// Reads and checks a strategy file.
pub fn check_file(path: &Path) -> Result<Checked, StrategyError> {
    let text = std::fs::read_to_string(path).map_err(|source| StrategyError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(check_str(&text))
}

impl Strategy {
    /// Loads a strategy file; any error in it fails the load with every problem listed.
    pub fn load(path: &Path) -> Result<Strategy, StrategyError> {
        let checked = check_file(path)?;
        into_strategy(checked, path.to_owned())
    }

    /// Parses strategy YAML text, as [`Strategy::load`] does a file.
    pub fn from_yaml(text: &str) -> Result<Strategy, StrategyError> {
        into_strategy(check_str(text), PathBuf::from("<input>"))
    }

    /// The symbols named by `training_data`, in embedding order.
    pub fn symbols(&self) -> Option<&[Symbol]> {
        self.training_data.as_ref().map(|d| d.symbols.as_slice())
    }

    /// The timeframes named by `training_data`, in file order.
    pub fn timeframes(&self) -> Option<&[Timeframe]> {
        self.training_data.as_ref().map(|d| d.timeframes.as_slice())
    }

    /// `model.architecture`.
    pub fn architecture(&self) -> &Architecture {
        &self.model.architecture
    }

    /// `model.training`.
    pub fn training_params(&self) -> &TrainParams {
        &self.model.training
    }

    /// The network for `input_size` feature columns and `num_symbols` symbols.
    pub fn mlp_spec(&self, input_size: usize, num_symbols: usize) -> MlpSpec {
        let arch = &self.model.architecture;
        MlpSpec {
            input_size,
            num_symbols,
            symbol_embedding_dim: self.model.symbol_embedding_dim,
            hidden_layers: arch.hidden_layers.clone(),
            activation: arch.activation,
            // The file's dropout is checked to lie in [0, 1); f32 is what the network uses.
            dropout: arch.dropout as f32,
        }
    }

    /// `training.labels`.
    pub fn labels(&self) -> Labels {
        self.training.labels
    }

    /// `training.data_split`.
    pub fn data_split(&self) -> DataSplit {
        self.training.data_split
    }

    /// The number of feature columns for `timeframes` timeframes: one per fuzzy set per
    /// timeframe, times one plus the lags.
    pub fn feature_width(&self, timeframes: usize) -> usize {
        let sets: usize = self.fuzzy_sets.iter().map(|f| f.sets.len()).sum();
        sets * timeframes * (1 + self.model.lookback_periods)
    }
}

fn into_strategy(checked: Checked, path: PathBuf) -> Result<Strategy, StrategyError> {
    match checked.strategy {
        Some(s) => Ok(s),
        None => Err(StrategyError::Invalid {
            path,
            report: checked.report,
        }),
    }
}
