//! `training_data` and `deployment`: symbols and timeframes.

use ktrdr_data::types::{Symbol, Timeframe};
use serde_norway::Value;

use super::NOT_USED;
use crate::strategy::config::*;
use crate::strategy::reader::{self as r, Fields};
use crate::strategy::report::Report;

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

pub(super) fn training_data(report: &mut Report, path: &str, v: &Value) -> Option<TrainingData> {
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

pub(super) fn deployment(report: &mut Report, path: &str, v: &Value) -> Option<Deployment> {
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
