//! The operation runner: one owner for the lifecycle of every long job.
//!
//! [`Operations::run`] records an operation `pending`, spawns its work on tokio with an
//! [`OperationContext`] (id, [`CancellationToken`](crate::cancel::CancellationToken),
//! [`ProgressHandle`](crate::progress::ProgressHandle) whose ETA is seeded from history), moves it to `running`, persists its
//! progress at most every 250 ms, and writes its terminal status exactly once when the work
//! ends: `completed` with the summary the work returned, `failed` with its error or panic
//! message, `cancelled` with the reason (and what it kept). [`Operations::cancel`] shows
//! `cancelling` until the work has really stopped; it reaches operations run by other
//! processes through the registry, which their runners poll while they run anything.
//! [`Operations::live`] gives the handle of an operation this runner runs now, to follow its
//! progress live. [`Operations::shutdown`] cancels everything the runner runs and bounds the
//! wait for it.
//!
//! ```
//! use ktrdr_ops::operations::{OperationError, Operations};
//! use ktrdr_ops::progress::StepPlan;
//! use ktrdr_ops::registry::{MemoryRegistry, OperationStatus};
//! use serde_json::json;
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ops = Operations::new(Arc::new(MemoryRegistry::new()), None);
//! let plan = StepPlan::new([("count", 100)])?;
//! let handle = ops.run("demo", json!({"symbol": "AAPL"}), plan, |ctx| async move {
//!     let mut counted = 0;
//!     for _ in 0..1000 {
//!         ctx.token.check()?;
//!         counted += 1;
//!     }
//!     Ok::<_, OperationError>(json!({ "counted": counted }))
//! })?;
//! let outcome = handle.wait().await;
//! assert_eq!(outcome.status, OperationStatus::Completed);
//! assert_eq!(outcome.result_summary, Some(json!({"counted": 1000})));
//! # Ok(()) }
//! ```

mod cancel;
mod cancel_poll;
mod context;
mod error;
mod handle;
mod history;
mod idempotent;
mod live;
mod runner;
mod shutdown;
mod supervisor;

pub use cancel::CancelAck;
pub use context::{OperationContext, OperationError};
pub use error::OperationsError;
pub use handle::{OperationHandle, OperationOutcome};
pub use idempotent::Started;
pub use runner::Operations;
pub use shutdown::ShutdownReport;
