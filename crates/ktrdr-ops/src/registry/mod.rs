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
mod idempotency;
mod memory;
mod owner;
mod record;
mod retention;
mod rows;
mod schema;
mod sqlite;
mod status;
mod store;

pub use error::RegistryError;
pub use idempotency::{KeyClaim, MAX_KEY_LEN};
pub use memory::MemoryRegistry;
pub use owner::{Liveness, Owner};
pub use record::{
    CancelRequest, OperationCount, OperationFilter, OperationList, OperationRecord, TransitionPatch,
};
pub use retention::{Retention, RETENTION_ENV};
pub use sqlite::SqliteRegistry;
pub use status::{OperationStatus, UnknownStatus};
pub(crate) use store::owner_ended;
pub use store::Registry;
