//! The operation state machine: the states and the one function that says which moves are legal.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an operation is in its life.
///
/// ```text
/// pending ──► running ──► completed
///    │           │    └──► failed
///    │           ▼
///    └──────► cancelling ──► cancelled
///                 └──────► failed (the work panicked while stopping)
/// pending | running | cancelling ──► interrupted (its process died)
/// pending | running ──► cancelled (stopped before anyone saw `cancelling`)
/// ```
///
/// `completed`, `failed`, `cancelled` and `interrupted` are terminal: nothing leaves them, so a
/// late completion can never overwrite a cancel. Serialised in lower case (`"cancelling"`).
///
/// ```
/// use ktrdr_ops::registry::OperationStatus::*;
/// assert!(Running.can_become(Cancelling));
/// assert!(!Cancelling.can_become(Completed));
/// assert!(Cancelled.is_terminal());
/// assert_eq!("interrupted".parse(), Ok(Interrupted));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperationStatus {
    /// Recorded, not started yet.
    Pending,
    /// The work is running.
    Running,
    /// A cancel was requested; the work has not stopped yet.
    Cancelling,
    /// The work finished successfully.
    Completed,
    /// The work returned an error or panicked.
    Failed,
    /// The work stopped because it was cancelled.
    Cancelled,
    /// The process that ran the work ended without recording an outcome.
    Interrupted,
}

impl OperationStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [OperationStatus; 7] = [
        Self::Pending,
        Self::Running,
        Self::Cancelling,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Interrupted,
    ];

    /// The statuses of an operation whose work has not ended yet.
    pub const ACTIVE: [OperationStatus; 3] = [Self::Pending, Self::Running, Self::Cancelling];

    /// The statuses nothing can leave.
    pub const TERMINAL: [OperationStatus; 4] = [
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Interrupted,
    ];

    /// True for `completed`, `failed`, `cancelled` and `interrupted`.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::Interrupted
        )
    }

    /// True for `pending`, `running` and `cancelling`.
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// The state machine: whether an operation in `self` may move to `to`.
    ///
    /// This is the only place the legal moves are written down; both stores and the runner
    /// consult it.
    pub fn can_become(self, to: OperationStatus) -> bool {
        use OperationStatus::*;
        match (self, to) {
            (Pending, Running | Cancelling | Cancelled | Failed | Interrupted) => true,
            (Running, Cancelling | Completed | Failed | Cancelled | Interrupted) => true,
            // Once a cancel is requested the outcome is `cancelled`, whatever the work returns,
            // except a panic, which is a bug worth reporting as `failed`.
            (Cancelling, Cancelled | Failed | Interrupted) => true,
            _ => false,
        }
    }

    /// The lower-case name used in JSON, SQL and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Cancelling => "cancelling",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for OperationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`OperationStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown operation status {0:?} (allowed: pending, running, cancelling, completed, failed, \
     cancelled, interrupted)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for OperationStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::OperationStatus::{self, *};

    #[test]
    fn terminal_states_have_no_exit() {
        for from in OperationStatus::TERMINAL {
            for to in OperationStatus::ALL {
                assert!(!from.can_become(to), "{from} -> {to} must be illegal");
            }
        }
    }

    #[test]
    fn cancelling_never_completes() {
        assert!(!Cancelling.can_become(Completed));
        assert!(!Cancelling.can_become(Running));
        assert!(Cancelling.can_become(Cancelled));
    }

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for status in OperationStatus::ALL {
            assert_eq!(status.as_str().parse::<OperationStatus>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        let err = "done".parse::<OperationStatus>().unwrap_err();
        assert!(err.to_string().contains("\"done\""));
        assert!(err.to_string().contains("interrupted"));
    }

    #[test]
    fn active_and_terminal_partition_all() {
        for status in OperationStatus::ALL {
            assert_ne!(status.is_active(), status.is_terminal());
            assert_eq!(
                OperationStatus::ACTIVE.contains(&status),
                status.is_active()
            );
        }
    }
}
