//! The runner's error type.

use crate::cancel::DuplicateOperation;
use crate::registry::{OperationStatus, RegistryError};

/// What [`Operations`](super::Operations) can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperationsError {
    /// No operation has this id.
    #[error("operation {id} not found")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The operation has already ended, so it cannot be cancelled (`interrupted` also when
    /// the cancel found its owner process dead and marked it so).
    #[error("operation {id} has already ended ({status}); nothing to cancel")]
    AlreadyFinished {
        /// The operation.
        id: String,
        /// Its terminal status.
        status: OperationStatus,
    },
    /// [`Operations::run_idempotent`](super::Operations::run_idempotent) with a key that
    /// names an operation started by another request (another fingerprint).
    #[error(
        "idempotency key {key:?} was used for another request, which started operation \
         {operation_id}"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The operation the key names.
        operation_id: String,
    },
    /// The generated id is already in use in this process.
    #[error(transparent)]
    Duplicate(#[from] DuplicateOperation),
    /// [`Operations::shutdown`](super::Operations::shutdown) has begun: the runner starts
    /// nothing new.
    #[error("the operations runner is shutting down and starts no new operation")]
    ShuttingDown,
    /// `run` was called outside a tokio runtime.
    #[error("operations must be started from inside a tokio runtime")]
    NoRuntime,
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}
