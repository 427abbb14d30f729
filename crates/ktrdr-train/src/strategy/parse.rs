//! Builds a [`Strategy`] from a parsed YAML tree, section by section, reporting every problem.
//! Each section parser returns `None` when its section is unusable; its problems are already in
//! the report, and parsing goes on so the other sections are checked too.

use serde_norway::Value;

use ktrdr_data::types::{Symbol, Timeframe};
use ktrdr_indicators::{IndicatorEntry, IndicatorSpec, MembershipFunction, ParamValue, SpecError};

use crate::spec::{Activation, EarlyStopping, LrScheduler, Monitor, OptimizerKind, TrainParams};

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

fn timeframe(report: &mut Report, path: &str, v: &Value) -> Option<Timeframe> {
    let s = r::string(report, path, v)?;
    s.parse()
        .map_err(|e| report.error(path, format!("{e}")))
        .ok()
}

fn timeframes(report: &mut Report, path: &str, v: &Value) -> Option<Vec<Timeframe>> {
    let items = r::list(report, path, v)?;
    let parsed: Vec<Option<Timeframe>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| timeframe(report, &r::index(path, i), item))
        .collect();
    parsed.into_iter().collect()
}

fn training_data(report: &mut Report, path: &str, v: &Value) -> Option<TrainingData> {
    let mut f = Fields::of(report, path, v)?;
    let symbols = f
        .required(report, "symbols")
        .and_then(|(v, p)| symbols(report, &p, v));
    let tfs = f
        .required(report, "timeframes")
        .and_then(|(v, p)| training_timeframes(report, &p, v));
    let history_required = f.optional("history_required").and_then(|(v, p)| {
        report.note(&p, NOT_USED);
        r::count(report, &p, v, 0)
    });
    f.finish(report);
    let (timeframes, base_timeframe) = tfs?;
    Some(TrainingData {
        symbols: symbols?,
        timeframes,
        base_timeframe,
        history_required,
    })
}

fn symbols(report: &mut Report, path: &str, v: &Value) -> Option<Vec<Symbol>> {
    let mut f = Fields::of(report, path, v)?;
    let mode = f
        .required(report, "mode")
        .and_then(|(v, p)| r::choice(report, &p, v, &["multi_symbol", "single"]));
    let list = f.optional("list");
    let single = f.optional("symbol");
    f.finish(report);
    let one = |report: &mut Report, p: &str, v: &Value| {
        let s = r::string(report, p, v)?;
        Symbol::new(&s)
            .map_err(|e| report.error(p, e.to_string()))
            .ok()
    };
    match (mode?, list, single) {
        ("multi_symbol", Some((v, p)), None) => {
            let items = r::list(report, &p, v)?;
            if items.is_empty() {
                report.error(&p, "must name at least one symbol");
                return None;
            }
            let parsed: Vec<Option<Symbol>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| one(report, &r::index(&p, i), item))
                .collect();
            let parsed: Vec<Symbol> = parsed.into_iter().collect::<Option<_>>()?;
            for (i, s) in parsed.iter().enumerate() {
                if parsed[..i].contains(s) {
                    report.error(r::index(&p, i), format!("{s} is listed twice"));
                }
            }
            Some(parsed)
        }
        ("single", None, Some((v, p))) => one(report, &p, v).map(|s| vec![s]),
        (mode, _, _) => {
            let wanted = if mode == "single" { "symbol" } else { "list" };
            report.error(
                path,
                format!("mode {mode} takes `{wanted}` (and only it) beside `mode`"),
            );
            None
        }
    }
}

