//! Builds a [`Strategy`] from a parsed YAML tree, section by section, reporting every problem.
//! Each section parser returns `None` when its section is unusable; its problems are already in
//! the report, and parsing goes on so the other sections are checked too.

use serde_norway::Value;

mod data;
mod indicators;
mod model;

use data::{deployment, training_data};
use indicators::{fuzzy_sets, indicators};
use model::model;

use super::checks::{self, Sections};
use super::config::*;
use super::reader::{self as r, Fields};
use super::report::Report;

const NOT_USED: &str = "accepted; not used by training";

/// The whole document.
pub(super) fn strategy(report: &mut Report, doc: &Value) -> Option<Strategy> {
    let mut top = Fields::of(report, "", doc)?;
    let name = top
        .required(report, "name")
        .and_then(|(v, p)| non_empty(report, &p, v));
    let description = top
        .optional("description")
        .and_then(|(v, p)| r::string(report, &p, v));
    let version = top
        .required(report, "version")
        .and_then(|(v, p)| version(report, &p, v));
    let hypothesis = top.optional("hypothesis").and_then(|(v, p)| {
        report.note(&p, NOT_USED);
        r::string(report, &p, v)
    });
    let scope = top.optional("scope").and_then(|(v, p)| {
        report.note(&p, NOT_USED);
        match r::choice(report, &p, v, &["universal", "symbol_specific"])? {
            "universal" => Some(Scope::Universal),
            _ => Some(Scope::SymbolSpecific),
        }
    });
    let training_data = top
        .optional("training_data")
        .map(|(v, p)| training_data(report, &p, v));
    let deployment = top.optional("deployment").map(|(v, p)| {
        report.note(&p, NOT_USED);
        deployment(report, &p, v)
    });
    let indicators = top
        .required(report, "indicators")
        .and_then(|(v, p)| indicators(report, &p, v));
    let indicator_names: Option<Vec<Option<String>>> = indicators
        .as_ref()
        .map(|all| all.iter().map(|(name, _)| name.clone()).collect());
    let indicators: Option<Vec<StrategyIndicator>> =
        indicators.map(|all| all.into_iter().filter_map(|(_, ind)| ind).collect());
    let looking_ahead: Vec<&str> = indicators
        .iter()
        .flatten()
        .filter(|i| matches!(i.spec.indicator, ktrdr_indicators::Indicator::ZigZag { .. }))
        .map(|i| i.spec.name.as_str())
        .collect();
    let fuzzy_sets = top
        .required(report, "fuzzy_sets")
        .and_then(|(v, p)| fuzzy_sets(report, &p, v));
    let model = top
        .required(report, "model")
        .and_then(|(v, p)| model(report, &p, v));
    let decisions = top.optional("decisions").map(|(v, p)| {
        report.note(&p, "accepted; used by backtests, not by training");
        decisions(report, &p, v)
    });
    let training = top
        .required(report, "training")
        .and_then(|(v, p)| training(report, &p, v));
    top.finish(report);
    let training_data = training_data.flatten();
    checks::cross_checks(
        Sections {
            indicator_names: indicator_names.as_deref(),
            looking_ahead: &looking_ahead,
            fuzzy_sets: fuzzy_sets.as_deref(),
            model: model.as_ref(),
            training_data: training_data.as_ref(),
        },
        report,
    );
    Some(Strategy {
        name: name?,
        description,
        version: version?,
        hypothesis,
        scope,
        training_data,
        deployment: deployment.flatten(),
        indicators: indicators?,
        fuzzy_sets: fuzzy_sets?,
        model: model?,
        decisions: decisions.flatten(),
        training: training?,
    })
}

fn non_empty(report: &mut Report, path: &str, v: &Value) -> Option<String> {
    let s = r::string(report, path, v)?;
    if s.trim().is_empty() {
        report.error(path, "must not be empty");
        return None;
    }
    Some(s)
}

