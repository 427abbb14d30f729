//! Black-box tests of `Operations::shutdown`: cancel everything, wait out a grace, abort and
//! record the rest exactly once, start nothing new.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::operations::{Operations, OperationsError, ShutdownReport};
use ktrdr_ops::progress::{ProgressState, StepPlan};
use ktrdr_ops::registry::OperationStatus::{self, *};
use ktrdr_ops::registry::{
    CancelRequest, KeyClaim, MemoryRegistry, OperationFilter, OperationList, OperationRecord,
    Registry, RegistryError, TransitionPatch,
};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::time::{sleep, Instant};

fn plan() -> StepPlan {
    StepPlan::new([("fetch", 100)]).unwrap()
}

/// A memory store that counts the terminal writes per operation, and can run a hook as an
/// operation is inserted.
#[derive(Default)]
struct Counting {
    store: MemoryRegistry,
    terminal_writes: Mutex<HashMap<String, usize>>,
    on_insert: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Counting {
    fn terminal_writes(&self, id: &str) -> usize {
        self.terminal_writes
            .lock()
            .unwrap()
            .get(id)
            .copied()
            .unwrap_or(0)
    }
}

impl Registry for Counting {
    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError> {
        self.store.insert(record)?;
        if let Some(hook) = self.on_insert.get() {
            hook();
        }
        Ok(())
    }
    fn insert_idempotent(
        &self,
        record: &OperationRecord,
        key: &str,
        fingerprint: &str,
    ) -> Result<KeyClaim, RegistryError> {
        self.store.insert_idempotent(record, key, fingerprint)
    }
    fn transition(
        &self,
        id: &str,
        expected: &[OperationStatus],
        to: OperationStatus,
        patch: &TransitionPatch,
    ) -> Result<(), RegistryError> {
        self.store.transition(id, expected, to, patch)?;
        if to.is_terminal() {
            *self
                .terminal_writes
                .lock()
                .unwrap()
                .entry(id.to_owned())
                .or_default() += 1;
        }
        Ok(())
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
    fn may_block(&self) -> bool {
        false
    }
}

/// Sends when dropped: tells that a future holding it was dropped (its task aborted).
struct DroppedSignal(Option<oneshot::Sender<()>>);

impl Drop for DroppedSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_out_the_grace_then_aborts_and_records_the_rest_once() {
    let registry = Arc::new(Counting::default());
    let ops = Operations::new(registry.clone(), None);
    // Saves for a second after the cancel, then reports what it kept.
    let saving = ops
        .run("data_load", json!({}), plan(), |ctx| async move {
            let mut segments = 0;
            while !ctx.token.is_cancelled() {
                sleep(Duration::from_millis(100)).await;
                segments += 1;
            }
            sleep(Duration::from_secs(1)).await;
            Ok(json!({ "segments_kept": segments }))
        })
        .unwrap();
    // Stops at once.
    let prompt = ops
        .run("data_load", json!({}), plan(), |ctx| async move {
            let reason = ctx.token.cancelled().await;
            Err(ktrdr_ops::cancel::Cancelled { reason }.into())
        })
        .unwrap();
    // Never looks at its token.
    let (dropped_tx, dropped_rx) = oneshot::channel();
    let stubborn = ops
        .run("training", json!({}), plan(), move |_ctx| async move {
            let _signal = DroppedSignal(Some(dropped_tx));
            loop {
                sleep(Duration::from_millis(100)).await;
            }
        })
        .unwrap();
    sleep(Duration::from_millis(1_050)).await;

    let began = Instant::now();
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        ops.shutdown(Duration::from_secs(5)),
    )
    .await
    .expect("shutdown is bounded by its grace");
    assert_eq!(
        report,
        ShutdownReport {
            stopped: 2,
            forced: 1
        }
    );
    // The grace was waited out for the stubborn one, and no longer.
    assert_eq!(began.elapsed(), Duration::from_secs(5));
    tokio::time::timeout(Duration::from_secs(60), dropped_rx)
        .await
        .expect("the stubborn work was aborted")
        .unwrap();

    let record = |id: &str| registry.get(id).unwrap().unwrap();
    let saved = record(saving.id());
    assert_eq!(
        (saved.status, saved.cancel_reason, saved.result_summary),
        (
            Cancelled,
            Some(CancelReason::Shutdown),
            Some(json!({"segments_kept": 11}))
        )
    );
    assert_eq!(record(prompt.id()).status, Cancelled);
    let forced = record(stubborn.id());
    assert_eq!(
        (forced.status, forced.cancel_reason, forced.result_summary),
        (Cancelled, Some(CancelReason::Shutdown), None)
    );
    let error = forced.error.unwrap();
    assert!(
        error.contains("did not stop within the shutdown grace of 5s"),
        "{error}"
    );
    assert_eq!(stubborn.wait().await.error.as_deref(), Some(error.as_str()));
    for handle in [&saving, &prompt, &stubborn] {
        assert_eq!(registry.terminal_writes(handle.id()), 1, "{}", handle.id());
    }
    assert!(ops.running_ids().is_empty());

    // Nothing new starts, and nothing is recorded for the refusal.
    let before = registry
        .list(&OperationFilter::default())
        .unwrap()
        .total_count;
    let refused = ops.run("data_load", json!({}), plan(), |_| async { Ok(json!({})) });
    assert!(
        matches!(refused, Err(OperationsError::ShuttingDown)),
        "{refused:?}"
    );
    let after = registry
        .list(&OperationFilter::default())
        .unwrap()
        .total_count;
    assert_eq!(after, before);
}

#[tokio::test(start_paused = true)]
async fn shutdown_of_an_idle_runner_returns_at_once() {
    let ops = Operations::new(Arc::new(MemoryRegistry::new()), None);
    let began = Instant::now();
    assert_eq!(
        ops.shutdown(Duration::from_secs(30)).await,
        ShutdownReport::default()
    );
    assert_eq!(began.elapsed(), Duration::ZERO);
}

/// Polls `future` once, expecting it done (a shutdown with nothing running awaits nothing).
fn ready_now<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("expected the future to be ready"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_operation_recorded_while_shutdown_begins_is_recorded_cancelled_not_left_pending() {
    let registry = Arc::new(Counting::default());
    let ops = Operations::new(registry.clone(), None);
    // Shutdown begins between the pending insert and the start of the supervisor.
    let shutting = ops.clone();
    let hook: Box<dyn Fn() + Send + Sync> = Box::new(move || {
        ready_now(shutting.shutdown(Duration::ZERO));
    });
    assert!(registry.on_insert.set(hook).is_ok());
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let refused = ops.run("data_load", json!({}), plan(), move |_| async move {
        flag.store(true, Ordering::SeqCst);
        Ok(json!({}))
    });
    assert!(
        matches!(refused, Err(OperationsError::ShuttingDown)),
        "{refused:?}"
    );
    let list = registry.list(&OperationFilter::default()).unwrap();
    let [record] = list.operations.as_slice() else {
        panic!("one record expected: {list:?}");
    };
    assert_eq!(
        (
            record.status,
            record.cancel_reason.clone(),
            record.started_at
        ),
        (Cancelled, Some(CancelReason::Shutdown), None)
    );
    assert!(record.error.as_deref().unwrap().contains("shutting down"));
    sleep(Duration::from_secs(1)).await;
    assert!(!ran.load(Ordering::SeqCst));
    assert!(ops.running_ids().is_empty());
}