fn training_timeframes(
    report: &mut Report,
    path: &str,
    v: &Value,
) -> Option<(Vec<Timeframe>, Timeframe)> {
    let mut f = Fields::of(report, path, v)?;
    let mode = f
        .required(report, "mode")
        .and_then(|(v, p)| r::choice(report, &p, v, &["multi_timeframe", "single"]));
    let list = f.optional("list");
    let single = f.optional("timeframe");
    let base = f.optional("base_timeframe");
    let base_path = f.path_of("base_timeframe");
    f.finish(report);
    let tfs = match (mode?, list, single) {
        ("multi_timeframe", Some((v, p)), None) => {
            let tfs = timeframes(report, &p, v)?;
            if tfs.is_empty() {
                report.error(&p, "must name at least one timeframe");
                return None;
            }
            for (i, tf) in tfs.iter().enumerate() {
                if tfs[..i].contains(tf) {
                    report.error(r::index(&p, i), format!("{tf} is listed twice"));
                    return None;
                }
            }
            tfs
        }
        ("single", None, Some((v, p))) => vec![timeframe(report, &p, v)?],
        (mode, _, _) => {
            let wanted = if mode == "single" {
                "timeframe"
            } else {
                "list"
            };
            report.error(
                path,
                format!("mode {mode} takes `{wanted}` beside `mode` (and base_timeframe)"),
            );
            return None;
        }
    };
    let shortest = *tfs.iter().min()?;
    if let Some((v, p)) = base {
        let named = timeframe(report, &p, v)?;
        if named != shortest {
            report.error(
                base_path,
                format!(
                    "{named} is not the shortest timeframe listed; rows are the shortest \
                     timeframe's bars, so base_timeframe must be {shortest}"
                ),
            );
            return None;
        }
    }
    Some((tfs, shortest))
}

fn deployment(report: &mut Report, path: &str, v: &Value) -> Option<Deployment> {
    let mut f = Fields::of(report, path, v)?;
    let target_symbols = f.optional("target_symbols").and_then(|(v, p)| {
        let mut g = Fields::of(report, &p, v)?;
        let mode = g.required(report, "mode").and_then(|(v, p)| {
            r::choice(
                report,
                &p,
                v,
                &["group_restricted", "training_only", "universal"],
            )
        });
        g.finish(report);
        mode.map(str::to_owned)
    });
    let target_timeframes = f.optional("target_timeframes").and_then(|(v, p)| {
        let mut g = Fields::of(report, &p, v)?;
        let mode = g
            .required(report, "mode")
            .and_then(|(v, p)| r::choice(report, &p, v, &["multi_timeframe", "single"]));
        let supported = g.optional("supported");
        let single = g.optional("timeframe");
        g.finish(report);
        match (mode?, supported, single) {
            ("multi_timeframe", Some((v, p)), None) => timeframes(report, &p, v),
            ("single", None, Some((v, p))) => timeframe(report, &p, v).map(|t| vec![t]),
            (mode, _, _) => {
                let wanted = if mode == "single" {
                    "timeframe"
                } else {
                    "supported"
                };
                report.error(&p, format!("mode {mode} takes `{wanted}` beside `mode`"));
                None
            }
        }
    });
    f.finish(report);
    Some(Deployment {
        target_symbols,
        target_timeframes: target_timeframes.unwrap_or_default(),
    })
}

/// Each entry's declared name (valid or not, for the cross-section checks) and, when valid, the
/// indicator.
type Declared = (Option<String>, Option<StrategyIndicator>);

fn indicators(report: &mut Report, path: &str, v: &Value) -> Option<Vec<Declared>> {
    let items = r::list(report, path, v)?;
    if items.is_empty() {
        report.error(path, "must list at least one indicator");
        return None;
    }
    Some(
        items
            .iter()
            .enumerate()
            .map(|(i, item)| indicator(report, &r::index(path, i), item))
            .collect(),
    )
}

