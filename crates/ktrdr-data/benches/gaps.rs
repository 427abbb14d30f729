//! Gap analysis, validation (with and without the load) and planning on MSFT_1h, the 12-year
//! hourly IB file. Peers: the Python gap analyser 652 ms, load + validation 2,480 ms
//! (../shared/PEERS.md).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ktrdr_data::calendar::{Calendar, SessionHours};
use ktrdr_data::gaps::{analyze, GapOptions};
use ktrdr_data::planner::{plan_ib, PlanOrder};
use ktrdr_data::store::BarStore;
use ktrdr_data::types::{Bar, Symbol, Timeframe};
use ktrdr_data::validate::{validate_rows, ValidateOptions};

const IB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ib");

fn bench(c: &mut Criterion) {
    let store = BarStore::new(IB_DIR);
    let msft = Symbol::new("MSFT").unwrap();
    let series = store.load(&msft, Timeframe::H1).unwrap();
    let opts = |hours| GapOptions {
        hours,
        ..GapOptions::default()
    };

    c.bench_function("gaps MSFT_1h extended (12 years)", |b| {
        b.iter(|| {
            analyze(
                black_box(&series),
                Calendar::Xnys,
                Timeframe::H1,
                &opts(SessionHours::Extended),
            )
            .unwrap()
        })
    });
    c.bench_function("gaps MSFT_1h regular (12 years)", |b| {
        b.iter(|| {
            analyze(
                black_box(&series),
                Calendar::Xnys,
                Timeframe::H1,
                &opts(SessionHours::Regular),
            )
            .unwrap()
        })
    });

    let rows: Vec<Bar> = store
        .read_raw(&msft, Timeframe::H1)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.bar)
        .collect();
    c.bench_function("validate MSFT_1h (rows in memory)", |b| {
        b.iter(|| {
            validate_rows(
                black_box(&rows),
                Calendar::Xnys,
                Timeframe::H1,
                &ValidateOptions::default(),
            )
            .unwrap()
        })
    });
    c.bench_function("load raw + validate MSFT_1h", |b| {
        b.iter(|| {
            let raw = store.read_raw(&msft, Timeframe::H1).unwrap();
            let rows: Vec<Bar> = raw.rows.into_iter().map(|r| r.bar).collect();
            validate_rows(
                &rows,
                Calendar::Xnys,
                Timeframe::H1,
                &ValidateOptions::default(),
            )
            .unwrap()
        })
    });

    let report = analyze(
        &series,
        Calendar::Xnys,
        Timeframe::H1,
        &opts(SessionHours::Regular),
    )
    .unwrap();
    let gaps: Vec<_> = report.to_fill().collect();
    c.bench_function("plan MSFT_1h regular-hours refill (2,876 gaps)", |b| {
        b.iter(|| {
            plan_ib(
                black_box(gaps.iter().cloned()),
                Timeframe::H1,
                PlanOrder::NewestFirst,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
