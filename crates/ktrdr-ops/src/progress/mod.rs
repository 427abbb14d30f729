//! Typed progress for long operations.
//!
//! An operation declares its [`StepPlan`] up front, reports through a cheap, cloneable
//! [`ProgressHandle`], and readers get one typed [`ProgressState`] through
//! [`ProgressHandle::snapshot`] or a [`ProgressSubscriber`] (a `tokio::sync::watch` channel).
//!
//! - Percent never goes backwards and stays in 0..=100, whatever the calls.
//! - Step-scoped fields (`step_detail`, `sub_progress`, the nested sub-operation) are cleared
//!   when a step starts; `items` counts the operation's output and is kept across steps.
//! - Updates only store numbers. The message ([`ProgressRenderer`]) and the ETA
//!   ([`EtaSource`]) are computed when someone reads, so a tight loop can report every
//!   iteration. No renderer, ETA source or callback runs under the handle's lock.
//! - A sub-operation ([`ProgressHandle::nested`]) maps its own 0..100 into the parent's current
//!   step; when it ends or is dropped unfinished, that step's range counts as done.
//!
//! ```
//! use ktrdr_ops::progress::{ProgressHandle, ProgressPhase, StepPlan};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ktrdr_ops::progress::ProgressError> {
//! let plan = StepPlan::new([("Analyze gaps", 10), ("Fetch segments", 80), ("Save", 10)])?;
//! let progress = ProgressHandle::new("load-AAPL-1h", plan);
//! let mut watcher = progress.subscribe();
//!
//! progress.next_step()?; // "Fetch segments"
//! progress.set_sub_progress(2, 4);
//! progress.set_items(1_000, None);
//! assert_eq!(progress.snapshot().percent, 50.0);
//!
//! progress.next_step()?;
//! progress.complete();
//! watcher.changed().await?;
//! let state = watcher.latest();
//! assert_eq!((state.phase, state.percent), (ProgressPhase::Completed, 100.0));
//! # Ok(())
//! # }
//! ```

mod eta_source;
mod handle;
mod plan;
mod render;
mod state;
mod subscriber;

pub use eta_source::EtaSource;
pub use handle::ProgressHandle;
pub use plan::StepPlan;
pub use render::{format_duration, DefaultRenderer, ProgressRenderer};
pub use state::{Counter, ProgressPhase, ProgressState};
pub use subscriber::ProgressSubscriber;

/// What can go wrong when declaring or driving progress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    /// A plan was declared without steps.
    #[error("a step plan needs at least one step")]
    EmptyPlan,
    /// A step's name is empty or blank.
    #[error("step {index} of the plan has an empty name")]
    EmptyStepName {
        /// 0-based position of the step.
        index: usize,
    },
    /// The step weights do not sum to 100.
    #[error("step weights must sum to exactly 100, got {sum} ({steps})")]
    WeightSum {
        /// The actual sum.
        sum: u64,
        /// The steps as `"name"=weight`, for the message.
        steps: String,
    },
    /// A step index outside the plan (also what `next_step` returns after the last step).
    #[error("step index {index} is out of range: the plan has {count} steps (0..{count})")]
    StepOutOfRange {
        /// The index asked for.
        index: usize,
        /// Number of steps in the plan.
        count: usize,
    },
    /// A callback subscriber was requested outside a tokio runtime.
    #[error("progress callbacks run as tokio tasks; call on_update from within a tokio runtime")]
    NoRuntime,
    /// Every handle of the operation was dropped and the last state has been read.
    #[error("the progress handle was dropped; no further updates will come")]
    Closed,
}
