//! Following an operation on the wire: the names of the events of
//! `GET /operations/{id}/events` and the answer of `GET /operations/{id}/wait`.

use std::fmt;
use std::str::FromStr;

use ktrdr_ops::registry::OperationStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::OperationInfo;

/// The `event:` of an event of `GET /operations/{id}/events`; its data is always an
/// [`OperationInfo`]. A stream carries `progress` events, then exactly one terminal event named
/// after the status the operation ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The operation is still active (pending, running or cancelling).
    Progress,
    /// It completed.
    Completed,
    /// It failed.
    Failed,
    /// It was cancelled and has stopped.
    Cancelled,
    /// Its process died before it ended.
    Interrupted,
}

impl EventKind {
    /// The event that carries an operation in `status`.
    pub fn of(status: OperationStatus) -> EventKind {
        match status {
            OperationStatus::Pending | OperationStatus::Running | OperationStatus::Cancelling => {
                EventKind::Progress
            }
            OperationStatus::Completed => EventKind::Completed,
            OperationStatus::Failed => EventKind::Failed,
            OperationStatus::Cancelled => EventKind::Cancelled,
            OperationStatus::Interrupted => EventKind::Interrupted,
        }
    }

    /// The `event:` name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Progress => "progress",
            EventKind::Completed => "completed",
            EventKind::Failed => "failed",
            EventKind::Cancelled => "cancelled",
            EventKind::Interrupted => "interrupted",
        }
    }

    /// Whether this is the last event of its stream.
    pub fn is_terminal(self) -> bool {
        self != EventKind::Progress
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `event:` name that is not one of [`EventKind`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown operation event {0:?} (known: progress, completed, failed, cancelled, interrupted)"
)]
pub struct UnknownEvent(pub String);

impl FromStr for EventKind {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            EventKind::Progress,
            EventKind::Completed,
            EventKind::Failed,
            EventKind::Cancelled,
            EventKind::Interrupted,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == s)
        .ok_or_else(|| UnknownEvent(s.to_owned()))
    }
}

/// One event of `GET /operations/{id}/events`.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationEvent {
    /// Its `event:` name.
    pub kind: EventKind,
    /// Its `id:`: the tag of the state it carries, which a reconnect sends as `Last-Event-ID`.
    pub id: String,
    /// Its `data:`, the operation.
    pub operation: OperationInfo,
}

/// The answer of `GET /operations/{id}/wait`: the operation as it is when it ended or the wait
/// timed out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WaitAnswer {
    /// Always `true`.
    pub success: bool,
    /// The operation.
    pub data: OperationInfo,
    /// Whether it has ended (`false`: the wait timed out, or the server is shutting down).
    pub terminal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_has_its_event_and_names_round_trip() {
        for status in OperationStatus::ALL {
            let kind = EventKind::of(status);
            assert_eq!(kind.is_terminal(), status.is_terminal(), "{status}");
            if status.is_terminal() {
                assert_eq!(kind.as_str(), status.as_str());
            }
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        let error = "done".parse::<EventKind>().unwrap_err();
        assert!(error.to_string().contains("\"done\""), "{error}");
    }
}
