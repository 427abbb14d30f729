//! What the work of an operation receives, and what it may fail with.

use serde_json::Value;

use crate::cancel::{CancellationToken, Cancelled};
use crate::progress::ProgressHandle;

/// Handed to the work of an operation by [`Operations::run`](super::Operations::run).
#[derive(Debug, Clone)]
pub struct OperationContext {
    /// The operation id.
    pub id: String,
    /// Cancelled when the operation is cancelled (by [`Operations::cancel`](super::Operations::cancel),
    /// `cancel_all`, or anyone holding the token). Check it in loops, select on it at awaits, and
    /// pass it (or children of it) down.
    pub token: CancellationToken,
    /// Where the work reports progress; its ETA source is already seeded from history.
    pub progress: ProgressHandle,
}

/// How the work of an operation can end without a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperationError {
    /// The work stopped because it was cancelled (`token.check()?` gives this).
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    /// The work failed; the message is stored as the operation's error, and `partial` (what
    /// the work did before failing, when it says) as its result summary.
    #[error("{message}")]
    Failed {
        /// What went wrong.
        message: String,
        /// What was done anyway (bars saved before a failure, say), if anything.
        partial: Option<Value>,
    },
}

impl OperationError {
    /// A failure described by `error` (its `Display`; use `{:#}`-style chains for context).
    pub fn failed(error: impl std::fmt::Display) -> Self {
        OperationError::Failed {
            message: error.to_string(),
            partial: None,
        }
    }

    /// A failure that still did something worth recording: `partial` becomes the operation's
    /// result summary, beside the error.
    pub fn failed_with(error: impl std::fmt::Display, partial: Value) -> Self {
        OperationError::Failed {
            message: error.to_string(),
            partial: Some(partial),
        }
    }
}
