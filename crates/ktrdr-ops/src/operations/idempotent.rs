//! [`Operations::run_idempotent`]: a start that a retry with the same key does not repeat.

use std::future::Future;

use serde_json::Value;

use super::{OperationContext, OperationError, OperationHandle, Operations, OperationsError};
use crate::progress::StepPlan;

/// What [`Operations::run_idempotent`] did.
#[derive(Debug, Clone)]
pub enum Started {
    /// A new operation, started now.
    New(OperationHandle),
    /// The key names this operation, started earlier (by this process or another) for the
    /// same request; nothing new was started. [`Operations::live`] has its handle if this
    /// runner runs it, the registry its record in any case.
    Existing(String),
}

impl Operations {
    /// [`Operations::run`], once per idempotency `key`: the first call with a key starts the
    /// operation and records the key with it (in the registry, so it holds across restarts and
    /// processes); a later call with the same key and `fingerprint` (what identifies the
    /// request, say a hash of its body) starts nothing and answers [`Started::Existing`]; with
    /// another fingerprint it is refused with [`OperationsError::IdempotencyConflict`].
    ///
    /// Keys are dropped by the registry's retention cleanup with their operation (a running
    /// operation keeps its key). A key that is empty, longer than
    /// [`MAX_KEY_LEN`](crate::registry::MAX_KEY_LEN) bytes or holds control characters is
    /// refused ([`RegistryError::InvalidIdempotencyKey`](crate::registry::RegistryError)).
    pub fn run_idempotent<F, Fut>(
        &self,
        kind: impl Into<String>,
        metadata: Value,
        plan: StepPlan,
        key: &str,
        fingerprint: &str,
        work: F,
    ) -> Result<Started, OperationsError>
    where
        F: FnOnce(OperationContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, OperationError>> + Send + 'static,
    {
        self.run_keyed(kind.into(), metadata, plan, Some((key, fingerprint)), work)
    }
}
