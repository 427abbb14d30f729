//! The task that owns one operation's lifecycle, from `pending` to its terminal status.
//!
//! Invariants:
//! 1. The terminal status is written here and nowhere else, once, with a compare-and-set; the
//!    only other writers are [`mark_cancelling`] (to `cancelling`, from here or
//!    `Operations::cancel`), `Operations::cancel` in another runner (to `cancelling`, with the
//!    reason, without the token: [`first_cancel_reason`] takes that reason for the token),
//!    and `Registry::interrupt_dead_owners` or a cancel finding the owner dead (to
//!    `interrupted`, only once this process is dead).
//! 2. `cancelling` turns into `cancelled` only after the work task has ended (its `JoinHandle`
//!    resolved), so "cancelled" means "stopped"; the one exception is shutdown's abort of work
//!    that outlived its grace, recorded with an error that says so.
//! 3. Once the token is cancelled, any ending except a panic is `cancelled`: a late success
//!    keeps its summary as what was kept, a late error is kept as the error.
//! 4. The registration (and so the id in the coordinator) and the live handle live until the
//!    terminal status is written, and no longer than the outcome is unpublished: a cancel
//!    racing the end either lands or sees the terminal status, and whoever has seen the
//!    outcome finds no live handle.
//! 5. Every registry and ETA-history call made here goes through [`off_worker`] (tokio's
//!    blocking pool, unless the store is in memory) and is awaited before the next one, so one
//!    operation's writes happen in order and a write waiting for another process's database
//!    lock (up to the busy timeout) never holds a runtime worker thread.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinError;
use tokio::time::Instant;

use super::history;
use super::live::Force;
use super::runner::Inner;
use super::{OperationContext, OperationError, OperationOutcome};
use crate::cancel::{CancelReason, CancellationToken, Registration};
use crate::eta::EtaKey;
use crate::progress::ProgressHandle;
use crate::registry::OperationStatus::{self, *};
use crate::registry::{Registry, RegistryError, TransitionPatch};

/// Progress reaches the registry at most this often (plus the final state), so a chatty
/// operation costs the database a few writes per second, not one per update.
pub(super) const PERSIST_INTERVAL: Duration = Duration::from_millis(250);

/// Everything the supervisor needs besides the work.
pub(super) struct Supervised {
    pub(super) registration: Registration,
    pub(super) progress: ProgressHandle,
    pub(super) eta_key: Option<EtaKey>,
    pub(super) metadata: Value,
    pub(super) outcome: watch::Sender<Option<OperationOutcome>>,
    /// Shutdown's order to abort work that outlived the grace.
    pub(super) force: oneshot::Receiver<Force>,
}

/// How the wait for the work ended.
enum WorkEnd {
    /// The work task ended (returned, panicked, or was aborted by its runtime).
    Joined(Result<Result<Value, OperationError>, JoinError>),
    /// Shutdown aborted it after the grace.
    Aborted { grace: Duration },
}

/// How the work ended, before it is written down.
enum Ending {
    Completed(Value),
    Failed {
        message: String,
        partial: Option<Value>,
    },
    Cancelled {
        reason: CancelReason,
        kept: Option<Value>,
        error: Option<String>,
    },
}

impl Ending {
    fn failed(message: String) -> Self {
        Ending::Failed {
            message,
            partial: None,
        }
    }
}

