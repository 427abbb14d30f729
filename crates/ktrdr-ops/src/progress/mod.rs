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

mod error;
mod eta_source;
mod handle;
mod plan;
mod render;
mod state;
mod subscriber;
mod tree_node;

pub use error::ProgressError;
pub use eta_source::EtaSource;
pub use handle::ProgressHandle;
pub use plan::StepPlan;
pub use render::{format_duration, push_eta_range, DefaultRenderer, ProgressRenderer};
pub use state::{Counter, ProgressPhase, ProgressState};
pub use subscriber::ProgressSubscriber;
