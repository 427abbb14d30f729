//! [`Operations::cancel`]: stopping an operation, whoever runs it.

use super::runner::Inner;
use super::supervisor::mark_cancelling;
use super::{Operations, OperationsError};
use crate::cancel::{CancelReason, CancellationToken};
use crate::registry::OperationStatus::{self, *};
use crate::registry::{owner_ended, Liveness, OperationRecord, RegistryError, TransitionPatch};

/// The answer to an accepted cancel.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelAck {
    /// The operation.
    pub id: String,
    /// `cancelling` (the work has not stopped yet) or `cancelled` (it already has).
    pub status: OperationStatus,
    /// The reason that took effect (the first one given, if it was cancelled twice).
    pub reason: CancelReason,
}

impl Operations {
    /// Asks operation `id` to stop, whoever runs it: its status becomes `cancelling` until the
    /// work has stopped, then `cancelled` with the reason and what the work kept.
    ///
    /// - Run by this runner: its token is cancelled at once.
    /// - Run by another runner or process: the request is stored in the registry
    ///   (`pending`/`running` → `cancelling`, with the reason), and the runner that owns the
    ///   operation cancels its token within a quarter of a second (see [`Operations`]).
    /// - Its owner is provably dead ([`Liveness::Dead`]): nothing can stop it any more, so it
    ///   is marked `interrupted` and the answer is
    ///   [`OperationsError::AlreadyFinished`]` { status: Interrupted }`.
    ///
    /// Refused with [`OperationsError::AlreadyFinished`] for an operation that has ended, and
    /// `NotFound` for an unknown id. Cancelling an operation already being cancelled is
    /// accepted and keeps the first reason.
    ///
    /// Synchronous: it reads and writes the registry on the calling thread, which may wait up to
    /// the database's busy timeout; from async code on a small runtime, call it through
    /// `tokio::task::spawn_blocking`.
    pub fn cancel(&self, id: &str, reason: CancelReason) -> Result<CancelAck, OperationsError> {
        let record = self.record(id)?;
        if record.status.is_terminal() {
            return Err(finished(id, record.status));
        }
        // The token first, then the status: whoever writes `cancelling` (this call or the
        // supervisor reacting to the token) finds the token already cancelled, so the reason
        // in the registry is the token's first-wins reason.
        match self.inner.coordinator.token(id) {
            Some(token) => cancel_own(&self.inner, id, &token, reason),
            // Not ours, or it ended in between (then the compare-and-set below says so).
            None if record.owner.liveness() == Liveness::Dead => self.interrupt(&record),
            None => self.request_cancel(id, reason),
        }
    }

    /// Cancels every operation this runner has running (for shutdown); returns how many were
    /// accepted. Operations started afterwards are not affected.
    pub fn cancel_all(&self, reason: CancelReason) -> usize {
        let ids = self.inner.coordinator.status().operations;
        ids.into_iter()
            .filter(|(id, _)| self.cancel(id, reason.clone()).is_ok())
            .count()
    }

    fn record(&self, id: &str) -> Result<OperationRecord, OperationsError> {
        self.inner
            .registry
            .get(id)?
            .ok_or_else(|| OperationsError::NotFound { id: id.to_owned() })
    }

    /// Stores the request for the runner that owns `id` to act on.
    fn request_cancel(&self, id: &str, reason: CancelReason) -> Result<CancelAck, OperationsError> {
        let patch = TransitionPatch {
            cancel_reason: Some(reason.clone()),
            ..TransitionPatch::default()
        };
        let requested = self
            .inner
            .registry
            .transition(id, &[Pending, Running], Cancelling, &patch);
        match requested {
            Ok(()) => Ok(CancelAck {
                id: id.to_owned(),
                status: Cancelling,
                reason,
            }),
            Err(RegistryError::Conflict { .. }) => {
                // Already cancelling (the first reason stands) or ended meanwhile.
                let record = self.record(id)?;
                match record.status {
                    Cancelling => Ok(CancelAck {
                        id: id.to_owned(),
                        status: Cancelling,
                        reason: record.cancel_reason.unwrap_or(reason),
                    }),
                    status => Err(finished(id, status)),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Marks the operation of a dead owner `interrupted`, as the registry's sweep would.
    fn interrupt(&self, record: &OperationRecord) -> Result<CancelAck, OperationsError> {
        let id = record.id.as_str();
        let patch = owner_ended(&record.owner, record.status);
        let registry = &self.inner.registry;
        match registry.transition(id, &OperationStatus::ACTIVE, Interrupted, &patch) {
            Ok(()) => {
                tracing::warn!(%id, pid = record.owner.pid, "owner process ended; marked interrupted");
                Err(finished(id, Interrupted))
            }
            Err(RegistryError::Conflict { actual, .. }) => Err(finished(id, actual)),
            Err(error) => Err(error.into()),
        }
    }
}

/// Cancels the token of an operation this runner runs and reflects it in the registry.
fn cancel_own(
    inner: &Inner,
    id: &str,
    token: &CancellationToken,
    reason: CancelReason,
) -> Result<CancelAck, OperationsError> {
    token.cancel(reason.clone());
    let reason = token.reason().unwrap_or(reason);
    mark_cancelling(inner, id, reason.clone());
    let record = inner
        .registry
        .get(id)?
        .ok_or_else(|| OperationsError::NotFound { id: id.to_owned() })?;
    match record.status {
        // A request stored before this token fired (by another runner) came first.
        Cancelling | Cancelled => Ok(CancelAck {
            id: id.to_owned(),
            status: record.status,
            reason: record.cancel_reason.unwrap_or(reason),
        }),
        // It completed (or failed) before the work could see the token.
        status => Err(finished(id, status)),
    }
}

fn finished(id: &str, status: OperationStatus) -> OperationsError {
    OperationsError::AlreadyFinished {
        id: id.to_owned(),
        status,
    }
}
