//! The feature pipeline of one symbol: indicators → fuzzy memberships → alignment to the base
//! timeframe → lags → rows with every column defined.

use ktrdr_data::types::{BarSeries, Timeframe};

use super::align::visible_at;
use super::input::fuzzy_input;
use super::spec::FeatureSpec;
use super::FeatureError;

/// Feature rows of one symbol: the base bars at which every column is defined (warm-up rows,
/// before an indicator, a higher timeframe's first closed bar or a lag exists, are dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureFrame {
    /// Column names, as [`FeatureSpec::column_names`].
    pub names: Vec<String>,
    /// Each row's base bar open time, unix seconds.
    pub ts: Vec<i64>,
    /// Each row's position in the base series.
    pub bar_index: Vec<usize>,
    /// `ts.len() * names.len()` values, row-major.
    pub values: Vec<f32>,
}

impl FeatureFrame {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let w = self.names.len();
        &self.values[i * w..(i + 1) * w]
    }

    /// Keeps only the last `n` rows.
    fn keep_last(&mut self, n: usize) {
        let drop = self.len().saturating_sub(n);
        self.ts.drain(..drop);
        self.bar_index.drain(..drop);
        self.values.drain(..drop * self.names.len());
    }
}

impl FeatureSpec {
    /// Every feature row of one symbol from its bars, one series per timeframe of the spec
    /// (extra series are ignored). Used for training. A spec read from a file is checked first
    /// ([`FeatureSpec::check`]), so the names returned are the columns computed.
    pub fn build(&self, series: &[(Timeframe, BarSeries)]) -> Result<FeatureFrame, FeatureError> {
        self.check()?;
        let indicators = self.indicators()?;
        let find = |tf: Timeframe| {
            series
                .iter()
                .find(|(t, _)| *t == tf)
                .map(|(_, s)| s)
                .ok_or(FeatureError::MissingSeries(tf))
        };
        let base_tf = self.base_timeframe()?;
        let base = find(base_tf)?;
        let n = base.len();
        let mut columns: Vec<Vec<f64>> = Vec::with_capacity(self.feature_count);
        for &tf in &self.timeframes {
            let bars = find(tf)?;
            let visible = (tf != base_tf)
                .then(|| visible_at(base.ts(), base_tf.seconds(), bars.ts(), tf.seconds()));
            for (input, indicator) in self.inputs.iter().zip(&indicators) {
                let x = fuzzy_input(indicator, bars);
                for set in &input.sets {
                    let mu = set.membership.apply(&x);
                    columns.push(match &visible {
                        None => mu,
                        Some(visible) => visible
                            .iter()
                            .map(|v| v.map_or(f64::NAN, |j| mu[j]))
                            .collect(),
                    });
                }
            }
        }
        let base_columns = columns.len();
        for k in 1..=self.temporal_config.lookback_periods {
            for c in 0..base_columns {
                let lagged = (0..n)
                    .map(|i| i.checked_sub(k).map_or(f64::NAN, |j| columns[c][j]))
                    .collect();
                columns.push(lagged);
            }
        }
        let keep: Vec<usize> = (0..n)
            .filter(|&i| columns.iter().all(|c| !c[i].is_nan()))
            .collect();
        let mut values = Vec::with_capacity(keep.len() * columns.len());
        for &i in &keep {
            // Memberships are in [0, 1]; f32 is what the network takes.
            values.extend(columns.iter().map(|c| c[i] as f32));
        }
        Ok(FeatureFrame {
            names: self.fuzzy_features.clone(),
            ts: keep.iter().map(|&i| base.ts()[i]).collect(),
            bar_index: keep,
            values,
        })
    }

    /// The last `rows` feature rows, for prediction: the very computation of
    /// [`build`](Self::build), so the columns and their order are the training ones. Give enough
    /// history for the warm-up (the longest indicator period on the longest timeframe, plus the
    /// lags); fewer rows come back otherwise.
    pub fn latest_rows(
        &self,
        series: &[(Timeframe, BarSeries)],
        rows: usize,
    ) -> Result<FeatureFrame, FeatureError> {
        let mut frame = self.build(series)?;
        frame.keep_last(rows);
        Ok(frame)
    }
}
