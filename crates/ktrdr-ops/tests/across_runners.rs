//! Black-box tests of what reaches an operation from outside the runner that runs it: cancels
//! requested through the registry (by another runner on the same database, as another process
//! would), the poll that carries them, and the live handles a server follows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::operations::{OperationContext, OperationError, Operations};
use ktrdr_ops::progress::{ProgressState, StepPlan};
use ktrdr_ops::registry::OperationStatus::{self, *};
use ktrdr_ops::registry::{
    CancelRequest, KeyClaim, MemoryRegistry, OperationFilter, OperationList, OperationRecord,
    Registry, RegistryError, SqliteRegistry, TransitionPatch,
};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::time::sleep;

fn plan() -> StepPlan {
    StepPlan::new([("fetch", 100)]).unwrap()
}

/// One poll of the runner plus a millisecond: by then a stored request has reached the token.
const ONE_POLL: Duration = Duration::from_millis(251);

/// A generous bound for real-time waits on an outcome, so a broken build fails instead of
/// hanging; the tests never assert on how long anything took in real time.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Work that fetches a segment every 10 ms, says when it has started, and on cancel returns
/// what it kept.
async fn segments_until_cancelled(
    ctx: OperationContext,
    started: oneshot::Sender<()>,
) -> Result<Value, OperationError> {
    let mut segments = 0u32;
    let mut started = Some(started);
    while !ctx.token.is_cancelled() {
        segments += 1;
        if let Some(started) = started.take() {
            let _ = started.send(());
        }
        tokio::select! {
            () = sleep(Duration::from_millis(10)) => {}
            _ = ctx.token.cancelled() => {}
        }
    }
    Ok(json!({ "segments_kept": segments }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_another_runner_on_the_database_stops_the_work_and_keeps_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ktrdr.db");
    let owner = Operations::new(Arc::new(SqliteRegistry::open(&path).unwrap()), None);
    let elsewhere = Operations::new(Arc::new(SqliteRegistry::open(&path).unwrap()), None);

    let (started_tx, started_rx) = oneshot::channel();
    let handle = owner
        .run("data_load", json!({}), plan(), move |ctx| {
            segments_until_cancelled(ctx, started_tx)
        })
        .unwrap();
    started_rx.await.unwrap();

    // The other runner has no token for it: the request goes through the database.
    assert!(elsewhere.live(handle.id()).is_none());
    let reason = CancelReason::Remote("ktrdr ops cancel".into());
    let id = handle.id().to_owned();
    let canceller = elsewhere.clone();
    let asked = reason.clone();
    let ack = tokio::task::spawn_blocking(move || canceller.cancel(&id, asked))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ack.status, &ack.reason), (Cancelling, &reason));

    let outcome = tokio::time::timeout(HANG_GUARD, handle.wait())
        .await
        .expect("the owner acts on the stored request");
    assert_eq!(outcome.status, Cancelled);
    assert_eq!(outcome.cancel_reason.as_ref(), Some(&reason));
    let kept = outcome.result_summary.clone().unwrap();
    assert!(kept["segments_kept"].as_u64().unwrap() >= 1, "{kept}");
    assert_eq!(handle.token().reason().as_ref(), Some(&reason));

    let record = elsewhere.registry().get(handle.id()).unwrap().unwrap();
    assert_eq!(
        (record.status, record.cancel_reason, record.result_summary),
        (Cancelled, Some(reason), Some(kept))
    );
    assert!(owner.live(handle.id()).is_none());
}

/// A memory store that counts the runner's polls and can stage a cancel request exactly
/// between the work's success and the `completed` write.
#[derive(Default)]
struct Spy {
    store: MemoryRegistry,
    /// The number of ids asked about, per poll.
    polls: Mutex<Vec<usize>>,
    /// Stored as a request from elsewhere (no token) just before a `completed` write.
    request_before_completion: Mutex<Option<CancelReason>>,
    /// How many of the next polls fail, as a database that is away would.
    failing_polls: Mutex<usize>,
}

impl Spy {
    fn polls(&self) -> Vec<usize> {
        self.polls.lock().unwrap().clone()
    }
}

