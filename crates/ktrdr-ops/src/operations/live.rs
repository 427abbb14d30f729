//! The handles of the operations a runner is running now.
//!
//! # Invariants
//!
//! 1. An id is present from just before its supervisor is spawned until the supervisor has
//!    recorded the terminal status (or was dropped), and is gone before the outcome is
//!    published: a caller that finds no handle finds the terminal status in the registry, one
//!    that finds a handle sees the outcome through it, and one that has seen the outcome
//!    finds no handle.
//!
//! # Lock order
//!
//! 1. `handles` is the only lock, held for one map operation; nothing is called under it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::OperationHandle;

/// Operation id → handle, for the operations one runner runs now.
#[derive(Default)]
pub(super) struct LiveOperations {
    handles: Mutex<HashMap<String, OperationHandle>>,
}

impl LiveOperations {
    pub(super) fn insert(&self, handle: OperationHandle) {
        self.lock().insert(handle.id.clone(), handle);
    }

    pub(super) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    pub(super) fn get(&self, id: &str) -> Option<OperationHandle> {
        self.lock().get(id).cloned()
    }

    /// The ids, sorted.
    pub(super) fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// Every handle, in no particular order.
    pub(super) fn handles(&self) -> Vec<OperationHandle> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, OperationHandle>> {
        // Every critical section is one map call, so a poisoned map is still consistent.
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
