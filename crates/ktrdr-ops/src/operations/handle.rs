//! The caller's side of a running operation.

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::cancel::{CancelReason, CancellationToken};
use crate::progress::ProgressHandle;
use crate::registry::OperationStatus;

/// How an operation ended, as recorded in the registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationOutcome {
    /// The operation id.
    pub id: String,
    /// A terminal status.
    pub status: OperationStatus,
    /// What the work returned (for a cancelled operation: what it reported as kept).
    pub result_summary: Option<Value>,
    /// The failure, or the error a cancelled operation stopped with.
    pub error: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<CancelReason>,
}

/// Returned by [`Operations::run`](super::Operations::run) (and
/// [`Operations::live`](super::Operations::live) while the operation runs): follow, cancel or
/// await one operation. Cheap to clone; dropping it does not cancel the operation.
#[derive(Debug, Clone)]
pub struct OperationHandle {
    pub(super) id: String,
    pub(super) token: CancellationToken,
    pub(super) progress: ProgressHandle,
    pub(super) outcome: watch::Receiver<Option<OperationOutcome>>,
}

impl OperationHandle {
    /// The operation id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The operation's token. Cancelling it has the same effect as
    /// [`Operations::cancel`](super::Operations::cancel).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The operation's progress (subscribe for live updates).
    pub fn progress(&self) -> &ProgressHandle {
        &self.progress
    }

    /// Waits until the operation has ended and its terminal status is recorded.
    pub async fn wait(&self) -> OperationOutcome {
        let mut outcome = self.outcome.clone();
        let recorded = outcome
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|done| done.clone());
        // `None`: the supervising task was dropped (its runtime shut down) before recording an
        // outcome; the registry will show the operation interrupted on next open.
        recorded.unwrap_or_else(|| self.vanished())
    }

    /// The outcome if the operation has ended and its terminal status is recorded, without
    /// waiting.
    pub fn outcome(&self) -> Option<OperationOutcome> {
        self.outcome.borrow().clone()
    }

    fn vanished(&self) -> OperationOutcome {
        OperationOutcome {
            id: self.id.clone(),
            status: OperationStatus::Interrupted,
            result_summary: None,
            error: Some("the runtime stopped before the operation finished".to_owned()),
            cancel_reason: self.token.reason(),
        }
    }
}
