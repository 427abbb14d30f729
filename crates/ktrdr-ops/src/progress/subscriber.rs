//! The read side: watching an operation's progress.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tokio::sync::watch;

use super::tree_node::Node;
use super::{ProgressError, ProgressState};

/// A watcher of one operation's progress, built on `tokio::sync::watch`.
///
/// [`changed`](Self::changed) waits until there is something new; [`latest`](Self::latest)
/// renders the current state. Changes between two reads are coalesced: a watcher always sees
/// the latest state, not every intermediate one. Read through `latest` (not the handle's
/// `snapshot`), which is what re-arms the wake-up.
///
/// ```
/// use ktrdr_ops::progress::{ProgressHandle, StepPlan};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let progress = ProgressHandle::new("op", StepPlan::single("Work"));
/// let mut watcher = progress.subscribe();
/// let display = tokio::spawn(async move {
///     let mut last = None;
///     while watcher.changed().await.is_ok() {
///         last = Some(watcher.latest());
///     }
///     last.map(|state| state.message)
/// });
/// progress.set_sub_progress(3, 3);
/// progress.complete();
/// drop(progress); // the watcher's loop ends after the final state
/// assert_eq!(display.await.unwrap().unwrap(), "Completed in 0s");
/// # }
/// ```
#[derive(Clone)]
pub struct ProgressSubscriber {
    node: Arc<Node>,
    rx: watch::Receiver<()>,
}

impl ProgressSubscriber {
    pub(super) fn new(node: Arc<Node>, rx: watch::Receiver<()>) -> Self {
        ProgressSubscriber { node, rx }
    }

    /// Waits until the progress changed since this watcher last read it (returns at once the
    /// first time).
    ///
    /// # Errors
    ///
    /// [`ProgressError::Closed`] once every handle is dropped and the last change was seen.
    pub async fn changed(&mut self) -> Result<(), ProgressError> {
        self.rx.changed().await.map_err(|_| ProgressError::Closed)
    }

    /// The current state, rendered, with a fresh ETA sample.
    pub fn latest(&mut self) -> ProgressState {
        // Invariant 4 of `handle`: mark seen, then clear `dirty`, then read.
        drop(self.rx.borrow_and_update());
        self.node.read_for_subscriber()
    }

    /// The loop behind [`ProgressHandle::on_update`](super::ProgressHandle::on_update).
    pub(super) async fn run_callback<F, E>(mut self, mut callback: F)
    where
        F: FnMut(&ProgressState) -> Result<(), E> + Send + 'static,
        E: std::fmt::Display + 'static,
    {
        while self.changed().await.is_ok() {
            let state = self.latest();
            match catch_unwind(AssertUnwindSafe(|| callback(&state))) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => self
                    .node
                    .count_error(&format!("progress subscriber failed: {error}")),
                Err(_) => self.node.count_error("progress subscriber panicked"),
            }
        }
        tracing::trace!(operation_id = %self.node.operation_id(), "progress callback done");
    }
}

impl std::fmt::Debug for ProgressSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressSubscriber")
            .field("operation_id", &self.node.operation_id())
            .finish_non_exhaustive()
    }
}