pub(super) async fn supervise<F, Fut>(inner: Arc<Inner>, mut op: Supervised, work: F)
where
    F: FnOnce(OperationContext) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, OperationError>> + Send + 'static,
{
    let id = op.registration.id().to_owned();
    let token = op.registration.token().clone();
    let mut took = None;
    let start = transition(&inner, &id, &[Pending], Running, TransitionPatch::default()).await;
    let ending = match start {
        Ok(()) => {
            let progress = op.progress.clone();
            let ctx = OperationContext {
                id: id.clone(),
                token: token.clone(),
                progress,
            };
            let started = Instant::now();
            let work = tokio::spawn(async move { work(ctx).await });
            let mut first_reason = None;
            let end = watch_work(
                &inner,
                &id,
                &token,
                &op.progress,
                &mut op.force,
                &mut first_reason,
                work,
            )
            .await;
            took = Some(started.elapsed());
            classify(end, first_reason.or_else(|| token.reason()))
        }
        // Cancelled before it started: the work never runs.
        Err(RegistryError::Conflict {
            actual: Cancelling, ..
        }) => {
            let reason = first_cancel_reason(&inner, &id, &token).await;
            Ending::Cancelled {
                reason,
                kept: None,
                error: None,
            }
        }
        Err(error) => Ending::failed(format!("could not record the start: {error}")),
    };
    let outcome = record_ending(&inner, &id, &token, &op.progress, ending).await;
    drop(op.registration);
    inner.live.remove(&id);
    // Only a recorded success teaches the estimator; a cancelled or failed run's duration says
    // nothing about how long the work takes.
    if let (Completed, Some(history), Some(key), Some(took)) =
        (outcome.status, &inner.history, op.eta_key, took)
    {
        let history = Arc::clone(history);
        let metadata = op.metadata;
        let recorded = off_worker(history.may_block(), move || {
            history::record_success(history.as_ref(), &key, took, &metadata)
        })
        .await;
        if recorded.is_none() {
            tracing::warn!(%id, "runtime shutting down; the run's duration was not learned");
        }
    }
    op.outcome.send_replace(Some(outcome));
}

/// Waits for the work while persisting progress (throttled), reflecting a cancel as
/// `cancelling` as soon as the token fires, and aborting the work when shutdown says so.
/// A cancel found already requested in the registry leaves its reason in `first_reason`.
async fn watch_work(
    inner: &Inner,
    id: &str,
    token: &CancellationToken,
    progress: &ProgressHandle,
    force: &mut oneshot::Receiver<Force>,
    first_reason: &mut Option<CancelReason>,
    mut work: tokio::task::JoinHandle<Result<Value, OperationError>>,
) -> WorkEnd {
    let mut updates = progress.subscribe();
    let mut updates_open = true;
    let mut force_open = true;
    let mut cancel_seen = false;
    let mut dirty = false;
    let mut next_persist = Instant::now();
    loop {
        tokio::select! {
            biased;
            result = &mut work => return WorkEnd::Joined(result),
            // Only shutdown sends, after cancelling the token and waiting out the grace. The
            // work stops at its next await; it is not waited for, so work stuck in a blocking
            // call cannot hold up the record.
            order = &mut *force, if force_open => match order {
                Ok(Force { grace, aborted }) => {
                    work.abort();
                    let _ = aborted.send(());
                    return WorkEnd::Aborted { grace };
                }
                Err(_) => force_open = false,
            },
            reason = token.cancelled(), if !cancel_seen => {
                cancel_seen = true;
                let patch = cancelling(reason);
                let result = transition(inner, id, &[Pending, Running], Cancelling, patch).await;
                if let Err(RegistryError::Conflict { actual: Cancelling, .. }) = result {
                    // Requested before this token fired (by another runner, say): that
                    // request's reason came first.
                    *first_reason = Some(first_cancel_reason(inner, id, token).await);
                }
                note_cancelling(id, result);
            }
            // While a write is already due, further updates change nothing: the write reads
            // the latest state, so the task need not wake for each one.
            changed = updates.changed(), if updates_open && !dirty => match changed {
                Ok(()) => dirty = true,
                Err(_) => updates_open = false,
            },
            () = tokio::time::sleep_until(next_persist), if dirty => {}
        }
        if dirty && Instant::now() >= next_persist {
            dirty = false;
            next_persist = Instant::now() + PERSIST_INTERVAL;
            let latest = updates.latest();
            let owned_id = id.to_owned();
            let stored = registry_call(inner, id, move |registry| {
                registry.update_progress(&owned_id, &latest)
            })
            .await;
            if let Err(error) = stored {
                tracing::warn!(%id, %error, "could not persist progress");
            }
        }
    }
}

