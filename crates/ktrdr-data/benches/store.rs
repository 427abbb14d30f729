//! Bar store speed: parsing throughput (MB/s) on `MSFT_1h.csv` scaled up in memory, in the
//! Python system's format and in our canonical one, and loading the real file from disk.
//!
//! `cargo bench -p ktrdr-data --bench store -- --warm-up-time 1 --measurement-time 3`
//!
//! The `*_cpu` variants report this thread's CPU time (from `/proc/thread-self/schedstat`)
//! instead of wall time: on a shared 2-core machine with several builds running, wall time
//! mostly measures the queue for a core.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ktrdr_data::store::{parse_csv, BarStore};
use ktrdr_data::types::{format_timestamp, format_timestamp_human, Symbol, Timeframe};

const IB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ib");
/// Copies of the 12-year series laid end to end: ~10 MB, well past the caches' comfort zone.
const SCALE: i64 = 8;

/// `MSFT_1h` repeated `SCALE` times, each copy shifted past the previous one (sorted, unique).
fn scaled(python_format: bool) -> Vec<u8> {
    let s = BarStore::new(IB_DIR)
        .load(&"MSFT".parse::<Symbol>().unwrap(), Timeframe::H1)
        .unwrap();
    let span = s.last_ts().unwrap() - s.first_ts().unwrap() + 3600;
    let mut out = b"timestamp,open,high,low,close,volume\n".to_vec();
    for k in 0..SCALE {
        for b in s.iter() {
            let t = b.ts + k * span;
            let line = if python_format {
                // The Python files: `2013-12-31 00:30:00+00:00`, volume as a float (`2265000.0`).
                let stamp = format_timestamp_human(t);
                format!(
                    "{stamp}+00:00,{},{},{},{},{:.1}\n",
                    b.open, b.high, b.low, b.close, b.volume
                )
            } else {
                let stamp = format_timestamp(t);
                format!(
                    "{stamp},{},{},{},{},{}\n",
                    b.open, b.high, b.low, b.close, b.volume
                )
            };
            out.extend_from_slice(line.as_bytes());
        }
    }
    out
}

/// CPU time of this thread so far, if the kernel reports it.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Runs `f` `iters` times; returns the CPU time it took (wall time if CPU time is unknown).
fn cpu_time<R>(iters: u64, mut f: impl FnMut() -> R) -> Duration {
    let (c0, w0) = (thread_cpu(), Instant::now());
    for _ in 0..iters {
        black_box(f());
    }
    match (c0, thread_cpu()) {
        (Some(a), Some(b)) => b - a,
        _ => w0.elapsed(),
    }
}

fn parse_buf(buf: &[u8]) -> usize {
    parse_csv(black_box(buf), Path::new("bench.csv"))
        .unwrap()
        .0
        .len()
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("store/parse");
    for (name, python) in [("python_format", true), ("canonical", false)] {
        let buf = scaled(python);
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| b.iter(|| parse_buf(&buf)));
        g.bench_function(format!("{name}_cpu"), |b| {
            b.iter_custom(|n| cpu_time(n, || parse_buf(&buf)))
        });
    }
    g.finish();
}

fn load(c: &mut Criterion) {
    let store = BarStore::new(IB_DIR);
    let msft: Symbol = "MSFT".parse().unwrap();
    let load = || store.load(&msft, Timeframe::H1).unwrap().len();
    let mut g = c.benchmark_group("store/load");
    g.throughput(Throughput::Elements(20_758));
    g.bench_function("MSFT_1h", |b| b.iter(load));
    g.bench_function("MSFT_1h_cpu", |b| b.iter_custom(|n| cpu_time(n, load)));
    g.bench_function("MSFT_1h_series_info", |b| {
        b.iter(|| store.series_info(&msft, Timeframe::H1).unwrap().rows)
    });
    g.bench_function("MSFT_1h_date_range", |b| {
        b.iter(|| store.date_range(&msft, Timeframe::H1).unwrap())
    });
    g.finish();
}

criterion_group!(benches, parse, load);
criterion_main!(benches);
