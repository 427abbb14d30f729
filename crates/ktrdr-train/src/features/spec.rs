//! [`FeatureSpec`]: the one description of the feature columns, built from a strategy for
//! training, stored as `features.json` beside the model, and read back for prediction, so both
//! compute exactly the same columns in the same order.

use std::collections::BTreeMap;

use ktrdr_data::types::Timeframe;
use ktrdr_indicators::{Indicator, IndicatorEntry, IndicatorSpec, MembershipFunction};
use serde::{Deserialize, Serialize};

use super::FeatureError;
use crate::strategy::Strategy;

/// `features.json`: the Python system's fields (model_version, feature_type, fuzzy_features,
/// feature_count, temporal_config, scaling_info, feature_importance) plus what prediction needs
/// to rebuild the columns (timeframes, inputs).
///
/// Column order, fixed here and nowhere else: timeframes shortest first (the first is the base,
/// whose bars are the rows); within one, the fuzzy inputs in strategy-file order; within one,
/// its sets in file order: `<tf>_<indicator>_<set>`, or `<indicator>_<set>` with a single
/// timeframe (the Python names). Then the lags, lag-major: every base column lagged 1 bar as
/// `<col>_lag_1`, then every column lagged 2 bars, up to `lookback_periods`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Always `pure_fuzzy_v1`.
    pub model_version: String,
    /// Always `pure_fuzzy`.
    pub feature_type: String,
    /// Every column name, in row order.
    pub fuzzy_features: Vec<String>,
    /// `fuzzy_features.len()`.
    pub feature_count: usize,
    /// The lags.
    pub temporal_config: TemporalConfig,
    /// Memberships are in [0, 1] already: no scaler.
    pub scaling_info: ScalingInfo,
    /// Importance by column name (filled by the trainer when it measures it).
    #[serde(default)]
    pub feature_importance: BTreeMap<String, f64>,
    /// The timeframes, shortest (the base) first.
    pub timeframes: Vec<Timeframe>,
    /// The fuzzified indicators, in column order.
    pub inputs: Vec<FeatureInput>,
}

/// `temporal_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporalConfig {
    /// Lagged copies of every base column.
    pub lookback_periods: usize,
    /// `lookback_periods > 0`.
    pub enabled: bool,
}

/// `scaling_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingInfo {
    /// Always false.
    pub requires_scaling: bool,
    /// Why.
    pub reason: String,
}

/// One fuzzified indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureInput {
    /// The name columns use (`rsi`).
    pub name: String,
    /// The indicator as the strategy file wrote it.
    pub indicator: IndicatorEntry,
    /// Its sets, in column order.
    pub sets: Vec<FeatureSet>,
}

/// One fuzzy set of a [`FeatureInput`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSet {
    /// The set's name (`oversold`).
    pub name: String,
    /// Its membership function.
    pub membership: MembershipFunction,
}

impl FeatureSpec {
    /// The features of `strategy` on `timeframes` (the file's when the run names none).
    pub fn from_strategy(
        strategy: &Strategy,
        timeframes: &[Timeframe],
    ) -> Result<FeatureSpec, FeatureError> {
        let mut tfs = timeframes.to_vec();
        tfs.sort();
        tfs.dedup();
        if tfs.is_empty() {
            return Err(FeatureError::NoTimeframe);
        }
        let inputs = strategy
            .fuzzy_sets
            .iter()
            .map(|fuzzy| {
                let ind = strategy
                    .indicators
                    .iter()
                    .find(|i| i.spec.name == fuzzy.indicator)
                    .ok_or_else(|| FeatureError::UnknownInput(fuzzy.indicator.clone()))?;
                Ok(FeatureInput {
                    name: fuzzy.indicator.clone(),
                    indicator: ind.entry.clone(),
                    sets: fuzzy
                        .sets
                        .iter()
                        .map(|s| FeatureSet {
                            name: s.name.clone(),
                            membership: s.membership,
                        })
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>, FeatureError>>()?;
        let lookback = strategy.model.lookback_periods;
        let mut spec = FeatureSpec {
            model_version: "pure_fuzzy_v1".to_owned(),
            feature_type: "pure_fuzzy".to_owned(),
            fuzzy_features: Vec::new(),
            feature_count: 0,
            temporal_config: TemporalConfig {
                lookback_periods: lookback,
                enabled: lookback > 0,
            },
            scaling_info: ScalingInfo {
                requires_scaling: false,
                reason: "fuzzy memberships are already in [0, 1]".to_owned(),
            },
            feature_importance: BTreeMap::new(),
            timeframes: tfs,
            inputs,
        };
        spec.indicators()?;
        spec.fuzzy_features = spec.column_names();
        spec.feature_count = spec.fuzzy_features.len();
        Ok(spec)
    }

    /// The base timeframe: the shortest, whose bars are the rows.
    pub fn base_timeframe(&self) -> Result<Timeframe, FeatureError> {
        self.timeframes
            .first()
            .copied()
            .ok_or(FeatureError::NoTimeframe)
    }

    /// The column names this spec computes, in order (see the type's docs).
    pub fn column_names(&self) -> Vec<String> {
        let single = self.timeframes.len() == 1;
        let mut base = Vec::new();
        for tf in &self.timeframes {
            for input in &self.inputs {
                for set in &input.sets {
                    base.push(if single {
                        format!("{}_{}", input.name, set.name)
                    } else {
                        format!("{tf}_{}_{}", input.name, set.name)
                    });
                }
            }
        }
        let mut names = base.clone();
        for k in 1..=self.temporal_config.lookback_periods {
            names.extend(base.iter().map(|c| format!("{c}_lag_{k}")));
        }
        names
    }

    /// Checks a spec read from `features.json`: its recorded columns must be the ones it
    /// computes, and its indicators valid, so prediction cannot silently use other columns.
    pub fn check(&self) -> Result<(), FeatureError> {
        if self.timeframes.is_empty() || !self.timeframes.windows(2).all(|w| w[0] < w[1]) {
            return Err(FeatureError::Corrupt(
                "timeframes must be listed shortest first, without repeats".to_owned(),
            ));
        }
        let computed = self.column_names();
        if computed != self.fuzzy_features || self.feature_count != computed.len() {
            return Err(FeatureError::Corrupt(format!(
                "fuzzy_features ({} columns) differ from the columns its inputs compute ({})",
                self.fuzzy_features.len(),
                computed.len()
            )));
        }
        self.indicators().map(|_| ())
    }

    /// The inputs' validated indicators, in input order. ZigZag is refused: it marks an
    /// extreme only once later bars confirm it, so as a feature it would look ahead.
    pub(crate) fn indicators(&self) -> Result<Vec<Indicator>, FeatureError> {
        self.inputs
            .iter()
            .map(|input| {
                let spec = IndicatorSpec::from_entry(&input.indicator).map_err(|source| {
                    FeatureError::Indicator {
                        name: input.name.clone(),
                        source,
                    }
                })?;
                if matches!(spec.indicator, Indicator::ZigZag { .. }) {
                    return Err(FeatureError::LooksAhead(input.name.clone()));
                }
                Ok(spec.indicator)
            })
            .collect()
    }
}