/// `running → cancelling`, called inline: for `Operations::cancel`, a synchronous API whose
/// caller chooses the thread (the supervisor goes through [`transition`] instead).
pub(super) fn mark_cancelling(inner: &Inner, id: &str, reason: CancelReason) {
    let result =
        inner
            .registry
            .transition(id, &[Pending, Running], Cancelling, &cancelling(reason));
    note_cancelling(id, result);
}

fn cancelling(reason: CancelReason) -> TransitionPatch {
    TransitionPatch {
        cancel_reason: Some(reason),
        ..TransitionPatch::default()
    }
}

/// A conflict means someone else (`Operations::cancel` or the supervisor) already wrote it.
fn note_cancelling(id: &str, result: Result<(), RegistryError>) {
    match result {
        Ok(()) | Err(RegistryError::Conflict { .. }) => {}
        Err(error) => tracing::error!(%id, %error, "could not record the cancel request"),
    }
}

/// The reason of a `cancelling` found in the registry: the one stored with the first request
/// (by this runner's `Operations::cancel` or supervisor, or by another runner, which had no
/// token to cancel), else the token's. The token is cancelled with it if it was not yet, so
/// the work stops and the outcome, the live progress and the record agree.
async fn first_cancel_reason(inner: &Inner, id: &str, token: &CancellationToken) -> CancelReason {
    let owned_id = id.to_owned();
    let stored = registry_call(inner, id, move |registry| registry.get(&owned_id)).await;
    let requested = match stored {
        Ok(record) => record.and_then(|r| r.cancel_reason),
        Err(error) => {
            tracing::warn!(%id, %error, "could not read the requested cancel reason");
            None
        }
    };
    match requested {
        Some(reason) => {
            token.cancel(reason.clone());
            reason
        }
        None => {
            token.cancel(CancelReason::User);
            token.reason().unwrap_or(CancelReason::User)
        }
    }
}

/// Runs `call` on tokio's blocking pool and waits for it when it `may_block`: registry and
/// history calls may wait up to the database's busy timeout for another process's lock, which
/// on a worker thread would stall every task scheduled there (all of them, on a current-thread
/// runtime). In-memory stores run inline: the hop would cost more than the call.
/// `None` if the runtime shut down before the call ran.
pub(super) async fn off_worker<T, F>(may_block: bool, call: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if !may_block {
        return Some(call());
    }
    match tokio::task::spawn_blocking(call).await {
        Ok(value) => Some(value),
        // A panicking store panics the supervisor, as it did when it was called inline.
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => None,
    }
}

/// One registry call for operation `id` through [`off_worker`].
async fn registry_call<T, F>(inner: &Inner, id: &str, call: F) -> Result<T, RegistryError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Registry) -> Result<T, RegistryError> + Send + 'static,
{
    let registry = Arc::clone(&inner.registry);
    off_worker(registry.may_block(), move || call(registry.as_ref()))
        .await
        .unwrap_or_else(|| Err(RegistryError::NotRun { id: id.to_owned() }))
}

/// [`Registry::transition`] through [`off_worker`].
async fn transition(
    inner: &Inner,
    id: &str,
    expected: &[OperationStatus],
    to: OperationStatus,
    patch: TransitionPatch,
) -> Result<(), RegistryError> {
    let (owned_id, expected) = (id.to_owned(), expected.to_vec());
    registry_call(inner, id, move |registry| {
        registry.transition(&owned_id, &expected, to, &patch)
    })
    .await
}