/// `name`, `type` and any other scalar keys as parameters, validated by the indicator registry
/// (the indicator must exist and take each parameter; the Python system dropped both silently).
fn indicator(report: &mut Report, path: &str, v: &Value) -> Declared {
    let Some(mut f) = Fields::of(report, path, v) else {
        return (None, None);
    };
    let name = f.optional("name").map(|(v, p)| non_empty(report, &p, v));
    let kind = f.optional("type").map(|(v, p)| non_empty(report, &p, v));
    let Value::Mapping(map) = v else {
        return (None, None);
    };
    let mut params = std::collections::BTreeMap::new();
    let mut bad_param = false;
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            continue; // reported below, as every non-string key
        };
        if key == "name" || key == "type" {
            continue;
        }
        let p = r::join(path, key);
        let value = match value {
            Value::Bool(b) => ParamValue::Bool(*b),
            Value::String(s) => ParamValue::Text(s.clone()),
            Value::Number(n) => match (n.as_i64(), r::number(report, &p, value)) {
                (Some(i), _) => ParamValue::Int(i),
                (None, Some(x)) => ParamValue::Float(x),
                (None, None) => {
                    bad_param = true;
                    continue;
                }
            },
            other => {
                report.error(
                    &p,
                    format!(
                        "an indicator parameter must be a number, string or boolean, found {}",
                        r::kind(other)
                    ),
                );
                bad_param = true;
                continue;
            }
        };
        params.insert(key.to_owned(), value);
    }
    // Every other key is a parameter, judged by the registry below, not by `finish`.
    let declared = match (&name, &kind) {
        (Some(Some(n)), _) => Some(n.clone()),
        (None, Some(Some(k))) => Some(k.to_lowercase()),
        _ => None,
    };
    if map.keys().any(|k| k.as_str().is_none()) {
        report.error(path, "keys must be strings");
        return (declared, None);
    }
    let entry = IndicatorEntry {
        kind: match kind {
            Some(Some(k)) => Some(k),
            Some(None) => return (declared, None),
            None => None,
        },
        name: match name {
            Some(Some(n)) => Some(n),
            Some(None) => return (declared, None),
            None => None,
        },
        params,
    };
    if bad_param {
        return (declared, None);
    }
    match IndicatorSpec::from_entry(&entry) {
        Ok(spec) => (
            Some(spec.name.clone()),
            Some(StrategyIndicator { entry, spec }),
        ),
        Err(e) => {
            let at = match &e {
                SpecError::UnknownIndicator { .. } if entry.kind.is_some() => r::join(path, "type"),
                SpecError::UnknownIndicator { .. } => r::join(path, "name"),
                SpecError::UnknownParam { param, .. } => r::join(path, param),
                SpecError::DuplicateParam { param, .. } | SpecError::InvalidParam { param, .. } => {
                    r::join(path, param)
                }
                _ => path.to_owned(),
            };
            report.error(at, e.to_string());
            (declared, None)
        }
    }
}

fn fuzzy_sets(report: &mut Report, path: &str, v: &Value) -> Option<Vec<FuzzyInput>> {
    let entries = r::named_entries(report, path, v);
    if entries.is_empty() {
        report.error(path, "must define fuzzy sets for at least one indicator");
        return None;
    }
    // As for indicators: broken sets are left out, their inputs kept for the name checks.
    let inputs = entries
        .into_iter()
        .map(|(name, v, p)| {
            let sets = r::named_entries(report, &p, v);
            if sets.is_empty() {
                report.error(&p, "must define at least one set");
            }
            FuzzyInput {
                indicator: name.to_owned(),
                sets: sets
                    .into_iter()
                    .filter_map(|(set, v, p)| fuzzy_set(report, &p, set, v))
                    .collect(),
            }
        })
        .collect();
    Some(inputs)
}

fn fuzzy_set(report: &mut Report, path: &str, name: &str, v: &Value) -> Option<FuzzySet> {
    let mut f = Fields::of(report, path, v)?;
    let kind = f
        .required(report, "type")
        .and_then(|(v, p)| r::choice(report, &p, v, &["triangular", "trapezoidal", "gaussian"]));
    let parameters = f.required(report, "parameters").and_then(|(v, p)| {
        let items = r::list(report, &p, v)?;
        let xs: Vec<Option<f64>> = items
            .iter()
            .enumerate()
            .map(|(i, x)| r::number(report, &r::index(&p, i), x))
            .collect();
        Some((xs.into_iter().collect::<Option<Vec<f64>>>()?, p))
    });
    f.finish(report);
    let (parameters, at) = parameters?;
    match MembershipFunction::new(kind?, &parameters) {
        Ok(membership) => Some(FuzzySet {
            name: name.to_owned(),
            membership,
        }),
        Err(e) => {
            report.error(at, e.to_string());
            None
        }
    }
}

