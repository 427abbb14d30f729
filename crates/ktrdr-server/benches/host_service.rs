//! The cost of the host-service protocol: the JSON-in-JSON bar codec, and one historical
//! request through `ktrdr host-service` on loopback against the same request to the simulated
//! broker in process.
//!
//! `cargo bench -p ktrdr-server --bench host_service -- --warm-up-time 1 --measurement-time 3`

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ktrdr_data::pacing::PacingRules;
use ktrdr_data::provider::host::wire::{decode_bars, encode_bars};
use ktrdr_data::provider::host::{HostProvider, HostProviderConfig};
use ktrdr_data::provider::sim::{SimConfig, SimProvider};
use ktrdr_data::provider::DataProvider;
use ktrdr_data::types::TimeRange;
use ktrdr_data::types::{BarSeries, Symbol, Timeframe};
use ktrdr_ops::cancel::CancellationToken;
use ktrdr_server::host_service::HostService;

const NOW: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
const START: i64 = 1_704_067_200; // 2024-01-01T00:00:00Z

fn sim_config() -> SimConfig {
    SimConfig {
        now: Some(NOW),
        latency: Duration::ZERO,
        latency_jitter: Duration::ZERO,
        // No pacing checks: the bench repeats one request as fast as it can.
        pacing: PacingRules {
            max_requests: None,
            per_contract: None,
            identical_cooldown: None,
            max_concurrent: None,
            min_spacing: Duration::ZERO,
            ..PacingRules::fast()
        },
        ..SimConfig::default()
    }
}

/// Bars of the largest answers IB gives: 30 days of 1h, one day of extended-hours 1m, a year
/// of 1d.
fn samples(rt: &tokio::runtime::Runtime) -> Vec<(&'static str, BarSeries)> {
    let sim = SimProvider::new(SimConfig {
        session_hours: ktrdr_data::calendar::SessionHours::Extended,
        ..sim_config()
    })
    .unwrap();
    let aapl: Symbol = "AAPL".parse().unwrap();
    let token = CancellationToken::new();
    let fetch = |tf, start: i64, days: i64| {
        let range = TimeRange::new(start, start + days * 86_400 - 1).unwrap();
        rt.block_on(sim.fetch_bars(&aapl, tf, range, &token))
            .unwrap()
    };
    // 2024-01-01 is a holiday: the 1m day is the 2nd.
    vec![
        ("1h x 30 days", fetch(Timeframe::H1, START, 30)),
        ("1m x 1 day", fetch(Timeframe::M1, START + 86_400, 1)),
        ("1d x 1 year", fetch(Timeframe::D1, START, 365)),
    ]
}

fn codec(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("host_bars_codec");
    for (name, bars) in samples(&rt) {
        let data = encode_bars(&bars);
        let label = format!("{name} ({} bars)", bars.len());
        g.bench_with_input(BenchmarkId::new("encode_bars", &label), &bars, |b, bars| {
            b.iter(|| encode_bars(bars))
        });
        g.bench_with_input(BenchmarkId::new("decode_bars", &label), &data, |b, data| {
            b.iter(|| decode_bars(data).unwrap())
        });
        // The peer: what a client without a typed decoder does (serde_json::Value per bar,
        // no validation, no series built).
        g.bench_with_input(
            BenchmarkId::new("serde_json_value_map", &label),
            &data,
            |b, data| {
                b.iter(|| {
                    serde_json::from_str::<BTreeMap<String, serde_json::Value>>(data).unwrap()
                })
            },
        );
    }
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = Arc::new(SimProvider::new(sim_config()).unwrap());
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = HostService::for_sim(sim.clone());
        tokio::spawn(async move { service.serve(listener, std::future::pending()).await });
        url
    });
    let host = HostProvider::new(HostProviderConfig::new(url)).unwrap();
    let aapl: Symbol = "AAPL".parse().unwrap();
    let token = CancellationToken::new();
    let range = TimeRange::new(START, START + 30 * 86_400 - 1).unwrap();
    let mut g = c.benchmark_group("historical_1h_30_days");
    g.bench_function("sim in process", |b| {
        b.iter(|| {
            rt.block_on(sim.fetch_bars(&aapl, Timeframe::H1, range, &token))
                .unwrap()
        })
    });
    g.bench_function("host provider via ktrdr host-service (loopback)", |b| {
        b.iter(|| {
            rt.block_on(host.fetch_bars(&aapl, Timeframe::H1, range, &token))
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, codec, round_trip);
criterion_main!(benches);
