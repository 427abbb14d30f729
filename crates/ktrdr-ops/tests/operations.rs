//! Black-box tests of the operation runner: lifecycle, cancellation, panics, progress
//! persistence and ETA history, on the in-memory and SQLite registries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::cancel::CancellationToken;
use ktrdr_ops::eta::{DurationRecord, EtaHistory, EtaKey, MemoryEtaHistory, SqliteEtaHistory};
use ktrdr_ops::operations::{OperationError, Operations, OperationsError};
use ktrdr_ops::progress::StepPlan;
use ktrdr_ops::progress::{ProgressPhase, ProgressState};
use ktrdr_ops::registry::OperationStatus::*;
use ktrdr_ops::registry::{
    CancelRequest, KeyClaim, MemoryRegistry, OperationFilter, OperationList, OperationRecord,
    OperationStatus, Owner, Registry, RegistryError, SqliteRegistry, TransitionPatch,
};
use serde_json::{json, Value};
use tokio::time::sleep;

fn plan() -> StepPlan {
    StepPlan::new([("fetch", 80), ("save", 20)]).unwrap()
}

fn memory_ops() -> (Operations, Arc<MemoryRegistry>) {
    let registry = Arc::new(MemoryRegistry::new());
    (Operations::new(registry.clone(), None), registry)
}

fn load_metadata() -> Value {
    json!({"symbol": "AAPL", "timeframe": "1h", "mode": "tail"})
}

