//! What the registry stores about an operation, and the shapes of the questions asked of it.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{OperationStatus, Owner};
use crate::cancel::CancelReason;
use crate::progress::ProgressState;

/// One operation as the registry holds it.
///
/// Timestamps have microsecond precision (what the SQLite store keeps), so a record read back
/// equals the record written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// Unique id, `op_{type}_{YYYYMMDD_HHMMSS}_{8 hex}` when made by the runner.
    pub id: String,
    /// What kind of work (`data_load`, `training`, …).
    pub operation_type: String,
    /// Where it is in its life.
    pub status: OperationStatus,
    /// What the operation was asked to do (symbol, timeframe, mode, dates, parameters…).
    pub metadata: Value,
    /// The last persisted progress.
    pub progress: Option<ProgressState>,
    /// What the work reported when it ended (for a cancelled operation: what it kept).
    pub result_summary: Option<Value>,
    /// Why it failed (or the error a cancelled operation stopped with).
    pub error: Option<String>,
    /// Why it was cancelled, set when the cancel was requested.
    pub cancel_reason: Option<CancelReason>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When it entered `running`.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last write to the record (a heartbeat while progress flows).
    pub updated_at: DateTime<Utc>,
    /// The process that runs it, so that a dead owner can be detected.
    pub owner: Owner,
}

impl OperationRecord {
    /// A `pending` record created now and owned by the current process.
    pub fn pending(
        id: impl Into<String>,
        operation_type: impl Into<String>,
        metadata: Value,
    ) -> Self {
        let now = now();
        OperationRecord {
            id: id.into(),
            operation_type: operation_type.into(),
            status: OperationStatus::Pending,
            metadata,
            progress: None,
            result_summary: None,
            error: None,
            cancel_reason: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            owner: Owner::current(),
        }
    }

    /// Time spent running: from `started_at` to `finished_at`, or to now while still active.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let started = self.started_at?;
        Some(self.finished_at.unwrap_or_else(Utc::now) - started)
    }

    /// Checks the invariants a store relies on: a terminal record has `finished_at`, an active
    /// one has not.
    pub(crate) fn invariant_violation(&self) -> Option<String> {
        match (self.status.is_terminal(), self.finished_at) {
            (true, None) => Some(format!("status {} requires finished_at", self.status)),
            (false, Some(_)) => Some(format!("status {} cannot have finished_at", self.status)),
            _ if self.id.is_empty() => Some("empty id".to_owned()),
            _ => None,
        }
    }
}

/// The fields a transition may set besides the status. `None` leaves a field as it is.
///
/// The registry sets the timestamps itself: `started_at` on entering `running`, `finished_at`
/// on entering a terminal status, `updated_at` on every write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransitionPatch {
    /// The latest progress.
    pub progress: Option<ProgressState>,
    /// The result summary.
    pub result_summary: Option<Value>,
    /// An error message.
    pub error: Option<String>,
    /// A cancel reason.
    pub cancel_reason: Option<CancelReason>,
}

/// Which operations [`Registry::list`](super::Registry::list) returns. The conditions combine
/// (logical and); the page is taken after sorting newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationFilter {
    /// Only this status.
    pub status: Option<OperationStatus>,
    /// Only this operation type.
    pub operation_type: Option<String>,
    /// Only `pending`, `running` and `cancelling` operations.
    pub active_only: bool,
    /// At most this many records (all when `None`).
    pub limit: Option<usize>,
    /// Skip this many records first.
    pub offset: usize,
}

impl OperationFilter {
    pub(crate) fn matches(&self, record: &OperationRecord) -> bool {
        (!self.active_only || record.status.is_active())
            && self.status.is_none_or(|s| s == record.status)
            && self
                .operation_type
                .as_deref()
                .is_none_or(|t| t == record.operation_type)
    }
}

/// A cancel someone asked for through the registry: an operation found `cancelling` by
/// [`Registry::cancel_requests`](super::Registry::cancel_requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    /// The operation.
    pub id: String,
    /// The reason stored with the request; `None` if none was stored, or if it cannot be read
    /// (written by a newer build), which is logged.
    pub reason: Option<CancelReason>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationList {
    /// The page, newest first.
    pub operations: Vec<OperationRecord>,
    /// How many records match the filter, ignoring `limit` and `offset`.
    pub total_count: usize,
    /// How many records are active, ignoring the filter.
    pub active_count: usize,
}

/// How many operations of one type are in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationCount {
    /// The operation type.
    pub operation_type: String,
    /// The status.
    pub status: OperationStatus,
    /// How many.
    pub count: usize,
}

/// The current time at the precision the registry keeps.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