fn model(report: &mut Report, path: &str, v: &Value) -> Option<ModelSection> {
    let mut f = Fields::of(report, path, v)?;
    let kind = f
        .required(report, "type")
        .and_then(|(v, p)| r::choice(report, &p, v, &["mlp"]));
    let symbol_embedding_dim = match f.optional("symbol_embedding_dim") {
        Some((v, p)) => r::count(report, &p, v, 1),
        None => Some(16),
    };
    let input_size = f
        .optional("input_size")
        .map(|(v, p)| r::count(report, &p, v, 1));
    let architecture = f
        .required(report, "architecture")
        .and_then(|(v, p)| architecture(report, &p, v));
    let features = match f.optional("features") {
        Some((v, p)) => features(report, &p, v),
        None => Some((0, None, None)),
    };
    let training = f
        .required(report, "training")
        .and_then(|(v, p)| training_params(report, &p, v));
    f.finish(report);
    kind?;
    let (lookback_periods, include_price_context, scale_features) = features?;
    let (training, estimated_duration_minutes) = training?;
    Some(ModelSection {
        symbol_embedding_dim: symbol_embedding_dim?,
        input_size: match input_size {
            Some(size) => Some(size?),
            None => None,
        },
        architecture: architecture?,
        lookback_periods,
        include_price_context,
        scale_features,
        training,
        estimated_duration_minutes,
    })
}

fn architecture(report: &mut Report, path: &str, v: &Value) -> Option<Architecture> {
    let mut f = Fields::of(report, path, v)?;
    let hidden_layers = f.required(report, "hidden_layers").and_then(|(v, p)| {
        let items = r::list(report, &p, v)?;
        if items.is_empty() {
            report.error(&p, "must list at least one layer width");
            return None;
        }
        let widths: Vec<Option<usize>> = items
            .iter()
            .enumerate()
            .map(|(i, w)| r::count(report, &r::index(&p, i), w, 1))
            .collect();
        widths.into_iter().collect::<Option<Vec<usize>>>()
    });
    let activation = match f.optional("activation") {
        Some((v, p)) => r::choice(report, &p, v, Activation::ALLOWED).and_then(|a| a.parse().ok()),
        None => Some(Activation::Relu),
    };
    if let Some((v, p)) = f.optional("output_activation") {
        if r::choice(report, &p, v, &["softmax"]).is_some() {
            report.note(
                &p,
                "the network outputs logits; softmax turns them into probabilities at prediction",
            );
        }
    }
    let dropout = match f.optional("dropout") {
        Some((v, p)) => below_one(report, &p, v),
        None => Some(0.2),
    };
    f.finish(report);
    Some(Architecture {
        hidden_layers: hidden_layers?,
        activation: activation?,
        dropout: dropout?,
    })
}

/// A number in [0, 1): a dropout probability or a momentum.
fn below_one(report: &mut Report, path: &str, v: &Value) -> Option<f64> {
    let x = r::number(report, path, v)?;
    if (0.0..1.0).contains(&x) {
        Some(x)
    } else {
        report.error(path, format!("{x} is out of range; allowed: [0, 1)"));
        None
    }
}

type Features = (usize, Option<bool>, Option<bool>);

fn features(report: &mut Report, path: &str, v: &Value) -> Option<Features> {
    let mut f = Fields::of(report, path, v)?;
    let include_price_context = f.optional("include_price_context").and_then(|(v, p)| {
        report.note(
            &p,
            "accepted; not used by training (features are fuzzy memberships only)",
        );
        r::boolean(report, &p, v)
    });
    let lookback = match f.optional("lookback_periods") {
        Some((v, p)) => r::count(report, &p, v, 0),
        None => Some(0),
    };
    let scale_features = f.optional("scale_features").and_then(|(v, p)| {
        report.note(
            &p,
            "accepted; not used by training (memberships are already in [0, 1])",
        );
        r::boolean(report, &p, v)
    });
    f.finish(report);
    Some((lookback?, include_price_context, scale_features))
}