fn version(report: &mut Report, path: &str, v: &Value) -> Option<String> {
    // `version: 2.0` unquoted is a YAML float; it means the same format.
    let text = match v {
        Value::Number(n) if n.as_f64() == Some(2.0) => "2.0".to_owned(),
        other => r::string(report, path, other)?,
    };
    if text != "2.0" {
        report.error(
            path,
            format!("format version {text:?} is not supported; allowed: \"2.0\""),
        );
        return None;
    }
    Some(text)
}

fn decisions(report: &mut Report, path: &str, v: &Value) -> Option<Decisions> {
    let mut f = Fields::of(report, path, v)?;
    let output_format = f
        .optional("output_format")
        .and_then(|(v, p)| r::choice(report, &p, v, &["classification"]))
        .map(str::to_owned);
    let confidence_threshold = f
        .optional("confidence_threshold")
        .and_then(|(v, p)| r::number_in(report, &p, v, 0.0, 1.0, true));
    let position_awareness = f
        .optional("position_awareness")
        .and_then(|(v, p)| r::boolean(report, &p, v));
    let (min_signal_separation, volume_filter) = match f.optional("filters") {
        Some((v, p)) => match Fields::of(report, &p, v) {
            Some(mut g) => {
                let sep = g
                    .optional("min_signal_separation")
                    .and_then(|(v, p)| r::number_in(report, &p, v, 0.0, f64::MAX, true));
                let vol = g
                    .optional("volume_filter")
                    .and_then(|(v, p)| r::boolean(report, &p, v));
                g.finish(report);
                (sep, vol)
            }
            None => (None, None),
        },
        None => (None, None),
    };
    f.finish(report);
    Some(Decisions {
        output_format,
        confidence_threshold,
        position_awareness,
        min_signal_separation,
        volume_filter,
    })
}

fn training(report: &mut Report, path: &str, v: &Value) -> Option<TrainingSection> {
    let mut f = Fields::of(report, path, v)?;
    let method = f
        .optional("method")
        .and_then(|(v, p)| r::choice(report, &p, v, &["supervised"]).map(str::to_owned));
    let labels = f
        .required(report, "labels")
        .and_then(|(v, p)| labels(report, &p, v));
    let data_split = f
        .required(report, "data_split")
        .and_then(|(v, p)| data_split(report, &p, v));
    f.finish(report);
    Some(TrainingSection {
        method,
        labels: labels?,
        data_split: data_split?,
    })
}

fn labels(report: &mut Report, path: &str, v: &Value) -> Option<Labels> {
    let mut f = Fields::of(report, path, v)?;
    if let Some((v, p)) = f.optional("source") {
        r::choice(report, &p, v, &["zigzag"]);
    }
    let threshold = f
        .required(report, "zigzag_threshold")
        .and_then(|(v, p)| r::number_in(report, &p, v, 0.0, 1.0, false));
    let lookahead = f
        .required(report, "label_lookahead")
        .and_then(|(v, p)| r::count(report, &p, v, 1));
    f.finish(report);
    Some(Labels {
        zigzag_threshold: threshold?,
        label_lookahead: lookahead?,
    })
}

fn data_split(report: &mut Report, path: &str, v: &Value) -> Option<DataSplit> {
    let mut f = Fields::of(report, path, v)?;
    let mut part = |report: &mut Report, key: &'static str| {
        f.required(report, key)
            .and_then(|(v, p)| r::number_in(report, &p, v, 0.0, 1.0, true))
    };
    let train = part(report, "train");
    let validation = part(report, "validation");
    let test = part(report, "test");
    f.finish(report);
    let split = DataSplit {
        train: train?,
        validation: validation?,
        test: test?,
    };
    let sum = split.train + split.validation + split.test;
    if (sum - 1.0).abs() > 1e-6 {
        report.error(
            path,
            // Rounded: 0.7 + 0.2 + 0.2 is 1.0999999999999999 in binary.
            format!(
                "train + validation + test must be 1, found {}",
                (sum * 1e9).round() / 1e9
            ),
        );
        return None;
    }
    if split.train <= 0.0 || split.validation <= 0.0 {
        report.error(
            path,
            "train and validation must both be greater than 0 (validation picks the saved epoch)",
        );
        return None;
    }
    Some(split)
}
