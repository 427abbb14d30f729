//! What a training is asked to do, and the same request checked and resolved.

use std::path::{Path, PathBuf};

use ktrdr_data::types::{format_timestamp, parse_timestamp, parse_window_end, Symbol, Timeframe};
use serde_json::{json, Value};

use crate::strategy::Strategy;

/// A strategy file's text with the name its models are stored under.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategySource {
    /// The file stem (`rsi_mean_reversion`): the models' directory, as the Python system named
    /// it (the YAML's own `name` may differ).
    pub name: String,
    /// The YAML text.
    pub yaml: String,
    /// Where it was read from, if from a file.
    pub path: Option<PathBuf>,
}

impl StrategySource {
    /// Reads a strategy file.
    ///
    /// # Errors
    ///
    /// The file cannot be read (the message names it).
    pub fn read(path: &Path) -> Result<Self, PrepareError> {
        let yaml = std::fs::read_to_string(path).map_err(|e| {
            PrepareError::Input(format!("cannot read strategy file {}: {e}", path.display()))
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                PrepareError::Input(format!(
                    "{} has no file name to name its models by",
                    path.display()
                ))
            })?
            .to_owned();
        Ok(StrategySource {
            name,
            yaml,
            path: Some(path.to_owned()),
        })
    }
}

/// A training as asked for, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRequest {
    /// The strategy.
    pub strategy: StrategySource,
    /// Symbols to train on, in embedding order; empty: the strategy's `training_data`.
    pub symbols: Vec<String>,
    /// Timeframes; empty: the strategy's.
    pub timeframes: Vec<String>,
    /// First bar (Unix seconds, UTC), inclusive; `None`: the earliest stored.
    pub start: Option<i64>,
    /// Last bar (Unix seconds, UTC), inclusive; `None`: the latest stored.
    pub end: Option<i64>,
    /// Epochs instead of the strategy's (short runs, tests).
    pub epochs: Option<u32>,
    /// The RNG seed; the same seed and data give the same model.
    pub seed: u64,
    /// Continue from the checkpoint a cancelled or interrupted run of the same model left.
    pub resume: bool,
}

impl TrainingRequest {
    /// The default seed, so that two runs of the same command give the same model.
    pub const DEFAULT_SEED: u64 = 42;
}

/// Why a training cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The strategy has errors (every one is listed, with its key path).
    #[error(transparent)]
    Strategy(#[from] crate::strategy::StrategyError),
    /// A symbol, timeframe, date or option is wrong.
    #[error("{0}")]
    Input(String),
}

/// A checked request: the strategy parsed and the series resolved.
#[derive(Debug, Clone)]
pub struct PreparedTraining {
    /// The request as given.
    pub request: TrainingRequest,
    /// The parsed strategy.
    pub strategy: Strategy,
    /// Symbols in embedding order.
    pub symbols: Vec<Symbol>,
    /// Timeframes, shortest (the base) first.
    pub timeframes: Vec<Timeframe>,
    /// The epochs to run.
    pub epochs: u32,
}

impl PreparedTraining {
    /// Checks `request`: parses its strategy (every problem reported) and resolves its symbols
    /// and timeframes.
    ///
    /// # Errors
    ///
    /// [`PrepareError`] naming every problem.
    pub fn new(request: TrainingRequest) -> Result<Self, PrepareError> {
        let strategy = Strategy::from_yaml(&request.strategy.yaml)?;
        let symbols = if request.symbols.is_empty() {
            strategy
                .symbols()
                .map(<[Symbol]>::to_vec)
                .unwrap_or_default()
        } else {
            parse_all(&request.symbols, "symbol")?
        };
        if symbols.is_empty() {
            return Err(PrepareError::Input(
                "no symbols: name them, or list them under training_data.symbols".to_owned(),
            ));
        }
        let mut timeframes: Vec<Timeframe> = if request.timeframes.is_empty() {
            strategy
                .timeframes()
                .map(<[Timeframe]>::to_vec)
                .unwrap_or_default()
        } else {
            parse_all(&request.timeframes, "timeframe")?
        };
        if timeframes.is_empty() {
            return Err(PrepareError::Input(
                "no timeframes: name them, or list them under training_data.timeframes".to_owned(),
            ));
        }
        timeframes.sort_by_key(|tf| tf.seconds());
        timeframes.dedup();
        if let (Some(start), Some(end)) = (request.start, request.end) {
            if start > end {
                return Err(PrepareError::Input(format!(
                    "start {} is after end {}",
                    format_timestamp(start),
                    format_timestamp(end)
                )));
            }
        }
        let epochs = match request.epochs {
            Some(0) => return Err(PrepareError::Input("epochs must be at least 1".to_owned())),
            Some(n) => n,
            None => u32::try_from(strategy.training_params().epochs).unwrap_or(u32::MAX),
        };
        Ok(PreparedTraining {
            request,
            strategy,
            symbols,
            timeframes,
            epochs,
        })
    }

