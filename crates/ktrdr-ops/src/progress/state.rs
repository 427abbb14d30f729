//! The one progress shape shared by the server, the CLI and host services.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::eta::Eta;

/// A snapshot of an operation's progress, rendered and with its ETA.
///
/// Produced by [`ProgressHandle::snapshot`](super::ProgressHandle::snapshot) and
/// [`ProgressSubscriber::latest`](super::ProgressSubscriber::latest); serialised as is on the
/// wire, so every field is typed (no `context` map of strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressState {
    /// The operation this progress belongs to; a nested sub-operation's id is
    /// `"{parent id}/{parent step name}"`.
    pub operation_id: String,
    /// Running, completed, failed or cancelled.
    pub phase: ProgressPhase,
    /// Current step, 0-based, always `< step_count`.
    pub step_index: usize,
    /// Number of steps in the declared plan.
    pub step_count: usize,
    /// Name of the current step, from the plan.
    pub step_name: String,
    /// Free text about the current step; cleared when a step starts.
    pub step_detail: Option<String>,
    /// Progress within the current step (e.g. segments fetched); cleared when a step starts.
    pub sub_progress: Option<Counter>,
    /// Items the operation has produced so far (e.g. bars); operation-wide, kept across steps.
    pub items: Option<Counter>,
    /// Overall percent, in 0..=100, never lower than in an earlier snapshot.
    pub percent: f64,
    /// Human-readable line rendered from the fields above (a pure function of them).
    pub message: String,
    /// When the operation started (wall clock).
    pub started_at: DateTime<Utc>,
    /// Seconds since the start; frozen when the operation finishes.
    pub elapsed_secs: f64,
    /// Remaining time while running, when the ETA source can honestly say.
    pub eta: Option<Eta>,
    /// Why the operation stopped: the failure message when `phase` is
    /// [`ProgressPhase::Failed`], the cancel reason when it is [`ProgressPhase::Cancelled`].
    pub error: Option<String>,
    /// The sub-operation running inside the current step, if any.
    pub nested: Option<Box<ProgressState>>,
}

/// Where an operation's progress stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressPhase {
    /// Work is under way.
    Running,
    /// The operation finished its work; percent is 100.
    Completed,
    /// The operation stopped with an error; percent stays where it was.
    Failed,
    /// The operation was cancelled and stopped; percent stays where it was.
    Cancelled,
}

impl ProgressPhase {
    /// True once the operation completed, failed or was cancelled; no update changes the state
    /// afterwards.
    pub fn is_finished(self) -> bool {
        self != ProgressPhase::Running
    }
}

/// A count of work done, out of a total when the total is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counter {
    /// Units done so far (may exceed `total`; the fraction is capped at 1).
    pub done: u64,
    /// Units expected, when known.
    pub total: Option<u64>,
}

impl Counter {
    /// Share of the work done, in 0..=1, or `None` when the total is unknown.
    ///
    /// A total of 0 means there was nothing to do, so it reads as complete.
    pub fn fraction(&self) -> Option<f64> {
        match self.total {
            None => None,
            Some(0) => Some(1.0),
            Some(total) => Some(self.done.min(total) as f64 / total as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_fraction_is_capped_and_total_zero_is_complete() {
        let c = |done, total| Counter { done, total }.fraction();
        assert_eq!(c(3, Some(4)), Some(0.75));
        assert_eq!(c(9, Some(4)), Some(1.0));
        assert_eq!(c(0, Some(0)), Some(1.0));
        assert_eq!(c(5, None), None);
        assert_eq!(c(u64::MAX, Some(u64::MAX)), Some(1.0));
    }

    #[test]
    fn phase_serialises_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&ProgressPhase::Completed).unwrap(),
            r#""completed""#
        );
        assert!(ProgressPhase::Failed.is_finished());
        assert!(!ProgressPhase::Running.is_finished());
    }
}
