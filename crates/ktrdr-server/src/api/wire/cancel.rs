//! The cancel of an operation on the wire: the optional body of `DELETE /operations/{id}` (and
//! `POST /operations/{id}/cancel`) and its answer.

use chrono::{DateTime, Utc};
use ktrdr_ops::registry::OperationStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The optional body of a cancel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancelBody {
    /// Why, in the client's words; recorded as the operation's cancel reason
    /// (`cancelled remotely: <reason>`). None or empty: cancelled by the user.
    #[serde(default)]
    pub reason: Option<String>,
    /// Accepted for the Python clients and ignored: a cancel always asks the work to stop and
    /// reports `cancelling` until it has, never `cancelled` before.
    #[serde(default)]
    pub force: bool,
}

/// The answer to an accepted cancel (`data` of the envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CancelResult {
    /// Always `true` (a refused cancel answers 400/404/409 in the error shape).
    pub success: bool,
    /// The operation.
    pub operation_id: String,
    /// `cancelling` while the work has not stopped yet (follow `GET /operations/{id}` until
    /// `cancelled`), or `cancelled` once it has.
    #[schema(value_type = String)]
    pub status: OperationStatus,
    /// When the cancel was accepted.
    pub cancelled_at: DateTime<Utc>,
    /// The reason that took effect, in words (the first one, if it was cancelled twice).
    pub cancellation_reason: String,
    /// Whether this request told the work to stop: `false` when it was already stopping.
    pub task_cancelled: bool,
}