    /// The base timeframe (the shortest).
    pub fn base_timeframe(&self) -> Timeframe {
        self.timeframes[0]
    }

    /// `SPY+QQQ 15m/1h`: the series part of the progress line.
    pub fn series_label(&self) -> String {
        let symbols: Vec<&str> = self.symbols.iter().map(Symbol::as_str).collect();
        let timeframes: Vec<&str> = self.timeframes.iter().map(|t| t.as_str()).collect();
        format!("{} {}", symbols.join("+"), timeframes.join("/"))
    }

    /// `rsi_mean_reversion SPY+QQQ 15m/1h`: what messages call this training.
    pub fn describe(&self) -> String {
        format!("{} {}", self.request.strategy.name, self.series_label())
    }

    /// The operation's metadata: the Python keys (`symbol`/`timeframe` of the first series,
    /// `parameters`), and the ETA factors (strategy, epochs; `items` is added by the caller
    /// when the stored bars are counted).
    pub fn metadata(&self, use_host_service: bool) -> Value {
        let symbols: Vec<&str> = self.symbols.iter().map(Symbol::as_str).collect();
        let timeframes: Vec<&str> = self.timeframes.iter().map(|t| t.as_str()).collect();
        let strategy = &self.request.strategy;
        json!({
            "symbol": symbols[0],
            "timeframe": timeframes[0],
            "symbols": symbols,
            "timeframes": timeframes,
            "strategy": strategy.name,
            "start": self.request.start.map(format_timestamp),
            "end": self.request.end.map(format_timestamp),
            "epochs": self.epochs,
            "seed": self.request.seed,
            "resume": self.request.resume,
            // A resumed run trains only what is left, and a host has other hardware: neither
            // teaches how long a whole run here takes.
            "eta_factors": {
                "strategy": strategy.name,
                "epochs": self.epochs,
                "run": match (use_host_service, self.request.resume) {
                    (true, _) => "host",
                    (false, true) => "resumed",
                    (false, false) => "whole",
                },
            },
            "parameters": {
                "strategy_name": strategy.name,
                "strategy_path": strategy.path.as_ref().map(|p| p.display().to_string()),
                "training_type": "mlp",
                "symbols": symbols,
                "timeframes": timeframes,
                "epochs": self.epochs,
                "use_host_service": use_host_service,
            },
        })
    }
}

fn parse_all<T: std::str::FromStr>(texts: &[String], what: &str) -> Result<Vec<T>, PrepareError>
where
    T::Err: std::fmt::Display,
{
    texts
        .iter()
        .map(|t| {
            t.parse::<T>()
                .map_err(|e| PrepareError::Input(format!("{what} {t:?}: {e}")))
        })
        .collect()
}

/// A window bound given as text (`2024-06-30`, or an RFC 3339 instant), in Unix seconds; a date
/// alone as the `end` covers that whole day ([`parse_window_end`]). `field` names it in the
/// error.
///
/// # Errors
///
/// A message naming `field` and the text.
pub fn date_bound(text: Option<&str>, field: &str, end: bool) -> Result<Option<i64>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let parse = if end {
        parse_window_end
    } else {
        parse_timestamp
    };
    parse(text)
        .map(Some)
        .map_err(|e| format!("{field} {text:?}: {e}"))
}
