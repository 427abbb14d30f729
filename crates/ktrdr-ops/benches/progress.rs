//! Cost of reporting progress (the figures of docs/PERFORMANCE.md, "Progress"): one update with
//! a renderer and a live subscriber, a rendered snapshot, a nested update, and indicatif's
//! `ProgressBar::inc` as the peer, in the same run.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use indicatif::{ProgressBar, ProgressDrawTarget};
use ktrdr_ops::eta::Eta;
use ktrdr_ops::progress::{DefaultRenderer, EtaSource, ProgressHandle, StepPlan};

const TOTAL: u64 = 1 << 20;

fn handle() -> ProgressHandle {
    let plan = StepPlan::new([("Load", 10), ("Fetch", 80), ("Save", 10)]).expect("valid plan");
    let h = ProgressHandle::new("bench", plan);
    h.set_renderer(Arc::new(DefaultRenderer));
    h
}

/// A cheap linear estimator, so the snapshot figure includes an ETA sample.
struct Linear(f64);

impl EtaSource for Linear {
    fn observe(&mut self, _: Duration, fraction: f64) {
        self.0 = fraction;
    }
    fn estimate(&self, elapsed: Duration) -> Option<Eta> {
        (self.0 > 0.0).then(|| {
            let rest = elapsed.as_secs_f64() * (1.0 / self.0 - 1.0);
            Eta {
                remaining_secs: rest,
                low_secs: rest,
                high_secs: rest,
            }
        })
    }
}

fn progress(c: &mut Criterion) {
    let mut g = c.benchmark_group("progress");

    // The subscriber is attached but between reads, the steady state of a display that
    // refreshes a few times a second.
    let h = handle();
    h.next_step().expect("plan has 3 steps");
    let _subscriber = h.subscribe();
    let mut i = 0u64;
    g.bench_function("update: set_sub_progress, renderer + 1 subscriber", |b| {
        b.iter(|| {
            i = (i + 1) % TOTAL;
            black_box(&h).set_sub_progress(black_box(i), TOTAL);
        })
    });

    // Worst case: a subscriber task on another thread re-reads (renders) as soon as it is woken,
    // so most updates pay for a watch send and contend with the reader.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("tokio runtime");
    let h = handle();
    h.next_step().expect("plan has 3 steps");
    let stop = Arc::new(AtomicBool::new(false));
    let mut sub = h.subscribe();
    let reader_stop = Arc::clone(&stop);
    let reader = runtime.spawn(async move {
        while !reader_stop.load(Ordering::Relaxed) && sub.changed().await.is_ok() {
            black_box(sub.latest());
        }
    });
    g.bench_function(
        "update: set_sub_progress, subscriber reading flat out",
        |b| {
            b.iter(|| {
                i = (i + 1) % TOTAL;
                black_box(&h).set_sub_progress(black_box(i), TOTAL);
            })
        },
    );
    stop.store(true, Ordering::Relaxed);
    h.set_items(1, None); // wake the reader so it sees `stop`
    let _ = runtime.block_on(reader);

    let parent = handle();
    let child = parent.nested(StepPlan::new([("Read", 20), ("Fetch", 80)]).expect("valid plan"));
    child.next_step().expect("plan has 2 steps");
    let _subscriber = parent.subscribe();
    g.bench_function("update: nested set_sub_progress (child + parent)", |b| {
        b.iter(|| {
            i = (i + 1) % TOTAL;
            black_box(&child).set_sub_progress(black_box(i), TOTAL);
        })
    });

    let h = handle();
    h.next_step().expect("plan has 3 steps");
    h.set_step_detail("segment 3/10: 2024-01-01 to 2024-03-01");
    h.set_sub_progress(3, 10);
    h.set_items(1500, None);
    h.set_eta_source(Box::new(Linear(0.0)));
    g.bench_function("snapshot: rendered, with ETA sample", |b| {
        b.iter(|| black_box(black_box(&h).snapshot()))
    });

    let bar = ProgressBar::with_draw_target(Some(u64::MAX), ProgressDrawTarget::hidden());
    g.bench_function("indicatif 0.18 ProgressBar::inc (hidden)", |b| {
        b.iter(|| black_box(&bar).inc(1))
    });

    g.finish();
}

criterion_group!(benches, progress);
criterion_main!(benches);
