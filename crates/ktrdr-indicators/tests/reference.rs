//! Every indicator against values computed independently with pandas by
//! `tests/reference/make_reference.py` on real IB bars (rows 15000..17000 of MSFT_1h.csv):
//! NaN positions must match exactly, values to 1e-9 relative.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};

use ktrdr_data::types::{parse_timestamp, BarSeries};
use ktrdr_indicators::{IndicatorSpec, Signal, ZigZagLabeler};

const IB_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/ib/MSFT_1h.csv"
);
const FIRST_ROW: usize = 15000;
const END_ROW: usize = 17000;

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

fn bars() -> BarSeries {
    let text = std::fs::read_to_string(IB_FILE).unwrap();
    let mut cols: [Vec<f64>; 5] = Default::default();
    let mut ts = Vec::new();
    for line in text.lines().skip(1 + FIRST_ROW).take(END_ROW - FIRST_ROW) {
        let fields: Vec<&str> = line.split(',').collect();
        ts.push(parse_timestamp(fields[0]).unwrap());
        for (col, field) in cols.iter_mut().zip(&fields[1..]) {
            col.push(field.parse().unwrap());
        }
    }
    let [open, high, low, close, volume] = cols;
    BarSeries::from_columns(ts, open, high, low, close, volume).unwrap()
}

/// The header and the columns of a reference CSV.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut cols = vec![Vec::new(); header.len()];
    for line in lines {
        for (col, field) in cols.iter_mut().zip(line.split(',')) {
            col.push(field.parse::<f64>().unwrap());
        }
    }
    (header, cols)
}

/// The absolute floor of the comparison unless a case states its own (see the script).
const ABS_TOLERANCE: f64 = 1e-12;

/// Problems with `ours` against `theirs`, at most a few, for the failure message.
fn differences(ours: &[f64], theirs: &[f64], abs_tolerance: f64) -> Vec<String> {
    let mut bad = Vec::new();
    if ours.len() != theirs.len() {
        return vec![format!("length {} vs {}", ours.len(), theirs.len())];
    }
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        let ok = if b.is_nan() {
            a.is_nan()
        } else {
            // Relative, with an absolute floor for values that cross zero (MACD, momentum).
            (a - b).abs() <= (1e-9 * b.abs()).max(abs_tolerance)
        };
        if !ok {
            bad.push(format!("bar {i}: ours {a}, pandas {b}"));
        }
    }
    bad
}

#[test]
fn every_indicator_matches_the_pandas_reference() {
    let bars = bars();
    let manifest = std::fs::read_to_string(reference_dir().join("cases.csv")).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split(';').collect();
        let (file, spec) = (fields[0], fields[1]);
        let abs_tolerance = match fields.get(2) {
            Some(t) if !t.is_empty() => t.parse().unwrap(),
            _ => ABS_TOLERANCE,
        };
        let indicator = IndicatorSpec::parse_cli(spec).unwrap().indicator;
        let out = indicator.compute(&bars);
        let (names, expected) = read_csv(&reference_dir().join(file));
        assert_eq!(indicator.column_names(), names, "{spec}: column names");
        for (name, theirs) in names.iter().zip(&expected) {
            let ours = out.column(name).unwrap();
            // A reference of only NaN would prove nothing.
            assert!(
                theirs.iter().any(|v| v.is_finite()),
                "{file}: {name} is all NaN"
            );
            let bad = differences(ours, theirs, abs_tolerance);
            if !bad.is_empty() {
                failures.push(format!(
                    "{spec} {name}: {} bad, first {:?}",
                    bad.len(),
                    &bad[..bad.len().min(3)]
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 39, "only {checked} columns checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn zigzag_labels_match_the_reference() {
    let bars = bars();
    for (file, threshold, lookahead) in [
        ("labels_0.03.csv", 0.03, None),
        ("labels_0.03_20.csv", 0.03, Some(20)),
        ("labels_0.01_5.csv", 0.01, Some(5)),
    ] {
        let (_, cols) = read_csv(&reference_dir().join(file));
        let expected: Vec<Signal> = cols[0]
            .iter()
            .map(|&v| Signal::from_index(v as usize).unwrap())
            .collect();
        let ours = ZigZagLabeler::new(threshold, lookahead)
            .unwrap()
            .labels(bars.close());
        let first_bad = ours.iter().zip(&expected).position(|(a, b)| a != b);
        assert_eq!(first_bad, None, "{file}");
        assert_eq!(ours.len(), expected.len());
        // Each class occurs, so the comparison covers all three.
        for s in Signal::ALL {
            assert!(expected.contains(&s), "{file} has no {s:?}");
        }
    }
}
