//! A labelled dataset from feature rows: zigzag labels on the base timeframe's close, then each
//! symbol's rows split in time order.

use std::ops::Range;

use ktrdr_data::types::{BarSeries, Timeframe};
use ktrdr_indicators::labels::{zigzag_extremes, ZigZagLabeler};

use super::{FeatureError, FeatureFrame, FeatureSpec};
use crate::dataset::{Dataset, Samples};
use crate::strategy::{DataSplit, Labels};

/// One symbol's bars: one series per timeframe of the feature spec.
#[derive(Debug, Clone)]
pub struct SymbolBars {
    /// The symbol; its position in the list given to [`assemble_dataset`] is its embedding
    /// index.
    pub symbol: String,
    /// Its series, one per timeframe.
    pub series: Vec<(Timeframe, BarSeries)>,
}

/// Builds the dataset of `symbols` (in embedding order, normally the strategy's order).
///
/// Rows are base bars with every feature defined and a final label. Each symbol's rows are
/// split in time order: the first `train` fraction, then `validation`, then the rest as test, so
/// every train row is earlier than every validation row, itself earlier than every test row (the
/// Python system shuffled first). Each part is then labelled from its own bars only: a zigzag
/// extreme is known only once a later bar confirms it, at any distance, so labels computed over
/// the whole series would let a validation or test price decide a train label. The bars from a
/// part's last extreme on have no label: that extreme is provisional and what follows it depends
/// on bars not seen yet (the Python system labelled them HOLD).
pub fn assemble_dataset(
    spec: &FeatureSpec,
    labels: Labels,
    split: DataSplit,
    symbols: &[SymbolBars],
) -> Result<Dataset, FeatureError> {
    let frames = symbols
        .iter()
        .map(|bars| symbol_frame(spec, bars))
        .collect::<Result<Vec<_>, _>>()?;
    label_and_split(spec, labels, split, &frames)
}

/// One symbol's feature rows with the closes of its base bars, which its labels come from.
#[derive(Debug, Clone)]
pub struct SymbolFrame {
    /// The symbol.
    pub symbol: String,
    /// Its feature rows.
    pub frame: FeatureFrame,
    /// The close of every base bar (the frame's `bar_index` points into it).
    pub close: Vec<f64>,
}

/// The first half of [`assemble_dataset`]: one symbol's feature rows (indicators, fuzzy
/// memberships, alignment, lags).
pub fn symbol_frame(spec: &FeatureSpec, bars: &SymbolBars) -> Result<SymbolFrame, FeatureError> {
    let base = spec.base_timeframe()?;
    let frame = spec.build(&bars.series)?;
    let close = bars
        .series
        .iter()
        .find(|(tf, _)| *tf == base)
        .map(|(_, s)| s.close().to_vec())
        .ok_or(FeatureError::MissingSeries(base))?;
    Ok(SymbolFrame {
        symbol: bars.symbol.clone(),
        frame,
        close,
    })
}

/// The second half of [`assemble_dataset`]: labels every symbol's rows and splits them; the
/// symbols' order is their embedding order.
pub fn label_and_split(
    spec: &FeatureSpec,
    labels: Labels,
    split: DataSplit,
    frames: &[SymbolFrame],
) -> Result<Dataset, FeatureError> {
    let labeler = ZigZagLabeler::new(labels.zigzag_threshold, Some(labels.label_lookahead))?;
    let mut dataset = Dataset {
        feature_names: spec.fuzzy_features.clone(),
        symbols: frames.iter().map(|s| s.symbol.clone()).collect(),
        train: Samples::default(),
        validation: Samples::default(),
        test: Samples::default(),
    };
    for (
        index,
        SymbolFrame {
            symbol,
            frame,
            close,
        },
    ) in frames.iter().enumerate()
    {
        let parts = split_rows(frame.len(), split).map_err(|why| FeatureError::TooFewRows {
            symbol: symbol.clone(),
            rows: frame.len(),
            why,
        })?;
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let targets = [
            (&mut dataset.train, "train"),
            (&mut dataset.validation, "validation"),
            (&mut dataset.test, "test"),
        ];
        for (part, (samples, name)) in parts.into_iter().zip(targets) {
            let (Some(&first), Some(&last)) = (
                frame.bar_index.get(part.start),
                part.end.checked_sub(1).and_then(|r| frame.bar_index.get(r)),
            ) else {
                continue;
            };
            let bars = &close[first..=last];
            let signals = labeler.labels(bars);
            let labelled_until = zigzag_extremes(bars, labels.zigzag_threshold)
                .last()
                .copied()
                .unwrap_or(0);
            let before = samples.len();
            for r in part {
                let bar = frame.bar_index[r] - first;
                if bar < labelled_until {
                    push_row(samples, frame, r, signals[bar], index);
                }
            }
            if samples.len() == before && name != "test" {
                return Err(FeatureError::TooFewRows {
                    symbol: symbol.clone(),
                    rows: frame.len(),
                    why: format!("no {name} row has a confirmed zigzag label"),
                });
            }
        }
    }
    Ok(dataset)
}

fn push_row(
    samples: &mut Samples,
    frame: &FeatureFrame,
    r: usize,
    label: ktrdr_indicators::Signal,
    symbol: u32,
) {
    samples.features.extend_from_slice(frame.row(r));
    samples.labels.push(label);
    samples.symbol.push(symbol);
    samples.ts.push(frame.ts[r]);
}

/// The train, validation and test ranges of `n` rows in time order, with `purge` rows left
/// out at the end of a part that another follows.
fn split_rows(n: usize, split: DataSplit) -> Result<[Range<usize>; 3], String> {
    // Truncation as in the Python system: the test part takes the remainder.
    let n_train = (n as f64 * split.train) as usize;
    let n_val = ((n as f64 * split.validation) as usize).min(n - n_train);
    let parts = [0..n_train, n_train..n_train + n_val, n_train + n_val..n];
    if parts[0].is_empty() {
        return Err("no train row".to_owned());
    }
    if parts[1].is_empty() {
        return Err("no validation row".to_owned());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(train: f64, validation: f64, test: f64) -> DataSplit {
        DataSplit {
            train,
            validation,
            test,
        }
    }

    #[test]
    fn parts_are_consecutive_in_time_order() {
        let [t, v, s] = split_rows(100, split(0.7, 0.15, 0.15)).unwrap();
        assert_eq!((t, v, s), (0..70, 70..85, 85..100));
        let [t, v, s] = split_rows(100, split(0.8, 0.2, 0.0)).unwrap();
        assert_eq!((t, v, s), (0..80, 80..100, 100..100));
    }

    #[test]
    fn too_few_rows_are_refused() {
        assert!(split_rows(3, split(0.7, 0.15, 0.15)).is_err());
        assert!(split_rows(1, split(0.7, 0.15, 0.15)).is_err());
    }
}
