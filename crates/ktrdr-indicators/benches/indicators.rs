//! Every indicator at its defaults on 1,000,000 synthetic 1-minute bars: the same bars
//! `tests/reference/make_reference.py --bench` builds for its pandas peers (a random walk from a
//! hashed sine, so both sides need no shared file).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ktrdr_data::types::BarSeries;
use ktrdr_indicators::registry::INDICATORS;
use ktrdr_indicators::{Indicator, ZigZagLabeler};

const BARS: usize = 1_000_000;

/// `make_reference.py`'s `synthetic_bars`, term for term.
fn synthetic_bars(n: usize) -> BarSeries {
    let noise = |i: f64, k: f64| {
        let v = (i * 12.9898 + k * 78.233).sin() * 43758.5453;
        v - v.floor() - 0.5
    };
    let mut walk = 0.0;
    let close: Vec<f64> = (0..n)
        .map(|i| {
            let x = i as f64;
            walk += noise(x, 0.0);
            100.0 + 0.05 * walk + 2.0 * (x / 300.0).sin()
        })
        .collect();
    let open: Vec<f64> = (0..n).map(|i| close[i.saturating_sub(1)]).collect();
    let high = (0..n)
        .map(|i| open[i].max(close[i]) + 0.05 * noise(i as f64, 1.0).abs())
        .collect();
    let low = (0..n)
        .map(|i| open[i].min(close[i]) - 0.05 * noise(i as f64, 2.0).abs())
        .collect();
    let volume = (0..n)
        .map(|i| 1000.0 + 1000.0 * (noise(i as f64, 3.0) + 0.5))
        .collect();
    let ts = (0..n as i64).map(|i| 1_700_000_000 + 60 * i).collect();
    BarSeries::from_columns(ts, open, high, low, close, volume).unwrap()
}

fn indicators(c: &mut Criterion) {
    let bars = synthetic_bars(BARS);
    let mut group = c.benchmark_group("indicators_1m_bars");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    // The floor: allocating and writing one column of 1M values (page faults included), what
    // any indicator pays per output column.
    group.bench_function("floor_one_column", |b| {
        b.iter(|| (0..BARS).map(|i| i as f64).collect::<Vec<f64>>())
    });
    for info in INDICATORS {
        let indicator = Indicator::default_of(info.kind);
        group.bench_function(info.name, |b| {
            b.iter(|| indicator.compute(black_box(&bars)))
        });
    }
    let labeler = ZigZagLabeler::new(0.03, Some(20)).unwrap();
    group.bench_function("zigzag_labels_0.03_20", |b| {
        b.iter(|| labeler.labels(black_box(bars.close())))
    });
    group.finish();
}

criterion_group!(benches, indicators);
criterion_main!(benches);
