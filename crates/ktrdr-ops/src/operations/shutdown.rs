//! [`Operations::shutdown`]: stopping everything a runner runs, within a bound.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::time::{timeout_at, Instant};

use super::live::Force;
use super::{OperationHandle, Operations};
use crate::cancel::CancelReason;

/// What [`Operations::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// Operations whose work stopped by itself within the grace (recorded `cancelled` with what
    /// they kept, or whatever they ended as).
    pub stopped: usize,
    /// Operations whose work was still running after the grace: aborted and recorded
    /// `cancelled` (reason shutdown) with an error saying it did not stop in time.
    pub forced: usize,
}

impl Operations {
    /// Stops this runner: refuses new operations ([`OperationsError::ShuttingDown`]), cancels
    /// every operation it runs with [`CancelReason::Shutdown`], and waits up to `grace` for
    /// their work to stop. Work still running then is aborted (at its next await) and recorded
    /// `cancelled` with reason shutdown and an error saying it did not stop within the grace,
    /// once, like any terminal status. Returns when every one of them is recorded.
    ///
    /// Aborted work keeps nothing it had not saved itself, so a grace long enough for the
    /// work's own cancel path (a load saves what it fetched) is worth giving.
    ///
    /// [`OperationsError::ShuttingDown`]: super::OperationsError::ShuttingDown
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let running = self.inner.live.close();
        tracing::info!(
            operations = running.len(),
            ?grace,
            "shutting down the runner"
        );
        for handle in &running {
            handle.token.cancel(CancelReason::Shutdown);
        }
        let deadline = Instant::now() + grace;
        let mut report = ShutdownReport::default();
        let mut late = Vec::new();
        // One deadline for all: waiting for them in turn takes no longer than at once.
        for handle in running {
            match timeout_at(deadline, handle.wait()).await {
                Ok(_) => report.stopped += 1,
                Err(_) => late.push(handle),
            }
        }
        for handle in late {
            if self.force(&handle, grace).await {
                tracing::warn!(id = %handle.id, ?grace, "work did not stop in time; aborted");
                report.forced += 1;
            } else {
                report.stopped += 1;
            }
            handle.wait().await;
        }
        report
    }

    /// Orders the supervisor of `handle` to abort its work; whether it did (false: the work
    /// ended by itself first).
    async fn force(&self, handle: &OperationHandle, grace: Duration) -> bool {
        let Some(line) = self.inner.live.take_force(&handle.id) else {
            return false;
        };
        let (aborted, was_aborted) = oneshot::channel();
        // Refused only if the supervisor is past the work already.
        let _ = line.send(Force { grace, aborted });
        was_aborted.await.is_ok()
    }
}
