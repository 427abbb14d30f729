//! Checks across sections: names that must refer to each other, and sizes that must agree.

use super::config::{FuzzyInput, ModelSection, TrainingData};
use super::report::Report;

/// The sections that refer to each other, each present when it parsed; a check runs when the
/// sections it needs are present, so a broken section does not hide problems in the others.
pub(super) struct Sections<'s> {
    /// The name each `indicators` entry declares, by position (`None` when it declares none),
    /// valid or not: a fuzzy set of a broken indicator is not also reported as dangling.
    pub(super) indicator_names: Option<&'s [Option<String>]>,
    pub(super) fuzzy_sets: Option<&'s [FuzzyInput]>,
    /// Names of indicators whose value at a bar depends on later bars (zigzag).
    pub(super) looking_ahead: &'s [&'s str],
    pub(super) model: Option<&'s ModelSection>,
    pub(super) training_data: Option<&'s TrainingData>,
}

/// Adds every cross-section problem to `report`.
pub(super) fn cross_checks(s: Sections<'_>, report: &mut Report) {
    let (Some(declared), Some(fuzzy_sets)) = (s.indicator_names, s.fuzzy_sets) else {
        return;
    };
    for (i, name) in declared.iter().enumerate() {
        let Some(name) = name else { continue };
        if declared[..i].iter().flatten().any(|o| o == name) {
            report.error(
                format!("indicators[{i}].name"),
                format!(
                    "{:?} is used by an earlier indicator; names must be unique (fuzzy sets and \
                     feature columns refer to indicators by name)",
                    name
                ),
            );
        }
        if !fuzzy_sets.iter().any(|f| &f.indicator == name) {
            report.note(
                format!("indicators[{i}]"),
                format!("{name:?} has no fuzzy sets, so it is not a feature and is not computed"),
            );
        }
    }
    let names: Vec<&str> = declared.iter().flatten().map(String::as_str).collect();
    for input in fuzzy_sets {
        if s.looking_ahead.contains(&input.indicator.as_str()) {
            report.error(
                format!("fuzzy_sets.{}", input.indicator),
                format!(
                    "{:?} is a zigzag, which looks ahead (an extreme is known only once later \
                     bars confirm it); it can label bars but not be a feature",
                    input.indicator
                ),
            );
        }
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
