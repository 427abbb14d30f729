//! Predictions of a stored model for the latest bars of a series, with the features built
//! exactly as at training time, from the model's own `features.json` (its indicators,
//! membership functions, timeframes and column order).

use ktrdr_data::store::BarStore;
use ktrdr_data::types::{Symbol, Timeframe};
use serde_json::Value;

use crate::features::FeatureSpec;
use crate::model::Prediction;
use crate::store_read::LoadedModel;

/// Why a prediction cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The model's files lack something prediction needs.
    #[error("model {model}: {problem}")]
    Model {
        /// The model's name.
        model: String,
        /// What is missing or wrong.
        problem: String,
    },
    /// The symbol was not trained on: it has no embedding row.
    #[error("model {model} was trained on {known}, not {symbol}")]
    UnknownSymbol {
        /// The model's name.
        model: String,
        /// The symbol asked for.
        symbol: String,
        /// The symbols it knows.
        known: String,
    },
    /// A series the features need is not stored.
    #[error("{symbol} {timeframe}: {problem}")]
    Data {
        /// The symbol.
        symbol: Symbol,
        /// The timeframe.
        timeframe: Timeframe,
        /// What went wrong reading it.
        problem: String,
    },
    /// Features could not be built (too few bars for the indicators' warm-up, say).
    #[error("features: {0}")]
    Features(String),
    /// The network refused the rows.
    #[error(transparent)]
    Network(#[from] crate::model::ModelError),
}

/// One predicted bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarPrediction {
    /// The bar's open time (Unix seconds).
    pub ts: i64,
    /// BUY/HOLD/SELL with its probability.
    pub prediction: Prediction,
}

/// The model's predictions for the last `bars` bars of `symbol` (oldest first): every
/// timeframe the model was trained on is read from `store` and the features are built by the
/// model's recorded feature spec.
///
/// # Errors
///
/// [`PredictError`] naming the problem.
pub fn predict_latest(
    store: &BarStore,
    model: &LoadedModel,
    symbol: &Symbol,
    bars: usize,
) -> Result<Vec<BarPrediction>, PredictError> {
    let broken = |problem: String| PredictError::Model {
        model: model.name.clone(),
        problem,
    };
    let symbols: Vec<String> = strings(&model.metadata["symbols"]);
    if symbols.is_empty() {
        return Err(broken("metadata.json has no symbols list".to_owned()));
    }
    let index = symbols
        .iter()
        .position(|s| s == symbol.as_str())
        .ok_or_else(|| PredictError::UnknownSymbol {
            model: model.name.clone(),
            symbol: symbol.to_string(),
            known: symbols.join(", "),
        })?;
    let spec: FeatureSpec = serde_json::from_value(model.features.clone())
        .map_err(|e| broken(format!("features.json: {e}")))?;
    spec.check().map_err(|e| broken(e.to_string()))?;
    let mut series = Vec::with_capacity(spec.timeframes.len());
    for tf in &spec.timeframes {
        let bars = store.load(symbol, *tf).map_err(|e| PredictError::Data {
            symbol: symbol.clone(),
            timeframe: *tf,
            problem: e.to_string(),
        })?;
        series.push((*tf, bars));
    }
    let rows = spec
        .latest_rows(&series, bars)
        .map_err(|e| PredictError::Features(e.to_string()))?;
    let indexes = vec![index as u32; rows.len()];
    let predicted = model.model.predict(&rows.values, &indexes)?;
    Ok(rows
        .ts
        .iter()
        .zip(predicted)
        .map(|(&ts, prediction)| BarPrediction { ts, prediction })
        .collect())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
