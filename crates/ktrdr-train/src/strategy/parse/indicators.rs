//! `indicators` and `fuzzy_sets`, checked by the `ktrdr-indicators` registry and membership
//! constructors.

use ktrdr_indicators::{
    Indicator, IndicatorEntry, IndicatorKind, IndicatorSpec, MembershipFunction, ParamValue,
    SpecError,
};
use serde_norway::Value;

use super::non_empty;
use crate::strategy::config::*;
use crate::strategy::reader::{self as r, Fields};
use crate::strategy::report::Report;

/// Each entry's declared name (valid or not, for the cross-section checks) and, when valid, the
/// indicator.
pub(super) type Declared = (Option<String>, Option<StrategyIndicator>);

pub(super) fn indicators(report: &mut Report, path: &str, v: &Value) -> Option<Vec<Declared>> {
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
            if param_errors(report, path, &entry, &e) {
                return (declared, None);
            }
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

/// Reports each bad parameter of `entry` on its own key, when the entry's error is about one
/// parameter (the registry stops at the first); true when it did. Each is checked alone, with
/// the others at their defaults, and only the errors a lone parameter can cause are kept (not
/// "fast_period must be below slow_period", which depends on the others).
fn param_errors(report: &mut Report, path: &str, entry: &IndicatorEntry, e: &SpecError) -> bool {
    let about_a_param = matches!(
        e,
        SpecError::UnknownParam { .. } | SpecError::InvalidParam { .. }
    );
    let kind = entry
        .kind
        .as_deref()
        .or(entry.name.as_deref())
        .and_then(|t| IndicatorKind::from_name(t).ok());
    let (true, Some(kind)) = (about_a_param, kind) else {
        return false;
    };
    let mut reported = false;
    for (key, value) in &entry.params {
        if let Err(one @ (SpecError::UnknownParam { .. } | SpecError::InvalidParam { .. })) =
            Indicator::from_params(kind, std::iter::once((key.as_str(), value)))
        {
            report.error(r::join(path, key), one.to_string());
            reported = true;
        }
    }
    reported
}

pub(super) fn fuzzy_sets(report: &mut Report, path: &str, v: &Value) -> Option<Vec<FuzzyInput>> {
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