impl Registry for Spy {
    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError> {
        self.store.insert(record)
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
        if to == Completed {
            if let Some(reason) = self.request_before_completion.lock().unwrap().take() {
                let request = TransitionPatch {
                    cancel_reason: Some(reason),
                    ..TransitionPatch::default()
                };
                self.store
                    .transition(id, &[Running], Cancelling, &request)?;
            }
        }
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
        self.polls.lock().unwrap().push(ids.len());
        let mut failing = self.failing_polls.lock().unwrap();
        if *failing > 0 {
            *failing -= 1;
            return Err(RegistryError::NotRun { id: ids[0].clone() });
        }
        drop(failing);
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

fn two_runners() -> (Operations, Operations, Arc<Spy>) {
    let spy = Arc::new(Spy::default());
    (
        Operations::new(spy.clone(), None),
        Operations::new(spy.clone(), None),
        spy,
    )
}

#[tokio::test(start_paused = true)]
async fn a_stored_request_reaches_the_work_within_one_poll() {
    let (owner, elsewhere, _spy) = two_runners();
    let (started_tx, started_rx) = oneshot::channel();
    let handle = owner
        .run("data_load", json!({}), plan(), move |ctx| {
            segments_until_cancelled(ctx, started_tx)
        })
        .unwrap();
    started_rx.await.unwrap();
    sleep(Duration::from_millis(1_000)).await;
    assert!(!handle.token().is_cancelled());

    let ack = elsewhere.cancel(handle.id(), CancelReason::User).unwrap();
    assert_eq!(ack.status, Cancelling);
    sleep(ONE_POLL).await;
    assert_eq!(handle.token().reason(), Some(CancelReason::User));
    let outcome = handle.wait().await;
    assert_eq!(
        (outcome.status, outcome.cancel_reason),
        (Cancelled, Some(CancelReason::User))
    );
    // Cancelled about 1 s in, with a segment every 10 ms.
    let kept = outcome.result_summary.unwrap()["segments_kept"]
        .as_u64()
        .unwrap();
    assert!((100..=130).contains(&kept), "{kept}");
}

#[tokio::test(start_paused = true)]
async fn a_local_cancel_after_a_stored_request_keeps_the_first_reason() {
    let (owner, elsewhere, spy) = two_runners();
    let (started_tx, started_rx) = oneshot::channel();
    let handle = owner
        .run("data_load", json!({}), plan(), move |ctx| {
            segments_until_cancelled(ctx, started_tx)
        })
        .unwrap();
    started_rx.await.unwrap();
    let first = CancelReason::Remote("api".into());
    elsewhere.cancel(handle.id(), first.clone()).unwrap();
    // Before the owner's next poll, a Ctrl-C in the owning process.
    let ack = owner.cancel(handle.id(), CancelReason::User).unwrap();
    assert_eq!((ack.status, &ack.reason), (Cancelling, &first));
    let outcome = handle.wait().await;
    assert_eq!(
        (outcome.status, outcome.cancel_reason.as_ref()),
        (Cancelled, Some(&first))
    );
    let record = spy.get(handle.id()).unwrap().unwrap();
    assert_eq!(record.cancel_reason, Some(first));
}

#[tokio::test(start_paused = true)]
async fn one_query_per_poll_for_all_operations_and_none_while_idle() {
    let (owner, _elsewhere, spy) = two_runners();
    let mut handles = Vec::new();
    for _ in 0..20 {
        let handle = owner
            .run("data_load", json!({}), plan(), |ctx| async move {
                let reason = ctx.token.cancelled().await;
                // Saving what was fetched takes a while after a cancel.
                sleep(Duration::from_secs(5)).await;
                Err(OperationError::Cancelled(ktrdr_ops::cancel::Cancelled {
                    reason,
                }))
            })
            .unwrap();
        handles.push(handle);
    }
    sleep(Duration::from_millis(1_100)).await;
    // Polls at 0, 250, 500, 750 and 1000 ms, each about all 20 operations at once.
    assert_eq!(spy.polls(), vec![20; 5]);

    // Cancelled here and still stopping: those are not asked about any more.
    for handle in &handles[..15] {
        handle.token().cancel(CancelReason::User);
    }
    sleep(Duration::from_millis(250)).await;
    assert_eq!(spy.polls()[5..], [5]);

    owner.cancel_all(CancelReason::Shutdown);
    owner.wait_idle().await;
    let polls = spy.polls().len();
    sleep(Duration::from_secs(60)).await;
    assert_eq!(spy.polls().len(), polls, "an idle runner does not poll");

    // A new operation starts the poll again.
    let (started_tx, started_rx) = oneshot::channel();
    let next = owner
        .run("data_load", json!({}), plan(), move |ctx| {
            segments_until_cancelled(ctx, started_tx)
        })
        .unwrap();
    started_rx.await.unwrap();
    sleep(Duration::from_millis(600)).await;
    assert_eq!(spy.polls()[polls..], [1, 1, 1]);
    next.token().cancel(CancelReason::User);
    next.wait().await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_stored_before_the_work_started_means_it_never_runs() {
    let (owner, elsewhere, spy) = two_runners();
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    let handle = owner
        .run("data_load", json!({}), plan(), move |_ctx| async move {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(json!({}))
        })
        .unwrap();
    // On a current-thread runtime the supervisor has not run yet: the record is `pending`.
    let reason = CancelReason::Remote("api".into());
    let ack = elsewhere.cancel(handle.id(), reason.clone()).unwrap();
    assert_eq!((ack.status, &ack.reason), (Cancelling, &reason));
    let outcome = handle.wait().await;
    assert_eq!(
        (outcome.status, outcome.cancel_reason.as_ref()),
        (Cancelled, Some(&reason))
    );
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(handle.token().reason(), Some(reason.clone()));
    let record = spy.get(handle.id()).unwrap().unwrap();
    assert_eq!(
        (record.status, record.cancel_reason),
        (Cancelled, Some(reason))
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_racing_the_completed_write_wins_with_its_stored_reason() {
    let (owner, _elsewhere, spy) = two_runners();
    let reason = CancelReason::Remote("api".into());
    *spy.request_before_completion.lock().unwrap() = Some(reason.clone());
    let handle = owner
        .run("data_load", json!({}), plan(), |_ctx| async move {
            Ok(json!({"fetched_bars": 7}))
        })
        .unwrap();
    let outcome = handle.wait().await;
    assert_eq!(outcome.status, Cancelled);
    assert_eq!(outcome.cancel_reason.as_ref(), Some(&reason));
    assert_eq!(outcome.result_summary, Some(json!({"fetched_bars": 7})));
    let record = spy.get(handle.id()).unwrap().unwrap();
    assert_eq!(
        (record.status, record.cancel_reason),
        (Cancelled, Some(reason))
    );
}

#[tokio::test(start_paused = true)]
async fn live_handles_follow_the_operations_this_runner_runs_and_only_those() {
    let (owner, elsewhere, _spy) = two_runners();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let handle = owner
        .run("data_load", json!({}), plan(), |ctx| async move {
            ctx.progress.set_sub_progress(1, 4);
            let _ = go_rx.await;
            ctx.progress.set_sub_progress(3, 4);
            sleep(Duration::from_millis(10)).await;
            Ok(json!({"n": 1}))
        })
        .unwrap();
    let other = owner
        .run("training", json!({}), plan(), |ctx| async move {
            ctx.token.cancelled().await;
            Ok(json!({}))
        })
        .unwrap();
    let mut expected = vec![handle.id().to_owned(), other.id().to_owned()];
    expected.sort();
    assert_eq!(owner.running_ids(), expected);
    assert!(elsewhere.running_ids().is_empty());
    assert!(elsewhere.live(handle.id()).is_none());

    let live = owner.live(handle.id()).unwrap();
    assert_eq!(live.id(), handle.id());
    let mut updates = live.progress().subscribe();
    sleep(Duration::from_millis(1)).await;
    assert_eq!(updates.latest().percent, 25.0);
    go_tx.send(()).unwrap();
    updates.changed().await.unwrap();
    assert_eq!(updates.latest().percent, 75.0);

    // The live handle sees the outcome, then the runner forgets it.
    assert_eq!(live.wait().await.status, Completed);
    assert!(owner.live(handle.id()).is_none());
    assert_eq!(owner.running_ids(), vec![other.id().to_owned()]);
    other.token().cancel(CancelReason::User);
    other.wait().await;
    assert!(owner.running_ids().is_empty());
}

/// Log lines written while a test runs on this thread (the tests' runtime is current-thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures the warnings logged on this thread until the guard drops.
    fn warnings() -> (Captured, tracing::subscriber::DefaultGuard) {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_registry_is_warned_about_once_per_run_of_failures() {
    let (logs, _guard) = Captured::warnings();
    let (owner, elsewhere, spy) = two_runners();
    *spy.failing_polls.lock().unwrap() = 8;
    let (started_tx, started_rx) = oneshot::channel();
    let handle = owner
        .run("data_load", json!({}), plan(), move |ctx| {
            segments_until_cancelled(ctx, started_tx)
        })
        .unwrap();
    started_rx.await.unwrap();
    let warning = "could not read cancel requests";
    // Eight failed polls, then one that answers.
    sleep(Duration::from_millis(2_100)).await;
    assert_eq!(spy.polls().len(), 9);
    assert_eq!(logs.count(warning), 1);
    // A new run of failures is news again.
    *spy.failing_polls.lock().unwrap() = 2;
    sleep(Duration::from_millis(1_000)).await;
    assert_eq!(logs.count(warning), 2);
    // And cancels get through once the registry answers.
    elsewhere.cancel(handle.id(), CancelReason::User).unwrap();
    assert_eq!(handle.wait().await.status, Cancelled);
}
