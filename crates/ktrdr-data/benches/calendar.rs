//! Calendar lookups at the sizes the gap analyser and the validator use them: the sessions of
//! MSFT_1h's 12 years, and one `is_open` / `closure_kind` per bar.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use ktrdr_data::calendar::{Calendar, SessionHours};

fn d(s: &str) -> NaiveDate {
    s.parse().expect("valid date")
}

fn sessions(c: &mut Criterion) {
    let (from, to) = (d("2013-12-31"), d("2025-06-06"));
    for hours in [SessionHours::Regular, SessionHours::Extended] {
        c.bench_function(&format!("xnys_sessions_msft_1h_span_{hours}"), |b| {
            b.iter(|| {
                let sessions = Calendar::Xnys
                    .sessions(black_box(from), black_box(to), hours)
                    .expect("covered");
                sessions.fold(0i64, |acc, s| acc + (s.close - s.open))
            })
        });
    }
    c.bench_function("fx_sessions_msft_1h_span", |b| {
        b.iter(|| {
            Calendar::Fx
                .sessions(black_box(from), black_box(to), SessionHours::Regular)
                .expect("covered")
                .count()
        })
    });
}

fn lookups(c: &mut Criterion) {
    // One instant per hour over the 12 years, as a 1h series would query.
    let start = 1_388_448_000; // 2013-12-31 00:00 UTC
    let hours: Vec<i64> = (0..100_000).map(|i| start + i * 3_600).collect();
    c.bench_function("xnys_is_open_100k_hourly_instants", |b| {
        b.iter(|| {
            hours
                .iter()
                .filter(|&&ts| {
                    Calendar::Xnys
                        .is_open(black_box(ts), SessionHours::Extended)
                        .expect("covered")
                })
                .count()
        })
    });
    c.bench_function("xnys_closure_kind_100k_hourly_instants", |b| {
        b.iter(|| {
            hours
                .iter()
                .filter_map(|&ts| {
                    Calendar::Xnys
                        .closure_kind(black_box(ts), SessionHours::Regular)
                        .expect("covered")
                })
                .count()
        })
    });
}

criterion_group!(benches, sessions, lookups);
criterion_main!(benches);
