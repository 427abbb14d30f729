//! Cost of the ETA (docs/PERFORMANCE.md, "## ETA"): one observe + estimate on a warm estimator
//! with a prior, and the prior lookup from 10 history records (in memory and in SQLite), beside
//! the Python engine's learned-ETA lookup with 10 records (5.97 µs, ../shared/PEERS.md); and
//! recording a completed operation's duration in the SQLite history file, beside the Python
//! engine's `record_operation_completion`, which rewrites its pickle cache (330 µs).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ktrdr_ops::eta::{
    DurationRecord, EtaHistory, EtaKey, MemoryEtaHistory, Prior, SqliteEtaHistory, TimeEstimator,
};

fn observe_and_estimate(c: &mut Criterion) {
    let prior = Prior::from_durations([41.0, 44.0, 40.5, 45.0, 40.4, 44.3, 40.7, 40.9, 44.2, 48.3]);
    let mut est = TimeEstimator::new(prior);
    // Warm: 200 updates, so the sample buffer has been decimated and is full-sized.
    let mut t = 0.0;
    let mut f = 0.0;
    for _ in 0..200 {
        t += 0.1;
        f += 0.0025;
        est.observe(Duration::from_secs_f64(t), f);
    }
    c.bench_function("eta/observe+estimate", |b| {
        b.iter(|| {
            t += 0.01;
            // Tiny steps keep the run below 100 % for any plausible iteration count.
            f += 1e-10;
            est.observe(Duration::from_secs_f64(t), black_box(f));
            black_box(est.estimate(Duration::from_secs_f64(t)))
        })
    });
}

fn prior_lookup(c: &mut Criterion) {
    let key = EtaKey::new("data_load")
        .and_then(|k| k.with_symbol("AAPL"))
        .map(|k| k.with_items(5_000));
    let key = key.expect("valid key");
    let memory = MemoryEtaHistory::new();
    let sqlite = SqliteEtaHistory::open_in_memory().expect("in-memory database");
    for i in 0..10 {
        let record = DurationRecord::now(40.0 + i as f64);
        memory.record(&key, record.clone()).expect("record");
        sqlite.record(&key, record).expect("record");
    }
    c.bench_function("eta/prior lookup, 10 records, memory", |b| {
        b.iter(|| black_box(memory.prior(black_box(&key)).expect("lookup")))
    });
    c.bench_function("eta/prior lookup, 10 records, sqlite", |b| {
        b.iter(|| black_box(sqlite.prior(black_box(&key)).expect("lookup")))
    });
}

fn record_completion(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let history = SqliteEtaHistory::open(&dir.path().join("ktrdr.db")).expect("database");
    let key = EtaKey::new("data_load")
        .and_then(|k| k.with_symbol("AAPL"))
        .map(|k| k.with_items(5_000))
        .expect("valid key");
    c.bench_function("eta/record completion, sqlite file", |b| {
        b.iter(|| {
            history
                .record(black_box(&key), DurationRecord::now(42.0))
                .expect("record")
        })
    });
}

criterion_group!(
    benches,
    observe_and_estimate,
    prior_lookup,
    record_completion
);
criterion_main!(benches);
