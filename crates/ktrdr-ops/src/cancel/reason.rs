//! Why an operation was cancelled, and the error of one that stopped for that reason.

use serde::{Deserialize, Serialize};

/// Why an operation was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum CancelReason {
    /// The user asked (Ctrl-C, `ktrdr operations cancel`, the API's `DELETE`).
    User,
    /// A deadline passed.
    Timeout,
    /// The process or service is shutting down.
    Shutdown,
    /// A remote party (a host service, the API on another machine) cancelled, with its words.
    Remote(String),
    /// The parent operation was cancelled, for the reason inside.
    Parent(Box<CancelReason>),
    /// The operation was stopped because of an error elsewhere, described here.
    Error(String),
}

impl CancelReason {
    /// The reason at the root of a chain of [`CancelReason::Parent`]s.
    pub fn root(&self) -> &CancelReason {
        match self {
            CancelReason::Parent(inner) => inner.root(),
            other => other,
        }
    }
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CancelReason::User => f.write_str("cancelled by the user"),
            CancelReason::Timeout => f.write_str("deadline exceeded"),
            CancelReason::Shutdown => f.write_str("shutting down"),
            CancelReason::Remote(who) => write!(f, "cancelled remotely: {who}"),
            CancelReason::Parent(inner) => write!(f, "parent operation {inner}"),
            CancelReason::Error(e) => write!(f, "stopped after an error: {e}"),
        }
    }
}

/// The error of an operation that stopped because its token was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation cancelled ({reason})")]
pub struct Cancelled {
    /// Why.
    pub reason: CancelReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_serialises_with_a_kind_tag() {
        let r = CancelReason::Parent(Box::new(CancelReason::Remote("api".into())));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "parent", "detail": {"kind": "remote", "detail": "api"}})
        );
        let back: CancelReason = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.root(), &CancelReason::Remote("api".into()));
        assert_eq!(
            serde_json::to_value(CancelReason::User).unwrap(),
            serde_json::json!({"kind": "user"})
        );
    }

    #[test]
    fn display_reads_as_a_sentence() {
        let r = CancelReason::Parent(Box::new(CancelReason::User));
        assert_eq!(r.to_string(), "parent operation cancelled by the user");
        let e = Cancelled {
            reason: CancelReason::Timeout,
        };
        assert_eq!(e.to_string(), "operation cancelled (deadline exceeded)");
    }
}
