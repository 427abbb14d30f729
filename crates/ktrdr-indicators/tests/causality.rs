//! Properties every indicator keeps on real bars (rows 15000..17000 of MSFT_1h.csv):
//! - no look-ahead: a value depends only on bars up to its own, so cutting the series later
//!   changes nothing before the cut (ZigZag excepted: its last extreme is provisional by design);
//! - a NaN bar only blanks what depends on it, and the NaN-tolerant paths give the same values
//!   as the fast ones before it.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use ktrdr_data::types::{parse_timestamp, BarSeries};
use ktrdr_indicators::registry::INDICATORS;
use ktrdr_indicators::{Indicator, IndicatorKind, IndicatorSpec};

const IB_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/ib/MSFT_1h.csv"
);

fn columns() -> (Vec<i64>, [Vec<f64>; 5]) {
    let text = std::fs::read_to_string(IB_FILE).unwrap();
    let mut cols: [Vec<f64>; 5] = Default::default();
    let mut ts = Vec::new();
    for line in text.lines().skip(15001).take(2000) {
        let fields: Vec<&str> = line.split(',').collect();
        ts.push(parse_timestamp(fields[0]).unwrap());
        for (col, field) in cols.iter_mut().zip(&fields[1..]) {
            col.push(field.parse().unwrap());
        }
    }
    (ts, cols)
}

fn series(ts: &[i64], cols: &[Vec<f64>; 5], len: usize) -> BarSeries {
    let cut = |c: &Vec<f64>| c[..len].to_vec();
    BarSeries::from_columns(
        ts[..len].to_vec(),
        cut(&cols[0]),
        cut(&cols[1]),
        cut(&cols[2]),
        cut(&cols[3]),
        cut(&cols[4]),
    )
    .unwrap()
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1e-3)
}

#[test]
fn no_indicator_looks_ahead() {
    let (ts, cols) = columns();
    let full = series(&ts, &cols, 2000);
    for info in INDICATORS
        .iter()
        .filter(|i| i.kind != IndicatorKind::ZigZag)
    {
        let ind = Indicator::default_of(info.kind);
        let whole = ind.compute(&full);
        for cut in [1, 17, 1000] {
            let part = ind.compute(&series(&ts, &cols, cut));
            for (w, p) in whole.columns.iter().zip(&part.columns) {
                assert_eq!(p.values.len(), cut);
                let bad = (0..cut).find(|&i| !same(p.values[i], w.values[i]));
                assert_eq!(bad, None, "{} changes before a cut at {cut}", w.name);
            }
        }
    }
}

#[test]
fn a_nan_bar_blanks_only_what_depends_on_it() {
    let (ts, mut cols) = columns();
    let clean = series(&ts, &cols, 2000);
    for c in &mut cols {
        c[1200] = f64::NAN;
    }
    let holed = series(&ts, &cols, 2000);
    for info in INDICATORS {
        let ind = Indicator::default_of(info.kind);
        let (a, b) = (ind.compute(&clean), ind.compute(&holed));
        for (x, y) in a.columns.iter().zip(&b.columns) {
            assert_eq!(y.values.len(), 2000);
            let bad = (0..1200).find(|&i| !same(y.values[i], x.values[i]));
            assert_eq!(bad, None, "{} differs before the NaN bar", x.name);
            // The series goes on after the hole.
            assert!(y.values[1999].is_finite(), "{} never recovers", y.name);
        }
    }
    // A window indicator is NaN exactly while its window holds the bar.
    let sma = IndicatorSpec::parse_cli("sma:period=20")
        .unwrap()
        .indicator
        .compute(&holed);
    let v = sma.column("sma_20").unwrap();
    assert!(v[1199].is_finite() && v[1220].is_finite());
    assert!(v[1200..1220].iter().all(|x| x.is_nan()));
}