/// How the work ended, given the reason it was cancelled for, if it was.
fn classify(end: WorkEnd, cancelled: Option<CancelReason>) -> Ending {
    let result = match end {
        WorkEnd::Joined(result) => result,
        WorkEnd::Aborted { grace } => {
            return Ending::Cancelled {
                reason: cancelled.unwrap_or(CancelReason::Shutdown),
                kept: None,
                error: Some(format!(
                    "the work did not stop within the shutdown grace of {grace:?} and was aborted"
                )),
            }
        }
    };
    match (result, cancelled) {
        (Ok(Ok(summary)), None) => Ending::Completed(summary),
        (Ok(Ok(summary)), Some(reason)) => Ending::Cancelled {
            reason,
            kept: Some(summary),
            error: None,
        },
        (Ok(Err(OperationError::Cancelled(c))), reason) => Ending::Cancelled {
            reason: reason.unwrap_or(c.reason),
            kept: None,
            error: None,
        },
        (Ok(Err(OperationError::Failed { message, partial })), None) => {
            Ending::Failed { message, partial }
        }
        (Ok(Err(OperationError::Failed { message, partial })), Some(reason)) => Ending::Cancelled {
            reason,
            kept: partial,
            error: Some(message),
        },
        (Err(join), _) if join.is_panic() => {
            Ending::failed(format!("panicked: {}", panic_message(join.into_panic())))
        }
        (Err(_), _) => Ending::failed("the work task was aborted".to_owned()),
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "(no message)".to_owned(), |s| (*s).to_owned()),
    }
}

/// Writes the terminal status (exactly once) and returns the outcome as recorded.
async fn record_ending(
    inner: &Inner,
    id: &str,
    token: &CancellationToken,
    progress: &ProgressHandle,
    ending: Ending,
) -> OperationOutcome {
    let (status, expected, patch): (OperationStatus, &[OperationStatus], TransitionPatch) =
        match ending {
            // Completed only once the write wins (below): a cancel may still overtake it.
            Ending::Completed(summary) => (
                Completed,
                &[Running],
                TransitionPatch {
                    result_summary: Some(summary),
                    ..Default::default()
                },
            ),
            Ending::Failed { message, partial } => {
                progress.fail(message.clone());
                (
                    Failed,
                    &[Pending, Running, Cancelling],
                    TransitionPatch {
                        error: Some(message),
                        result_summary: partial,
                        ..Default::default()
                    },
                )
            }
            Ending::Cancelled {
                reason,
                kept,
                error,
            } => {
                progress.mark_cancelled(reason.to_string());
                (
                    Cancelled,
                    &[Pending, Running, Cancelling],
                    TransitionPatch {
                        cancel_reason: Some(reason),
                        result_summary: kept,
                        error,
                        ..Default::default()
                    },
                )
            }
        };
    let mut patch = TransitionPatch {
        progress: Some(if status == Completed {
            progress.snapshot_completed()
        } else {
            progress.snapshot()
        }),
        ..patch
    };
    let mut status = status;
    let mut result = transition(inner, id, expected, status, patch.clone()).await;
    if let Err(RegistryError::Conflict {
        actual: Cancelling, ..
    }) = result
    {
        // A cancel landed between the work's success and this write: the operation was asked to
        // stop before it was recorded as done, so it ends cancelled, keeping what it produced.
        status = Cancelled;
        patch.cancel_reason = Some(first_cancel_reason(inner, id, token).await);
        progress.mark_cancelled(
            patch
                .cancel_reason
                .as_ref()
                .map_or_else(|| "cancelled".to_owned(), ToString::to_string),
        );
        patch.progress = Some(progress.snapshot());
        result = transition(inner, id, &[Cancelling], Cancelled, patch.clone()).await;
    }
    if let Err(error) = result {
        tracing::error!(%id, %status, %error, "could not record the end of the operation");
        // Someone else wrote a terminal status (only `interrupt_dead_owners` may, wrongly
        // believing this process dead): report what the registry says, not what was meant.
        if let RegistryError::Conflict { actual, .. } = error {
            if actual.is_terminal() {
                status = actual;
            }
        }
    }
    // The live progress ends as the operation did (a completion only now that it is written).
    if !progress.is_finished() {
        if status == Completed {
            progress.complete();
        } else {
            progress.fail(format!("recorded as {status}"));
        }
    }
    OperationOutcome {
        id: id.to_owned(),
        status,
        result_summary: patch.result_summary,
        error: patch.error,
        cancel_reason: patch.cancel_reason,
    }
}
