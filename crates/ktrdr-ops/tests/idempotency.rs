//! Black-box tests of `Operations::run_idempotent`: one operation per key, across runners and
//! restarts, and a typed conflict for a key reused with another request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ktrdr_ops::operations::{OperationHandle, Operations, OperationsError, Started};
use ktrdr_ops::progress::StepPlan;
use ktrdr_ops::registry::OperationStatus::*;
use ktrdr_ops::registry::{
    MemoryRegistry, OperationFilter, Registry, RegistryError, SqliteRegistry,
};
use serde_json::json;

fn plan() -> StepPlan {
    StepPlan::new([("fetch", 100)]).unwrap()
}

/// Starts a load under `key` whose work counts its runs in `runs`.
fn start(
    ops: &Operations,
    key: &str,
    fingerprint: &str,
    runs: &Arc<AtomicUsize>,
) -> Result<Started, OperationsError> {
    let runs = Arc::clone(runs);
    ops.run_idempotent(
        "data_load",
        json!({"symbol": "AAPL"}),
        plan(),
        key,
        fingerprint,
        move |_ctx| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(json!({"bars": 10}))
        },
    )
}

fn new(started: Started) -> OperationHandle {
    match started {
        Started::New(handle) => handle,
        Started::Existing(id) => panic!("expected a new operation, got existing {id}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_same_key_and_request_start_one_operation_and_another_request_conflicts() {
    let registry = Arc::new(MemoryRegistry::new());
    let ops = Operations::new(registry.clone(), None);
    let runs = Arc::new(AtomicUsize::new(0));
    let first = new(start(&ops, "load-1", "sha-a", &runs).unwrap());
    // While it runs and after it ended, the key names it.
    for _ in 0..2 {
        match start(&ops, "load-1", "sha-a", &runs).unwrap() {
            Started::Existing(id) => assert_eq!(id, first.id()),
            Started::New(handle) => panic!("started twice: {}", handle.id()),
        }
        first.wait().await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let err = start(&ops, "load-1", "sha-b", &runs).unwrap_err();
    match &err {
        OperationsError::IdempotencyConflict { key, operation_id } => {
            assert_eq!(
                (key.as_str(), operation_id.as_str()),
                ("load-1", first.id())
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().contains("another request"), "{err}");

    let other = new(start(&ops, "load-2", "sha-b", &runs).unwrap());
    assert_eq!(other.wait().await.status, Completed);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let err = start(&ops, "", "sha-a", &runs).unwrap_err();
    assert!(
        matches!(
            err,
            OperationsError::Registry(RegistryError::InvalidIdempotencyKey { .. })
        ),
        "{err}"
    );
    let list = registry.list(&OperationFilter::default()).unwrap();
    assert_eq!(list.total_count, 2, "no record for a refused start");
}

#[tokio::test]
async fn a_key_holds_across_runners_and_restarts_on_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    let runs = Arc::new(AtomicUsize::new(0));
    let id = {
        let ops = Operations::new(Arc::new(SqliteRegistry::open(&path).unwrap()), None);
        let handle = new(start(&ops, "load-1", "sha-a", &runs).unwrap());
        // Another runner on the same file (another process, say) is told about it too.
        let elsewhere = Operations::new(Arc::new(SqliteRegistry::open(&path).unwrap()), None);
        match start(&elsewhere, "load-1", "sha-a", &runs).unwrap() {
            Started::Existing(id) => assert_eq!(id, handle.id()),
            Started::New(h) => panic!("started twice: {}", h.id()),
        }
        assert_eq!(handle.wait().await.status, Completed);
        handle.id().to_owned()
    };
    let restarted = Operations::new(Arc::new(SqliteRegistry::open(&path).unwrap()), None);
    match start(&restarted, "load-1", "sha-a", &runs).unwrap() {
        Started::Existing(existing) => assert_eq!(existing, id),
        Started::New(h) => panic!("started again after a restart: {}", h.id()),
    }
    assert!(matches!(
        start(&restarted, "load-1", "sha-b", &runs),
        Err(OperationsError::IdempotencyConflict { .. })
    ));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