/// `model.training`, with [`TrainParams::default`] (the Python system's defaults) for absent keys.
fn training_params(
    report: &mut Report,
    path: &str,
    v: &Value,
) -> Option<(TrainParams, Option<f64>)> {
    let d = TrainParams::default();
    let mut f = Fields::of(report, path, v)?;
    let learning_rate = f
        .optional("learning_rate")
        .map_or(Some(d.learning_rate), |(v, p)| r::positive(report, &p, v));
    let batch_size = f
        .optional("batch_size")
        .map_or(Some(d.batch_size), |(v, p)| r::count(report, &p, v, 1));
    let epochs = f
        .optional("epochs")
        .map_or(Some(d.epochs), |(v, p)| r::count(report, &p, v, 1));
    let optimizer = f.optional("optimizer").map_or(Some(d.optimizer), |(v, p)| {
        r::choice(report, &p, v, OptimizerKind::ALLOWED).and_then(|o| o.parse().ok())
    });
    let weight_decay = f
        .optional("weight_decay")
        .map_or(Some(d.weight_decay), |(v, p)| {
            r::number_in(report, &p, v, 0.0, f64::MAX, true)
        });
    let momentum = f
        .optional("momentum")
        .map_or(Some(d.momentum), |(v, p)| below_one(report, &p, v));
    let early_stopping = optional(f.optional("early_stopping"), |v, p| {
        early_stopping(report, p, v)
    });
    let lr_scheduler = optional(f.optional("lr_scheduler"), |v, p| {
        lr_scheduler(report, p, v)
    });
    let gradient_clip = f
        .optional("gradient_clip")
        .map_or(Some(d.gradient_clip), |(v, p)| r::positive(report, &p, v));
    let estimated_duration_minutes = optional(f.optional("estimated_duration_minutes"), |v, p| {
        report.note(
            p,
            "accepted; not used by training (the ETA is learned from runs)",
        );
        r::positive(report, p, v)
    });
    f.finish(report);
    let params = TrainParams {
        learning_rate: learning_rate?,
        batch_size: batch_size?,
        epochs: epochs?,
        optimizer: optimizer?,
        weight_decay: weight_decay?,
        momentum: momentum?,
        early_stopping: early_stopping?,
        lr_scheduler: lr_scheduler?,
        gradient_clip: gradient_clip?,
        seed: d.seed,
    };
    Some((params, estimated_duration_minutes?))
}

/// `Some(None)` when the key is absent, `Some(Some(x))` when valid, `None` when invalid.
fn optional<T>(
    found: Option<(&Value, String)>,
    parse: impl FnOnce(&Value, &str) -> Option<T>,
) -> Option<Option<T>> {
    match found {
        None => Some(None),
        Some((v, p)) => parse(v, &p).map(Some),
    }
}

fn early_stopping(report: &mut Report, path: &str, v: &Value) -> Option<EarlyStopping> {
    let mut f = Fields::of(report, path, v)?;
    let patience = f
        .optional("patience")
        .map_or(Some(10), |(v, p)| r::count(report, &p, v, 1));
    let monitor = f
        .optional("monitor")
        .map_or(Some(Monitor::ValLoss), |(v, p)| {
            r::choice(report, &p, v, Monitor::ALLOWED).and_then(|m| m.parse().ok())
        });
    let min_delta = f.optional("min_delta").map_or(Some(1e-4), |(v, p)| {
        r::number_in(report, &p, v, 0.0, f64::MAX, true)
    });
    f.finish(report);
    Some(EarlyStopping {
        patience: patience?,
        monitor: monitor?,
        min_delta: min_delta?,
    })
}

fn lr_scheduler(report: &mut Report, path: &str, v: &Value) -> Option<LrScheduler> {
    let mut f = Fields::of(report, path, v)?;
    let kind = f
        .required(report, "type")
        .and_then(|(v, p)| r::choice(report, &p, v, &["step", "exponential", "reduce_on_plateau"]));
    let factor = |report: &mut Report, found: Option<(&Value, String)>, default: f64| {
        found.map_or(Some(default), |(v, p)| {
            r::number_in(report, &p, v, 0.0, 1.0, false)
        })
    };
    let epochs = |report: &mut Report, found: Option<(&Value, String)>, default: usize| {
        found.map_or(Some(default), |(v, p)| r::count(report, &p, v, 1))
    };
    // Only the keys of the chosen type are asked for, so `finish` refuses the others by name.
    let scheduler = match kind? {
        "step" => {
            let step_size = epochs(report, f.optional("step_size"), 30);
            let gamma = factor(report, f.optional("gamma"), 0.1);
            Some(LrScheduler::Step {
                step_size: step_size?,
                gamma: gamma?,
            })
        }
        "exponential" => factor(report, f.optional("gamma"), 0.95)
            .map(|gamma| LrScheduler::Exponential { gamma }),
        _ => {
            let fac = factor(report, f.optional("factor"), 0.5);
            let patience = epochs(report, f.optional("patience"), 5);
            Some(LrScheduler::ReduceOnPlateau {
                factor: fac?,
                patience: patience?,
            })
        }
    };
    f.finish(report);
    scheduler
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
            format!("train + validation + test must be 1, found {sum}"),
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