/// The ETA key the runner derives from [`load_metadata`].
fn load_key() -> EtaKey {
    EtaKey::new("data_load")
        .unwrap()
        .with_symbol("AAPL")
        .unwrap()
        .with_timeframe("1h")
        .unwrap()
        .with_mode("tail")
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn completed_operation_records_summary_timestamps_and_history() {
    let registry = Arc::new(MemoryRegistry::new());
    let history = Arc::new(MemoryEtaHistory::new());
    for secs in [4.0, 5.0, 6.0] {
        history
            .record(&load_key(), DurationRecord::now(secs))
            .unwrap();
    }
    let ops = Operations::new(registry.clone(), Some(history.clone()));
    let handle = ops
        .run("data_load", load_metadata(), plan(), |_ctx| async move {
            sleep(Duration::from_secs(5)).await;
            Ok(json!({"fetched_bars": 1400, "segments": 7}))
        })
        .unwrap();
    assert!(handle.id().starts_with("op_data_load_"));
    // The prior learned from the three earlier runs gives an ETA before any progress.
    assert!(
        handle.progress().snapshot().eta.is_some(),
        "ETA seeded from history"
    );

    let outcome = handle.wait().await;
    assert_eq!(outcome.status, Completed);
    assert_eq!(
        outcome.result_summary,
        Some(json!({"fetched_bars": 1400, "segments": 7}))
    );
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(record.status, Completed);
    assert_eq!(record.metadata, load_metadata());
    assert_eq!(record.result_summary, outcome.result_summary);
    assert!(record.started_at.is_some() && record.finished_at.is_some());
    let stored = record.progress.as_ref().unwrap();
    assert_eq!(
        (stored.phase, stored.percent),
        (ProgressPhase::Completed, 100.0)
    );
    assert_eq!(stored.eta, None);
    assert!(
        stored.message.starts_with("Completed in"),
        "{}",
        stored.message
    );
    assert_eq!(handle.progress().snapshot().phase, ProgressPhase::Completed);
    assert_eq!(record.owner, Owner::current());
    let progress = record
        .progress
        .expect("final progress is stored with the terminal status");
    assert_eq!(progress.percent, 100.0);

    let records = history.records(&load_key()).unwrap();
    assert_eq!(records.len(), 4);
    let learned = &records[3];
    assert!(
        (learned.duration_secs - 5.0).abs() < 0.01,
        "{}",
        learned.duration_secs
    );
    assert_eq!(Value::Object(learned.context.clone()), load_metadata());
}

#[tokio::test(start_paused = true)]
async fn without_history_there_is_no_eta_before_progress() {
    let registry = Arc::new(MemoryRegistry::new());
    let history = Arc::new(MemoryEtaHistory::new());
    let ops = Operations::new(registry.clone(), Some(history.clone()));
    let handle = ops
        .run("data_load", load_metadata(), plan(), |ctx| async move {
            ctx.token.cancelled().await;
            Ok(json!({}))
        })
        .unwrap();
    assert_eq!(handle.progress().snapshot().eta, None);
    ops.cancel(handle.id(), CancelReason::User).unwrap();
    assert_eq!(handle.wait().await.status, Cancelled);
    // A cancelled run teaches nothing.
    assert!(history.records(&load_key()).unwrap().is_empty());
    // The recorded progress says cancelled too, with no ETA left running.
    let progress = registry
        .get(handle.id())
        .unwrap()
        .unwrap()
        .progress
        .unwrap();
    assert_eq!(progress.phase, ProgressPhase::Cancelled);
    assert_eq!(progress.eta, None);
    assert!(progress.error.unwrap().contains("user"));
}

#[tokio::test(start_paused = true)]
async fn the_outcome_is_there_without_waiting_once_the_work_has_ended() {
    let (ops, _) = memory_ops();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let handle = ops
        .run("data_load", load_metadata(), plan(), |_ctx| async move {
            let _ = released.await;
            Ok(json!({"bars": 3}))
        })
        .unwrap();
    assert_eq!(handle.outcome(), None);
    release.send(()).unwrap();
    let waited = handle.wait().await;
    let seen = handle.outcome().unwrap();
    assert_eq!(
        (seen.status, seen.result_summary),
        (Completed, Some(json!({"bars": 3})))
    );
    assert_eq!(waited.status, Completed);
}

#[tokio::test(start_paused = true)]
async fn failing_work_is_recorded_failed_and_teaches_nothing() {
    let registry = Arc::new(MemoryRegistry::new());
    let history = Arc::new(MemoryEtaHistory::new());
    let ops = Operations::new(registry.clone(), Some(history.clone()));
    let handle = ops
        .run("data_load", load_metadata(), plan(), |_ctx| async move {
            sleep(Duration::from_millis(30)).await;
            Err(OperationError::failed("disk full while saving AAPL_1h.csv"))
        })
        .unwrap();
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, Failed);
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(
        (record.status, record.error.as_deref()),
        (Failed, Some("disk full while saving AAPL_1h.csv"))
    );
    assert_eq!(record.result_summary, None);
    assert!(history.records(&load_key()).unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failure_keeps_what_the_work_did_before_it() {
    let (ops, registry) = memory_ops();
    let handle = ops
        .run("data_load", load_metadata(), plan(), |_ctx| async move {
            Err(OperationError::failed_with(
                "3 of 20 requests failed",
                json!({"bars_saved": 1400}),
            ))
        })
        .unwrap();
    assert_eq!(handle.wait().await.status, Failed);
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(record.error.as_deref(), Some("3 of 20 requests failed"));
    assert_eq!(record.result_summary, Some(json!({"bars_saved": 1400})));
}

#[tokio::test(start_paused = true)]
async fn panicking_work_is_recorded_failed_with_the_message() {
    let (ops, registry) = memory_ops();
    let handle = ops
        .run("training", json!({}), plan(), |_ctx| async move {
            sleep(Duration::from_millis(10)).await;
            let bars: Vec<u32> = Vec::new();
            if bars.is_empty() {
                panic!("no bars for segment {}", 3);
            }
            Ok(json!({}))
        })
        .unwrap();
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, Failed);
    let error = registry.get(handle.id()).unwrap().unwrap().error.unwrap();
    assert!(
        error.contains("panicked") && error.contains("no bars for segment 3"),
        "{error}"
    );
    // The runner survives a panicking operation.
    let next = ops
        .run("training", json!({}), plan(), |_| async {
            Ok(json!({"ok": true}))
        })
        .unwrap();
    assert_eq!(next.wait().await.status, Completed);
}

#[tokio::test(start_paused = true)]
async fn cancel_mid_work_shows_cancelling_until_the_work_stops() {
    let (ops, registry) = memory_ops();
    let handle = ops
        .run("data_load", load_metadata(), plan(), |ctx| async move {
            let mut segments = 0;
            loop {
                if ctx.token.is_cancelled() {
                    // Saving what was fetched takes a while; the operation must stay
                    // `cancelling` meanwhile.
                    sleep(Duration::from_secs(2)).await;
                    return Ok(json!({ "segments_kept": segments }));
                }
                sleep(Duration::from_millis(100)).await;
                segments += 1;
            }
        })
        .unwrap();
    sleep(Duration::from_millis(1050)).await;
    assert_eq!(registry.get(handle.id()).unwrap().unwrap().status, Running);

    let ack = ops.cancel(handle.id(), CancelReason::User).unwrap();
    assert_eq!(
        (ack.status, ack.reason.clone()),
        (Cancelling, CancelReason::User)
    );
    assert!(handle.token().is_cancelled());
    sleep(Duration::from_secs(1)).await;
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(
        (record.status, record.cancel_reason),
        (Cancelling, Some(CancelReason::User))
    );
    assert_eq!(record.finished_at, None);

    // Cancelling twice is accepted and keeps the first reason.
    let again = ops.cancel(handle.id(), CancelReason::Shutdown).unwrap();
    assert_eq!(
        (again.status, again.reason),
        (Cancelling, CancelReason::User)
    );

    // Cancelled at 1.05 s: the segment in flight (the 11th) finishes, then the work stops.
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, Cancelled);
    assert_eq!(outcome.cancel_reason, Some(CancelReason::User));
    assert_eq!(outcome.result_summary, Some(json!({"segments_kept": 11})));
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(record.status, Cancelled);
    assert_eq!(record.result_summary, Some(json!({"segments_kept": 11})));
    assert!(record.finished_at.is_some());
}

