//! Cost of the pacing gate's bookkeeping and of the simulated broker's bar generation.
//!
//! ```text
//! cargo bench -p ktrdr-data --bench pacing -- --warm-up-time 1 --measurement-time 3
//! ```

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ktrdr_data::pacing::{PacingGate, PacingRules, RateLimit, RequestKey};
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::provider::DataProvider;
use ktrdr_data::types::TimeRange;
use ktrdr_data::types::{parse_timestamp, Symbol, Timeframe};
use ktrdr_ops::cancel::CancellationToken;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Every rule of IB's shape is checked and recorded, but with windows so short that nothing ever
/// waits: what remains is the bookkeeping.
fn never_waiting_rules() -> PacingRules {
    let tiny = Duration::from_nanos(1);
    PacingRules {
        name: "bench",
        max_requests: Some(RateLimit::new(60, tiny)),
        per_contract: Some(RateLimit::new(6, tiny)),
        identical_cooldown: Some(tiny),
        max_concurrent: Some(50),
        min_spacing: Duration::ZERO,
        safety_margin: Duration::ZERO,
        ..PacingRules::ib_conservative()
    }
}

fn gate(c: &mut Criterion) {
    let rt = runtime();
    let gate = PacingGate::new(never_waiting_rules()).expect("valid rules");
    let token = CancellationToken::new();
    let symbols: [Symbol; 4] =
        ["AAPL", "MSFT", "NVDA", "EURUSD"].map(|s| s.parse().expect("a symbol"));
    let mut i = 0i64;
    c.bench_function("pacing/acquire_and_drop_all_rules", |b| {
        b.iter(|| {
            i += 1;
            let key = RequestKey::new(
                symbols[(i % 4) as usize].clone(),
                Timeframe::H1,
                TimeRange::new(i, i + 3600).expect("a range"),
            );
            rt.block_on(gate.acquire(&key, &token))
                .expect("not cancelled")
        })
    });
}

fn sim(c: &mut Criterion) {
    let rt = runtime();
    let now = parse_timestamp("2025-06-01").expect("a date");
    let sim = SimProvider::new(SimConfig {
        latency: Duration::ZERO,
        latency_jitter: Duration::ZERO,
        pacing: PacingRules {
            max_requests: None,
            per_contract: None,
            identical_cooldown: None,
            max_concurrent: None,
            ..PacingRules::fast()
        },
        now: Some(now),
        ..SimConfig::default()
    })
    .expect("valid config");
    let token = CancellationToken::new();
    let aapl = "AAPL".parse().expect("a symbol");
    let start = parse_timestamp("2024-03-01").expect("a date");
    let mut group = c.benchmark_group("sim");
    for (name, tf, span) in [
        ("fetch_1h_30d", Timeframe::H1, 30 * 86_400),
        ("fetch_1m_1d", Timeframe::M1, 86_400),
        ("fetch_1d_365d", Timeframe::D1, 365 * 86_400),
    ] {
        let range = TimeRange::new(start, start + span).expect("a range");
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(sim.fetch_bars(&aapl, tf, range, &token))
                    .expect("bars")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gate, sim);
criterion_main!(benches);
