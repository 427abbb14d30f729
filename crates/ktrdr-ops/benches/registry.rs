//! Recording a completed operation in the registry, on SQLite (a WAL database in a temp dir,
//! as in production) and in memory:
//!
//! - `insert_then_complete`: insert the record, then the compare-and-set to `completed` with a
//!   result summary (two writes; the record is inserted `running`);
//! - `lifecycle`: what the runner writes for every operation: insert `pending`, CAS to
//!   `running`, CAS to `completed` with the summary (three writes);
//! - `complete`: the one write that records the end of a running operation, as the runner makes
//!   it (the compare-and-set `running → completed` with the result summary and the final
//!   progress snapshot); only this write is timed, the insert and `→ running` before it are not;
//! - `sqlite_floor`: the same three autocommit statements on a bare two-column table through the
//!   same connection settings, i.e. what any SQLite registry pays on this machine;
//! - `runner/*`: a whole `Operations::run` of empty work and `wait()` for its outcome (id,
//!   coordinator, progress, two spawned tasks, the registry writes) on a current-thread runtime.
//!
//! The Python system's figure is 330 µs (it rewrote a pickle cache each time); target ≤ 50 µs.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark code: criterion_main! makes an undocumented main; a panic is the failure report"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;

use ktrdr_ops::operations::{OperationError, Operations};
use ktrdr_ops::progress::{ProgressHandle, StepPlan};
use ktrdr_ops::registry::OperationStatus::{Completed, Pending, Running};
use ktrdr_ops::registry::{
    MemoryRegistry, OperationRecord, Registry, SqliteRegistry, TransitionPatch,
};
use serde_json::json;

fn record(n: u64) -> OperationRecord {
    let id = format!("op_data_load_20250101_000000_{n:08x}");
    let metadata = json!({"symbol": "AAPL", "timeframe": "1h", "mode": "tail"});
    OperationRecord::pending(id, "data_load", metadata)
}

fn summary() -> TransitionPatch {
    TransitionPatch {
        result_summary: Some(json!({"fetched_bars": 1400, "segments": 7, "saved_bars": 1400})),
        ..TransitionPatch::default()
    }
}

fn insert_then_complete(registry: &dyn Registry, n: u64) {
    let mut record = record(n);
    record.status = Running;
    record.started_at = Some(record.created_at);
    registry.insert(&record).unwrap();
    registry
        .transition(&record.id, &[Running], Completed, &summary())
        .unwrap();
}

fn lifecycle(registry: &dyn Registry, n: u64) {
    let record = record(n);
    registry.insert(&record).unwrap();
    registry
        .transition(&record.id, &[Pending], Running, &TransitionPatch::default())
        .unwrap();
    registry
        .transition(&record.id, &[Running], Completed, &summary())
        .unwrap();
}

/// The patch of the runner's `completed` write: the summary and the final progress.
fn completion_patch() -> TransitionPatch {
    let progress = ProgressHandle::new("op", StepPlan::new([("fetch", 80), ("save", 20)]).unwrap());
    progress.start_step(1).unwrap();
    progress.set_sub_progress(7, 7);
    progress.complete();
    TransitionPatch {
        progress: Some(progress.snapshot()),
        ..summary()
    }
}

/// Times only the `running → completed` write of each iteration.
fn complete(registry: &dyn Registry, n: &mut u64, iters: u64) -> Duration {
    let patch = completion_patch();
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        *n += 1;
        let record = record(*n);
        registry.insert(&record).unwrap();
        registry
            .transition(&record.id, &[Pending], Running, &TransitionPatch::default())
            .unwrap();
        let start = Instant::now();
        registry
            .transition(black_box(&record.id), &[Running], Completed, &patch)
            .unwrap();
        timed += start.elapsed();
    }
    timed
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_completed_operation");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteRegistry::open(dir.path().join("ktrdr.db")).unwrap();
    let memory = MemoryRegistry::new();
    let mut n = 0u64;
    let stores: [(&str, &dyn Registry); 2] = [("sqlite", &sqlite), ("memory", &memory)];
    for (store, registry) in stores {
        group.bench_function(format!("{store}/insert_then_complete"), |b| {
            b.iter(|| {
                n += 1;
                insert_then_complete(black_box(registry), n);
            })
        });
        group.bench_function(format!("{store}/complete"), |b| {
            b.iter_custom(|iters| complete(registry, &mut n, iters))
        });
        group.bench_function(format!("{store}/lifecycle"), |b| {
            b.iter(|| {
                n += 1;
                lifecycle(black_box(registry), n);
            })
        });
    }

    let conn = ktrdr_ops::db::open(&dir.path().join("floor.db")).unwrap();
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, status TEXT NOT NULL, summary TEXT)")
        .unwrap();
    group.bench_function("sqlite_floor/lifecycle", |b| {
        b.iter(|| {
            n += 1;
            let id = n.to_string();
            let run = |sql: &str| conn.prepare_cached(sql).unwrap().execute([&id]).unwrap();
            run("INSERT INTO t (id, status) VALUES (?1, 'pending')");
            run("UPDATE t SET status = 'running' WHERE id = ?1 AND status = 'pending'");
            run("UPDATE t SET status = 'completed', summary = '{}' WHERE id = ?1 AND status = 'running'");
        })
    });
    group.finish();
}

fn runner(c: &mut Criterion) {
    let mut group = c.benchmark_group("runner");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stores: [(&str, Arc<dyn Registry>); 2] = [
        (
            "sqlite",
            Arc::new(SqliteRegistry::open(dir.path().join("runner.db")).unwrap()),
        ),
        ("memory", Arc::new(MemoryRegistry::new())),
    ];
    for (store, registry) in stores {
        let ops = Operations::new(registry, None);
        group.bench_function(format!("{store}/run_and_wait"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let plan = StepPlan::new([("work", 100)]).unwrap();
                    let work = |_| async { Ok::<_, OperationError>(json!({"items": 1})) };
                    let handle = ops.run("bench", json!({}), plan, work).unwrap();
                    assert_eq!(handle.wait().await.status, Completed);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, runner);
criterion_main!(benches);