#[tokio::test(start_paused = true)]
async fn work_returning_cancelled_is_recorded_cancelled_not_failed() {
    let (ops, registry) = memory_ops();
    let handle = ops
        .run("data_load", json!({}), plan(), |ctx| async move {
            loop {
                ctx.token.check()?;
                sleep(Duration::from_millis(10)).await;
            }
        })
        .unwrap();
    sleep(Duration::from_millis(55)).await;
    // Cancelling through the handle's token (as a Ctrl-C handler would) is reflected too.
    handle.token().cancel(CancelReason::Timeout);
    let outcome = handle.wait().await;
    assert_eq!(
        (outcome.status, outcome.cancel_reason),
        (Cancelled, Some(CancelReason::Timeout))
    );
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(
        (record.status, record.error, record.result_summary),
        (Cancelled, None, None)
    );
}

#[tokio::test(start_paused = true)]
async fn an_error_after_cancel_is_cancelled_and_keeps_the_error() {
    let (ops, registry) = memory_ops();
    let handle = ops
        .run("data_load", json!({}), plan(), |ctx| async move {
            ctx.token.cancelled().await;
            Err(OperationError::failed("connection reset while stopping"))
        })
        .unwrap();
    sleep(Duration::from_millis(5)).await;
    ops.cancel(handle.id(), CancelReason::User).unwrap();
    assert_eq!(handle.wait().await.status, Cancelled);
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(
        record.error.as_deref(),
        Some("connection reset while stopping")
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_before_start_never_runs_the_work() {
    let (ops, registry) = memory_ops();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let handle = ops
        .run("data_load", json!({}), plan(), move |_ctx| async move {
            flag.store(true, Ordering::SeqCst);
            Ok(json!({}))
        })
        .unwrap();
    // On a current-thread runtime the supervisor has not run yet.
    let ack = ops.cancel(handle.id(), CancelReason::User).unwrap();
    assert_eq!(ack.status, Cancelling);
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, Cancelled);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(registry.get(handle.id()).unwrap().unwrap().started_at, None);
}

#[tokio::test(start_paused = true)]
async fn cancel_is_refused_for_finished_and_unknown_and_stored_for_foreign_operations() {
    let (ops, registry) = memory_ops();
    let handle = ops
        .run("data_load", json!({}), plan(), |_| async {
            Ok(json!({"n": 1}))
        })
        .unwrap();
    handle.wait().await;
    let err = ops.cancel(handle.id(), CancelReason::User).unwrap_err();
    assert!(
        matches!(
            err,
            OperationsError::AlreadyFinished {
                status: Completed,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("already ended"), "{err}");
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!((record.status, record.cancel_reason), (Completed, None));

    let err = ops.cancel("op_nope", CancelReason::User).unwrap_err();
    assert!(matches!(err, OperationsError::NotFound { .. }), "{err}");

    // Run by a runner elsewhere, whose liveness cannot be judged from here: the request is
    // stored for that runner, and a second one keeps the first reason.
    let mut foreign = OperationRecord::pending("op_foreign", "training", json!({}));
    foreign.owner = Owner {
        pid: 4242,
        host: "gpu-box.example".into(),
        start_token: None,
    };
    registry.insert(&foreign).unwrap();
    registry
        .transition(
            "op_foreign",
            &[Pending],
            Running,
            &TransitionPatch::default(),
        )
        .unwrap();
    let ack = ops
        .cancel("op_foreign", CancelReason::Remote("api".into()))
        .unwrap();
    assert_eq!(
        (ack.status, ack.reason),
        (Cancelling, CancelReason::Remote("api".into()))
    );
    let again = ops.cancel("op_foreign", CancelReason::User).unwrap();
    assert_eq!(
        (again.status, again.reason),
        (Cancelling, CancelReason::Remote("api".into()))
    );
    let record = registry.get("op_foreign").unwrap().unwrap();
    assert_eq!(
        (record.status, record.cancel_reason, record.finished_at),
        (Cancelling, Some(CancelReason::Remote("api".into())), None)
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_an_operation_of_a_dead_process_marks_it_interrupted() {
    let (ops, registry) = memory_ops();
    let mut orphan = OperationRecord::pending("op_orphan", "data_load", json!({}));
    // This host and boot, a pid no process can have: provably dead.
    orphan.owner = Owner {
        pid: 999_999_999,
        ..Owner::current()
    };
    registry.insert(&orphan).unwrap();
    let err = ops.cancel("op_orphan", CancelReason::User).unwrap_err();
    assert!(
        matches!(
            err,
            OperationsError::AlreadyFinished {
                status: Interrupted,
                ..
            }
        ),
        "{err}"
    );
    let record = registry.get("op_orphan").unwrap().unwrap();
    assert_eq!(record.status, Interrupted);
    assert!(record.finished_at.is_some());
    assert!(
        record.error.as_deref().unwrap().contains("999999999"),
        "{:?}",
        record.error
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_all_stops_what_runs_and_spares_later_operations() {
    let (ops, registry) = memory_ops();
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(
            ops.run("data_load", json!({}), plan(), |ctx| async move {
                let reason = ctx.token.cancelled().await;
                Err(OperationError::Cancelled(ktrdr_ops::cancel::Cancelled {
                    reason,
                }))
            })
            .unwrap(),
        );
    }
    sleep(Duration::from_millis(10)).await;
    assert_eq!(ops.cancel_all(CancelReason::Shutdown), 3);
    ops.wait_idle().await;
    for handle in &handles {
        let record = registry.get(handle.id()).unwrap().unwrap();
        assert_eq!(
            (record.status, record.cancel_reason),
            (Cancelled, Some(CancelReason::Shutdown))
        );
    }
    let later = ops.run("data_load", json!({}), plan(), |ctx| async move {
        ctx.token.check()?;
        Ok(json!({"done": true}))
    });
    assert_eq!(later.unwrap().wait().await.status, Completed);
    assert_eq!(ops.cancel_all(CancelReason::Shutdown), 0);
}

#[tokio::test(start_paused = true)]
async fn progress_reaches_the_registry_throttled_and_final() {
    let (ops, registry) = memory_ops();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = ops
        .run("data_load", json!({}), plan(), |ctx| async move {
            sleep(Duration::from_secs(1)).await;
            // The first step weighs 80 %: each eighth of it is 10 %.
            ctx.progress.set_sub_progress(1, 8);
            sleep(Duration::from_millis(10)).await;
            ctx.progress.set_sub_progress(2, 8);
            sleep(Duration::from_millis(10)).await;
            ctx.progress.set_sub_progress(3, 8);
            let _ = go_rx.await;
            Ok(json!({}))
        })
        .unwrap();
    let persisted = || {
        registry
            .get(handle.id())
            .unwrap()
            .unwrap()
            .progress
            .map(|p| p.percent)
    };
    sleep(Duration::from_millis(1100)).await;
    // After a quiet second the first update is written at once; the next ones wait for the
    // 250 ms interval.
    assert_eq!(persisted(), Some(10.0));
    sleep(Duration::from_millis(200)).await;
    assert_eq!(persisted(), Some(30.0));
    go_tx.send(()).unwrap();
    handle.wait().await;
    assert_eq!(persisted(), Some(100.0));
}

#[tokio::test(start_paused = true)]
async fn operations_are_listed_newest_first_and_cleaned_up() {
    let (ops, registry) = memory_ops();
    let mut ids = Vec::new();
    for (i, kind) in ["data_load", "training", "data_load"]
        .into_iter()
        .enumerate()
    {
        let handle = ops
            .run(kind, json!({ "n": i }), plan(), |_| async { Ok(json!({})) })
            .unwrap();
        handle.wait().await;
        ids.push(handle.id().to_owned());
    }
    let blocked = ops
        .run("data_load", json!({}), plan(), |ctx| async move {
            ctx.token.cancelled().await;
            Ok(json!({}))
        })
        .unwrap();
    sleep(Duration::from_millis(1)).await;
    ids.push(blocked.id().to_owned());

    let list = registry.list(&OperationFilter::default()).unwrap();
    let listed: Vec<String> = list.operations.iter().map(|r| r.id.clone()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    assert_eq!((list.total_count, list.active_count), (4, 1));
    let loads = registry
        .list(&OperationFilter {
            operation_type: Some("data_load".into()),
            limit: Some(1),
            offset: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        loads
            .operations
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        [ids[2].as_str()]
    );
    assert_eq!(loads.total_count, 3);

    assert_eq!(registry.cleanup(Duration::ZERO).unwrap(), 3);
    assert_eq!(
        registry
            .list(&OperationFilter::default())
            .unwrap()
            .operations
            .len(),
        1
    );
    ops.cancel(blocked.id(), CancelReason::Shutdown).unwrap();
    blocked.wait().await;
}

#[tokio::test]
async fn sqlite_registry_keeps_runner_outcomes_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    let id = {
        // The registry and the ETA history share the one kernel database file.
        let history = Arc::new(SqliteEtaHistory::open(&path).unwrap());
        let ops = Operations::new(
            Arc::new(SqliteRegistry::open(&path).unwrap()),
            Some(history),
        );
        let done = ops
            .run("data_load", load_metadata(), plan(), |_| async {
                Ok(json!({"fetched_bars": 12}))
            })
            .unwrap();
        let outcome = done.wait().await;
        assert_eq!(outcome.status, Completed);
        done.id().to_owned()
    };
    let reopened = SqliteRegistry::open(&path).unwrap();
    let record = reopened.get(&id).unwrap().unwrap();
    assert_eq!(record.status, Completed);
    assert_eq!(record.result_summary, Some(json!({"fetched_bars": 12})));
    assert!(reopened.interrupted_at_open().is_empty());
    // The success taught the history in the same file, and it survives the process.
    let history = SqliteEtaHistory::open(&path).unwrap();
    assert_eq!(history.records(&load_key()).unwrap().len(), 1);
    assert!(history.prior(&load_key()).unwrap().is_some());
}

#[test]
fn run_outside_a_runtime_is_a_typed_error() {
    let (ops, registry) = memory_ops();
    let err = ops
        .run("data_load", json!({}), plan(), |_| async { Ok(json!({})) })
        .unwrap_err();
    assert!(matches!(err, OperationsError::NoRuntime), "{err}");
    assert_eq!(
        registry
            .list(&OperationFilter::default())
            .unwrap()
            .total_count,
        0
    );
}

/// What a [`Hooked`] registry does before it hands a call to its memory store.
trait Hook: Send + Sync {
    fn before_insert(&self, _record: &OperationRecord) -> Result<(), RegistryError> {
        Ok(())
    }
    fn before_transition(
        &self,
        _store: &MemoryRegistry,
        _id: &str,
        _to: OperationStatus,
    ) -> Result<(), RegistryError> {
        Ok(())
    }
}

/// A memory registry with a [`Hook`] in front of inserts and transitions, to stage races and
/// collisions exactly.
struct Hooked<H> {
    store: MemoryRegistry,
    hook: H,
}

fn hooked<H: Hook>(hook: H) -> Arc<Hooked<H>> {
    Arc::new(Hooked {
        store: MemoryRegistry::new(),
        hook,
    })
}

impl<H: Hook> Registry for Hooked<H> {
    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError> {
        self.hook.before_insert(record)?;
        self.store.insert(record)
    }
    fn insert_idempotent(
        &self,
        record: &OperationRecord,
        key: &str,
        fingerprint: &str,
    ) -> Result<KeyClaim, RegistryError> {
        self.hook.before_insert(record)?;
        self.store.insert_idempotent(record, key, fingerprint)
    }
    fn transition(
        &self,
        id: &str,
        expected: &[OperationStatus],
        to: OperationStatus,
        patch: &TransitionPatch,
    ) -> Result<(), RegistryError> {
        self.hook.before_transition(&self.store, id, to)?;
        self.store.transition(id, expected, to, patch)
    }
    fn update_progress(&self, id: &str, progress: &ProgressState) -> Result<bool, RegistryError> {
        self.store.update_progress(id, progress)
    }
    fn get(&self, id: &str) -> Result<Option<OperationRecord>, RegistryError> {
        self.store.get(id)
    }
    fn list(&self, filter: &OperationFilter) -> Result<OperationList, RegistryError> {
        self.store.list(filter)
    }
    fn cancel_requests(&self, ids: &[String]) -> Result<Vec<CancelRequest>, RegistryError> {
        self.store.cancel_requests(ids)
    }
    fn interrupt_dead_owners(&self) -> Result<Vec<String>, RegistryError> {
        self.store.interrupt_dead_owners()
    }
    fn cleanup(&self, older_than: Duration) -> Result<usize, RegistryError> {
        self.store.cleanup(older_than)
    }
}

/// A cancel from elsewhere (another thread, the API) lands exactly between the work's success
/// and the runner's `completed` write: the tightest race there is.
#[derive(Default)]
struct CancelRacesCompletion {
    token: std::sync::Mutex<Option<CancellationToken>>,
}

impl Hook for CancelRacesCompletion {
    fn before_transition(
        &self,
        store: &MemoryRegistry,
        id: &str,
        to: OperationStatus,
    ) -> Result<(), RegistryError> {
        if to == Completed {
            if let Some(token) = self.token.lock().unwrap().as_ref() {
                token.cancel(CancelReason::Remote("api".into()));
            }
            let cancel = TransitionPatch {
                cancel_reason: Some(CancelReason::Remote("api".into())),
                ..TransitionPatch::default()
            };
            store.transition(id, &[Running], Cancelling, &cancel)?;
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancel_racing_the_completed_write_wins_and_keeps_the_summary() {
    let registry = hooked(CancelRacesCompletion::default());
    let history = Arc::new(MemoryEtaHistory::new());
    let ops = Operations::new(registry.clone(), Some(history.clone()));
    let handle = ops
        .run("data_load", load_metadata(), plan(), |_ctx| async move {
            sleep(Duration::from_secs(1)).await;
            Ok(json!({"fetched_bars": 99}))
        })
        .unwrap();
    *registry.hook.token.lock().unwrap() = Some(handle.token().clone());
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, Cancelled);
    assert_eq!(outcome.result_summary, Some(json!({"fetched_bars": 99})));
    assert_eq!(
        outcome.cancel_reason,
        Some(CancelReason::Remote("api".into()))
    );
    let record = registry.get(handle.id()).unwrap().unwrap();
    assert_eq!(
        (record.status, record.result_summary),
        (Cancelled, Some(json!({"fetched_bars": 99})))
    );
    // The stored and the live progress say so too, rendered as cancelled.
    let stored = record.progress.unwrap();
    let live = handle.progress().snapshot();
    for state in [&stored, &live] {
        assert_eq!(state.phase, ProgressPhase::Cancelled);
        assert!(
            state.message.starts_with("Cancelled at step"),
            "{}",
            state.message
        );
        assert!(state.error.as_deref().unwrap().contains("api"));
    }
    // It did not end as a success, so it teaches the estimator nothing.
    assert!(history.records(&load_key()).unwrap().is_empty());
}

/// Refuses the first `collisions` inserts as duplicates, as a registry does when a freshly
/// drawn id is already taken (by this process or another one on the same database).
struct TakenIds {
    collisions: std::sync::atomic::AtomicUsize,
    refused: std::sync::Mutex<Vec<String>>,
}

impl Hook for TakenIds {
    fn before_insert(&self, record: &OperationRecord) -> Result<(), RegistryError> {
        let left = self.collisions.load(Ordering::SeqCst);
        if left == 0 {
            return Ok(());
        }
        self.collisions.store(left - 1, Ordering::SeqCst);
        self.refused.lock().unwrap().push(record.id.clone());
        Err(RegistryError::Duplicate {
            id: record.id.clone(),
        })
    }
}

fn taken_ids(collisions: usize) -> Arc<Hooked<TakenIds>> {
    hooked(TakenIds {
        collisions: collisions.into(),
        refused: std::sync::Mutex::new(Vec::new()),
    })
}

#[tokio::test]
async fn a_colliding_id_is_drawn_again_and_the_run_goes_ahead() {
    let registry = taken_ids(3);
    let ops = Operations::new(registry.clone(), None);
    let handle = ops
        .run("data_load", json!({}), plan(), |_| async { Ok(json!({})) })
        .unwrap();
    assert_eq!(handle.wait().await.status, Completed);
    let refused = registry.hook.refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 3);
    assert!(!refused.contains(&handle.id().to_owned()));
    assert_eq!(
        registry.get(handle.id()).unwrap().map(|r| r.status),
        Some(Completed)
    );
    // The refused ids were released from the coordinator: cancelling one finds nothing.
    assert!(matches!(
        ops.cancel(&refused[0], CancelReason::User),
        Err(OperationsError::NotFound { .. })
    ));
}

#[tokio::test]
async fn ids_taken_every_time_are_a_typed_error() {
    let registry = taken_ids(usize::MAX);
    let ops = Operations::new(registry.clone(), None);
    let err = ops
        .run("data_load", json!({}), plan(), |_| async { Ok(json!({})) })
        .unwrap_err();
    assert!(
        matches!(
            err,
            OperationsError::Registry(RegistryError::Duplicate { .. })
        ),
        "{err}"
    );
    assert_eq!(registry.hook.refused.lock().unwrap().len(), 4);
}

/// A registry whose transitions hold their thread for 200 ms, as a write waiting on another
/// process's lock does, noting how far a ticking task got while each write was blocked.
struct SlowWrites {
    ticks: Arc<AtomicUsize>,
    ticks_during_writes: std::sync::Mutex<Vec<usize>>,
}

impl Hook for SlowWrites {
    fn before_transition(
        &self,
        _store: &MemoryRegistry,
        _id: &str,
        _to: OperationStatus,
    ) -> Result<(), RegistryError> {
        let before = self.ticks.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        let during = self.ticks.load(Ordering::SeqCst) - before;
        self.ticks_during_writes.lock().unwrap().push(during);
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocked_registry_write_does_not_stall_a_current_thread_runtime() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let registry = hooked(SlowWrites {
        ticks: Arc::clone(&ticks),
        ticks_during_writes: std::sync::Mutex::default(),
    });
    let ops = Operations::new(registry.clone(), None);
    let ticker = tokio::spawn(async move {
        loop {
            sleep(Duration::from_millis(5)).await;
            ticks.fetch_add(1, Ordering::SeqCst);
        }
    });
    let handle = ops
        .run("data_load", json!({}), plan(), |_| async { Ok(json!({})) })
        .unwrap();
    let outcome = handle.wait().await;
    ticker.abort();
    assert_eq!(outcome.status, Completed);
    let during = registry.hook.ticks_during_writes.lock().unwrap().clone();
    // `running` then `completed`. A 5 ms ticker gets ~40 ticks in 200 ms; a write that held the
    // runtime's only thread would let it tick 0 times.
    assert_eq!(during.len(), 2, "{during:?}");
    assert!(
        during.iter().all(|&n| n >= 5),
        "ticks during each write: {during:?}"
    );
}
