//! The persistent record of every operation: its status, progress, outcome and owner.
//!
//! [`Registry`] is the storage trait; [`SqliteRegistry`] keeps records in the kernel database
//! (`$KTRDR_HOME/ktrdr.db`, see [`crate::db`]) and [`MemoryRegistry`] keeps them in memory for
//! tests. Both enforce the state machine of [`OperationStatus::can_become`] with a
//! compare-and-set [`Registry::transition`], so a terminal status is written exactly once.
//!
//! The policy (who moves an operation when) lives in [`crate::operations`]; a registry only
//! stores and refuses illegal moves.
//!
//! ```
//! use ktrdr_ops::registry::{
//!     MemoryRegistry, OperationRecord, OperationStatus::*, Registry, RegistryError,
//!     TransitionPatch,
//! };
//!
//! let registry = MemoryRegistry::new();
//! registry.insert(&OperationRecord::pending("op_1", "data_load", serde_json::json!({})))?;
//! registry.transition("op_1", &[Pending], Running, &TransitionPatch::default())?;
//! registry.transition("op_1", &[Running], Cancelling, &TransitionPatch::default())?;
//! // A completion racing the cancel loses.
//! let late = registry.transition("op_1", &[Running], Completed, &TransitionPatch::default());
//! assert!(matches!(late, Err(RegistryError::Conflict { actual: Cancelling, .. })));
//! # Ok::<(), RegistryError>(())
//! ```

mod error;
mod memory;
mod owner;
mod record;
mod retention;
mod sqlite;
mod status;

use std::time::Duration;

pub use error::RegistryError;
pub use memory::MemoryRegistry;
pub use owner::{Liveness, Owner};
pub use record::{OperationFilter, OperationList, OperationRecord, TransitionPatch};
pub use retention::{Retention, RETENTION_ENV};
pub use sqlite::SqliteRegistry;
pub use status::{OperationStatus, UnknownStatus};

use crate::progress::ProgressState;

/// Storage of operation records. Implementations are shared between threads and tasks.
///
/// Calls are short and synchronous (a SQLite statement takes microseconds); under another
/// process's write they may wait up to the database's busy timeout, so async code makes them
/// through `tokio::task::spawn_blocking` (as the runner does).
pub trait Registry: Send + Sync {
    /// Records a new operation. Fails with [`RegistryError::Duplicate`] if the id exists.
    fn insert(&self, record: &OperationRecord) -> Result<(), RegistryError>;

    /// Compare-and-set: moves operation `id` to `to` if its status is one of `expected`, and
    /// applies `patch`. Every `expected → to` must be legal ([`OperationStatus::can_become`]),
    /// else [`RegistryError::IllegalTransition`]; a status outside `expected` gives
    /// [`RegistryError::Conflict`] and changes nothing.
    fn transition(
        &self,
        id: &str,
        expected: &[OperationStatus],
        to: OperationStatus,
        patch: &TransitionPatch,
    ) -> Result<(), RegistryError>;

    /// Stores the latest progress of an active operation. Returns `false`, storing nothing, if
    /// the operation is already terminal (its final progress came with the terminal write).
    fn update_progress(&self, id: &str, progress: &ProgressState) -> Result<bool, RegistryError>;

    /// The record of `id`, if any.
    fn get(&self, id: &str) -> Result<Option<OperationRecord>, RegistryError>;

    /// The records matching `filter`, newest first (creation time, then insertion order).
    ///
    /// A stored row that cannot be decoded (damaged, or written by a newer build) is left out
    /// of the page with a warning naming it, so one bad record does not hide the others; the
    /// counts still include it, and [`Registry::get`] of its id reports what is wrong.
    fn list(&self, filter: &OperationFilter) -> Result<OperationList, RegistryError>;

    /// Deletes terminal records that finished at least `older_than` ago; returns how many.
    /// `Duration::ZERO` deletes every terminal record; active records are never deleted.
    fn cleanup(&self, older_than: Duration) -> Result<usize, RegistryError>;

    /// Whether a call may wait on something outside this process (a database lock held by
    /// another process, the disk), so that async code should make it off the runtime's worker
    /// threads. True unless the store lives in memory.
    fn may_block(&self) -> bool {
        true
    }
}

/// Validates the arguments of [`Registry::transition`], shared by the stores.
fn check_transition(
    expected: &[OperationStatus],
    to: OperationStatus,
) -> Result<(), RegistryError> {
    if expected.is_empty() {
        return Err(RegistryError::NoExpectedStatus { to });
    }
    match expected.iter().find(|from| !from.can_become(to)) {
        Some(&from) => Err(RegistryError::IllegalTransition { from, to }),
        None => Ok(()),
    }
}

/// The cut-off of [`Registry::cleanup`]; a duration too large to subtract keeps everything.
fn cleanup_cutoff(older_than: Duration) -> Option<chrono::DateTime<chrono::Utc>> {
    let age = chrono::Duration::from_std(older_than).ok()?;
    record::now().checked_sub_signed(age)
}
