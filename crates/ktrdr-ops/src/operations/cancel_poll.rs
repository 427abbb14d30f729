//! How a cancel requested through the registry reaches the runner that runs the operation.
//!
//! [`Operations::cancel`](super::Operations::cancel) of an operation another runner (another
//! process, usually) runs can only write `cancelling` and the reason into the registry. Each
//! runner therefore polls: while it runs at least one operation, one task asks the registry
//! every [`POLL_INTERVAL`] which of its not yet cancelled operations someone moved to
//! `cancelling` ([`Registry::cancel_requests`](crate::registry::Registry::cancel_requests),
//! one query for all of them), and cancels their tokens with the stored reasons. From there
//! the supervisor records `cancelled` as for any cancel.
//!
//! # Invariants
//!
//! 1. At most one poll task per runner, and one exactly while the runner's active count is
//!    above zero (up to one interval after it drops to zero): `Inner::polling` says whether the
//!    task runs, and both starting it ([`ensure_polling`], after the count was raised) and its
//!    decision to stop (on reading a zero count) happen under that mutex, so a run that starts
//!    while the task stops either is seen by it or starts a new one.
//! 2. An idle runner makes no query: a tick with no uncancelled operation asks nothing.
//!
//! # Lock order
//!
//! 1. `Inner::polling`, then the `active` channel's value (read under it). Nothing else is
//!    taken while `polling` is held.

use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::runner::Inner;
use super::supervisor::off_worker;
use crate::cancel::CancelReason;
use crate::registry::RegistryError;

/// How often a busy runner asks the registry for cancel requests: a cancel from another
/// process reaches the work within this (plus one query) of being recorded.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Whether a runner's poll task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Polling {
    Idle,
    Running,
}

/// Starts the poll task on `runtime` unless it runs already; called after raising the active
/// count.
pub(super) fn ensure_polling(inner: &Arc<Inner>, runtime: &tokio::runtime::Handle) {
    let mut polling = lock(inner);
    if *polling == Polling::Running {
        return;
    }
    *polling = Polling::Running;
    drop(polling);
    let stopped = StoppedGuard {
        inner: Arc::clone(inner),
        armed: true,
    };
    runtime.spawn(poll_while_busy(stopped));
}

/// Marks the task stopped if it is dropped before it decided to stop (its runtime shut down),
/// so the next run on another runtime starts a new one.
struct StoppedGuard {
    inner: Arc<Inner>,
    armed: bool,
}

impl Drop for StoppedGuard {
    fn drop(&mut self) {
        if self.armed {
            *lock(&self.inner) = Polling::Idle;
        }
    }
}

async fn poll_while_busy(mut guard: StoppedGuard) {
    let inner = Arc::clone(&guard.inner);
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        {
            let mut polling = lock(&inner);
            if *inner.active.borrow() == 0 {
                *polling = Polling::Idle;
                guard.armed = false;
                return;
            }
        }
        match poll_once(&inner).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("cancel requests are read from the registry again");
            }
            Ok(()) => {}
            // One warning per run of failures, not four a second while the database is away.
            Err(error) if failing => tracing::debug!(%error, "cancel requests still unreadable"),
            Err(error) => {
                failing = true;
                tracing::warn!(
                    %error,
                    "could not read cancel requests from the registry; cancels from other \
                     processes wait until it answers (retrying every 250 ms)"
                );
            }
        }
    }
}

/// One query for the uncancelled operations of this runner; cancels those requested.
async fn poll_once(inner: &Arc<Inner>) -> Result<(), RegistryError> {
    let watched = inner.live.uncancelled_ids();
    if watched.is_empty() {
        return Ok(());
    }
    let registry = Arc::clone(&inner.registry);
    let asked = off_worker(registry.may_block(), move || {
        registry.cancel_requests(&watched)
    })
    .await;
    let requests = match asked {
        Some(requests) => requests?,
        // The runtime is shutting down, and the operations with it.
        None => return Ok(()),
    };
    for request in requests {
        let Some(handle) = inner.live.get(&request.id) else {
            continue;
        };
        let reason = request.reason.unwrap_or(CancelReason::User);
        tracing::info!(id = %request.id, %reason, "cancel requested through the registry");
        handle.token.cancel(reason);
    }
    Ok(())
}

fn lock(inner: &Inner) -> MutexGuard<'_, Polling> {
    // One assignment per critical section: a poisoned flag is still meaningful.
    inner.polling.lock().unwrap_or_else(PoisonError::into_inner)
}
