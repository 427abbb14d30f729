//! Checks across sections: names that must refer to each other, and sizes that must agree.

use super::config::{FuzzyInput, IndicatorEntry, ModelSection, TrainingData};
use super::report::Report;

/// The sections that refer to each other, each present when it parsed; a check runs when the
/// sections it needs are present, so a broken section does not hide problems in the others.
pub(super) struct Sections<'s> {
    pub(super) indicators: Option<&'s [IndicatorEntry]>,
    pub(super) fuzzy_sets: Option<&'s [FuzzyInput]>,
    pub(super) model: Option<&'s ModelSection>,
    pub(super) training_data: Option<&'s TrainingData>,
}

/// Adds every cross-section problem to `report`.
pub(super) fn cross_checks(s: Sections<'_>, report: &mut Report) {
    let (Some(indicators), Some(fuzzy_sets)) = (s.indicators, s.fuzzy_sets) else {
        return;
    };
    for (i, ind) in indicators.iter().enumerate() {
        if indicators[..i].iter().any(|o| o.name == ind.name) {
            report.error(
                format!("indicators[{i}].name"),
                format!(
                    "{:?} is used by an earlier indicator; names must be unique (fuzzy sets and \
                     feature columns refer to indicators by name)",
                    ind.name
                ),
            );
        }
        if !fuzzy_sets.iter().any(|f| f.indicator == ind.name) {
            report.note(
                format!("indicators[{i}]"),
                format!(
                    "{:?} has no fuzzy sets, so it is not a feature and is not computed",
                    ind.name
                ),
            );
        }
    }
    let names: Vec<&str> = indicators.iter().map(|i| i.name.as_str()).collect();
    for input in fuzzy_sets {
        if !names.contains(&input.indicator.as_str()) {
            report.error(
                format!("fuzzy_sets.{}", input.indicator),
                format!(
                    "no indicator is named {:?}; indicators: {}",
                    input.indicator,
                    names.join(", ")
                ),
            );
        }
    }
    let (Some(model), Some(data)) = (s.model, s.training_data) else {
        return;
    };
    if let Some(size) = model.input_size {
        let sets: usize = fuzzy_sets.iter().map(|f| f.sets.len()).sum();
        let width = sets * data.timeframes.len() * (1 + model.lookback_periods);
        if size != width {
            report.error(
                "model.input_size",
                format!(
                    "{size} does not match the {width} feature columns ({} fuzzy sets x {} \
                     timeframes x (1 + {} lags))",
                    sets,
                    data.timeframes.len(),
                    model.lookback_periods
                ),
            );
        }
    }
}
