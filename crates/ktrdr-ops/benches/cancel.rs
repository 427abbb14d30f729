//! `is_cancelled` on our token next to tokio-util's, uncontended and while another thread
//! hammers `child_token`/`cancel` on siblings (the figures of docs/PERFORMANCE.md).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion};
use ktrdr_ops::cancel::{CancelReason, CancellationToken};

/// Runs `bench` while a second thread creates and cancels sibling tokens under the same parent.
fn with_sibling_churn(
    spawn_churn: impl FnOnce(Arc<AtomicBool>) -> thread::JoinHandle<()>,
    bench: impl FnOnce(),
) {
    let stop = Arc::new(AtomicBool::new(false));
    let churn = spawn_churn(Arc::clone(&stop));
    bench();
    stop.store(true, Ordering::Relaxed);
    let _ = churn.join();
}

fn is_cancelled(c: &mut Criterion) {
    let mut g = c.benchmark_group("is_cancelled");

    let parent = CancellationToken::new();
    let ours = parent.child_token();
    g.bench_function("ktrdr child token", |b| {
        b.iter(|| black_box(&ours).is_cancelled())
    });

    let tparent = tokio_util::sync::CancellationToken::new();
    let theirs = tparent.child_token();
    g.bench_function("tokio-util child token", |b| {
        b.iter(|| black_box(&theirs).is_cancelled())
    });

    let flag = AtomicBool::new(false);
    g.bench_function("AtomicBool acquire load (floor)", |b| {
        b.iter(|| black_box(&flag).load(Ordering::Acquire))
    });

    with_sibling_churn(
        |stop| {
            let parent = parent.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    parent.child_token().cancel(CancelReason::User);
                }
            })
        },
        || {
            g.bench_function("ktrdr child token, siblings churning", |b| {
                b.iter(|| black_box(&ours).is_cancelled())
            });
        },
    );
    with_sibling_churn(
        |stop| {
            let tparent = tparent.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    tparent.child_token().cancel();
                }
            })
        },
        || {
            g.bench_function("tokio-util child token, siblings churning", |b| {
                b.iter(|| black_box(&theirs).is_cancelled())
            });
        },
    );
    g.finish();
}

criterion_group!(benches, is_cancelled);
criterion_main!(benches);
