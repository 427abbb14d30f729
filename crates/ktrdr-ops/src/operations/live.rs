//! The operations a runner is running now: their handles, and the line to each supervisor that
//! [`Operations::shutdown`](super::Operations::shutdown) uses to abort work that outlives its
//! grace.
//!
//! # Invariants
//!
//! 1. An id is present from just before its supervisor is spawned until the supervisor has
//!    recorded the terminal status (or was dropped), and is gone before the outcome is
//!    published: a caller that finds no handle finds the terminal status in the registry, one
//!    that finds a handle sees the outcome through it, and one that has seen the outcome
//!    finds no handle.
//! 2. Once closed (by shutdown), nothing is added: [`LiveOperations::close`] returns every
//!    operation that will ever be live here, so shutdown misses none.
//!
//! # Lock order
//!
//! 1. `state` is the only lock, held for one map operation; nothing is called under it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::OperationHandle;

/// Operation id → handle, for the operations one runner runs now.
#[derive(Default)]
pub(super) struct LiveOperations {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    operations: HashMap<String, Live>,
    closed: bool,
}

struct Live {
    handle: OperationHandle,
    /// Taken by shutdown when the work outlives the grace.
    force: Option<oneshot::Sender<Force>>,
}

/// Shutdown's order to a supervisor: abort the work, record it cancelled, and say so on
/// `aborted` (dropped unsent if the work ended by itself first).
#[derive(Debug)]
pub(super) struct Force {
    /// The grace the work did not stop within.
    pub(super) grace: Duration,
    /// Sent to once the work is aborted.
    pub(super) aborted: oneshot::Sender<()>,
}

/// [`LiveOperations::insert`] after [`LiveOperations::close`].
#[derive(Debug)]
pub(super) struct Closed;

impl LiveOperations {
    /// Adds a live operation and the sender of its supervisor's force line; refused once
    /// closed.
    pub(super) fn insert(
        &self,
        handle: OperationHandle,
        force: oneshot::Sender<Force>,
    ) -> Result<(), Closed> {
        let mut state = self.lock();
        if state.closed {
            return Err(Closed);
        }
        let live = Live {
            handle,
            force: Some(force),
        };
        state.operations.insert(live.handle.id.clone(), live);
        Ok(())
    }

    pub(super) fn remove(&self, id: &str) {
        self.lock().operations.remove(id);
    }

    pub(super) fn get(&self, id: &str) -> Option<OperationHandle> {
        self.lock().operations.get(id).map(|l| l.handle.clone())
    }

    /// The ids, sorted.
    pub(super) fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().operations.keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// The ids of the operations whose token is not cancelled yet, in no particular order.
    pub(super) fn uncancelled_ids(&self) -> Vec<String> {
        self.lock()
            .operations
            .values()
            .filter(|l| !l.handle.token.is_cancelled())
            .map(|l| l.handle.id.clone())
            .collect()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Refuses further inserts and returns every handle, sorted by id.
    pub(super) fn close(&self) -> Vec<OperationHandle> {
        let mut state = self.lock();
        state.closed = true;
        let mut handles: Vec<OperationHandle> = state
            .operations
            .values()
            .map(|l| l.handle.clone())
            .collect();
        handles.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        handles
    }

    /// The force line to the supervisor of `id`, if it is still live and nobody took it.
    pub(super) fn take_force(&self, id: &str) -> Option<oneshot::Sender<Force>> {
        self.lock()
            .operations
            .get_mut(id)
            .and_then(|l| l.force.take())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section is one map call or one flag write, so a poisoned state is
        // still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
