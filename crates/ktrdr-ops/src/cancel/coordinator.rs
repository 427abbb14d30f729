//! Operation id → token map.
//!
//! # Invariants
//!
//! 1. An id is present exactly while its [`Registration`] is alive; dropping the registration
//!    removes it (RAII), so finished operations never linger.
//! 2. `cancel_all` cancels the tokens registered at the time of the call and nothing else: there
//!    is no global flag, so tokens registered afterwards start live (the Python coordinator's
//!    global flag poisoned every later operation).
//!
//! # Lock order
//!
//! 1. Only `entries` exists. Tokens are cloned out under the lock and cancelled after it is
//!    released, so waking waiters never happens under the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use super::{CancelReason, CancellationToken};

/// Maps operation ids to their cancellation tokens.
///
/// ```
/// use ktrdr_ops::cancel::{CancelReason, CancellationCoordinator};
///
/// let coordinator = CancellationCoordinator::new();
/// let op = coordinator.register("op-1").unwrap();
/// assert!(coordinator.register("op-1").is_err());
/// assert!(coordinator.cancel("op-1", CancelReason::User));
/// assert!(op.token().is_cancelled());
/// drop(op);
/// assert!(!coordinator.cancel("op-1", CancelReason::User));
/// ```
#[derive(Clone, Default)]
pub struct CancellationCoordinator {
    entries: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

/// Keeps an operation registered; dropping it unregisters the id.
#[must_use = "dropping the registration unregisters the operation at once"]
pub struct Registration {
    id: String,
    token: CancellationToken,
    entries: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

/// An id was registered twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation id {0:?} is already registered")]
pub struct DuplicateOperation(pub String);

/// A snapshot of the registered operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoordinatorStatus {
    /// `(id, reason if cancelled)`, sorted by id.
    pub operations: Vec<(String, Option<CancelReason>)>,
}

impl CancellationCoordinator {
    /// An empty coordinator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `id` with a fresh root token.
    pub fn register(&self, id: impl Into<String>) -> Result<Registration, DuplicateOperation> {
        self.register_token(id, CancellationToken::new())
    }

    /// Registers `id` with a given token (for example a child of a parent operation's token).
    pub fn register_token(
        &self,
        id: impl Into<String>,
        token: CancellationToken,
    ) -> Result<Registration, DuplicateOperation> {
        let id = id.into();
        let mut entries = self.entries();
        if entries.contains_key(&id) {
            return Err(DuplicateOperation(id));
        }
        entries.insert(id.clone(), token.clone());
        Ok(Registration {
            id,
            token,
            entries: Arc::clone(&self.entries),
        })
    }

    /// Cancels the operation `id`; `false` if no such operation is registered.
    pub fn cancel(&self, id: &str, reason: CancelReason) -> bool {
        let token = self.entries().get(id).cloned();
        match token {
            Some(token) => {
                token.cancel(reason);
                true
            }
            None => false,
        }
    }

    /// The token of a registered operation.
    pub fn token(&self, id: &str) -> Option<CancellationToken> {
        self.entries().get(id).cloned()
    }

    /// Cancels every operation registered now; returns how many were newly cancelled.
    pub fn cancel_all(&self, reason: CancelReason) -> usize {
        let tokens: Vec<_> = self.entries().values().cloned().collect();
        tokens.iter().filter(|t| t.cancel(reason.clone())).count()
    }

    /// The registered operations and their state.
    pub fn status(&self) -> CoordinatorStatus {
        let mut operations: Vec<_> = self
            .entries()
            .iter()
            .map(|(id, token)| (id.clone(), token.reason()))
            .collect();
        operations.sort_by(|a, b| a.0.cmp(&b.0));
        CoordinatorStatus { operations }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, CancellationToken>> {
        lock(&self.entries)
    }
}

impl Registration {
    /// The operation id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The operation's token.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.entries).remove(&self.id);
    }
}

/// The map stays consistent even if a holder panicked (every critical section is a single map
/// call), so a poisoned lock is recovered instead of propagating the panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_id_rejected_until_dropped() {
        let c = CancellationCoordinator::new();
        let a = c.register("x").unwrap();
        assert_eq!(c.register("x").err(), Some(DuplicateOperation("x".into())));
        drop(a);
        assert!(c.register("x").is_ok());
    }

    #[test]
    fn cancel_all_does_not_poison_later_tokens() {
        let c = CancellationCoordinator::new();
        let a = c.register("a").unwrap();
        let b = c.register("b").unwrap();
        assert_eq!(c.cancel_all(CancelReason::Shutdown), 2);
        assert_eq!(a.token().reason(), Some(CancelReason::Shutdown));
        assert!(b.token().is_cancelled());
        // Already cancelled: not counted again.
        assert_eq!(c.cancel_all(CancelReason::Shutdown), 0);

        let later = c.register("later").unwrap();
        assert!(!later.token().is_cancelled());
        assert!(later.token().check().is_ok());
    }

    #[test]
    fn cancel_targets_one_operation_and_status_reports_it() {
        let c = CancellationCoordinator::new();
        let _a = c.register("a").unwrap();
        let b = c.register("b").unwrap();
        assert!(c.cancel("a", CancelReason::User));
        assert!(!c.cancel("missing", CancelReason::User));
        assert!(!b.token().is_cancelled());
        assert_eq!(
            c.status().operations,
            vec![("a".into(), Some(CancelReason::User)), ("b".into(), None)]
        );
    }

    #[test]
    fn registered_child_token_follows_its_parent() {
        let c = CancellationCoordinator::new();
        let parent = CancellationToken::new();
        let op = c.register_token("child", parent.child_token()).unwrap();
        parent.cancel(CancelReason::Shutdown);
        assert!(op.token().is_cancelled());
        assert!(c.token("child").is_some_and(|t| t.is_cancelled()));
    }
}
