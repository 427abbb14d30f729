//! The service: [`GapFiller::spawn`] runs a cycle, waits the interval (longer after pacing
//! errors), and again, until its [`Shutdown`] fires; [`GapFillerHandle`] stops it and reads its
//! [`GapFillerStats`].

use chrono::Utc;
use ktrdr_ops::service::{self, ServiceError, ServiceHandle, Shutdown, Wake};
use tokio::sync::watch;

use super::filler::GapFiller;
use super::stats::GapFillerStats;

/// The name the service goes by in logs and errors.
pub const SERVICE_NAME: &str = "gap-filler";

/// The owner's side of a running gap filler. Dropping it stops the service (the load in
/// flight is cancelled with reason `shutdown`), without waiting.
#[derive(Debug)]
pub struct GapFillerHandle {
    service: ServiceHandle<()>,
    stats: watch::Receiver<GapFillerStats>,
}

impl GapFiller {
    /// Starts the service: a first cycle at once, then one every
    /// [`interval`](super::GapFillerConfig::interval) (doubled for each cycle in a row that met
    /// a pacing error, up to [`max_backoff`](super::GapFillerConfig::max_backoff)).
    ///
    /// # Errors
    ///
    /// [`ServiceError::NoRuntime`] outside a tokio runtime.
    pub fn spawn(self) -> Result<GapFillerHandle, ServiceError> {
        let interval = self.config().interval;
        let (tx, stats) = watch::channel(GapFillerStats::starting(interval.as_secs_f64()));
        let service = service::spawn(SERVICE_NAME, move |shutdown| self.serve(shutdown, tx))?;
        Ok(GapFillerHandle { service, stats })
    }

    async fn serve(self, shutdown: Shutdown, stats: watch::Sender<GapFillerStats>) {
        let mut pacing_cycles = 0u32;
        loop {
            let report = self.run_once(&shutdown).await;
            pacing_cycles = if report.pacing_errors > 0 {
                pacing_cycles.saturating_add(1)
            } else {
                0
            };
            let wait = self.config().next_interval(pacing_cycles);
            if pacing_cycles > 0 {
                tracing::warn!(
                    wait_secs = wait.as_secs(),
                    "the gap filler met a pacing error; backing off"
                );
            }
            stats.send_modify(|s| {
                s.record(&report);
                s.interval_secs = wait.as_secs_f64();
                s.next_cycle_at = chrono::Duration::from_std(wait)
                    .ok()
                    .and_then(|d| Utc::now().checked_add_signed(d));
            });
            if shutdown.sleep(wait).await == Wake::Shutdown {
                break;
            }
        }
        stats.send_modify(|s| {
            s.running = false;
            s.next_cycle_at = None;
        });
    }
}

impl GapFillerHandle {
    /// The stats now.
    pub fn stats(&self) -> GapFillerStats {
        self.stats.borrow().clone()
    }

    /// A receiver that sees the stats after every cycle.
    pub fn subscribe(&self) -> watch::Receiver<GapFillerStats> {
        self.stats.clone()
    }

    /// Whether the service loop still runs.
    pub fn is_running(&self) -> bool {
        !self.service.is_finished()
    }

    /// Stops the service: no new load starts, the load in flight is cancelled with reason
    /// `shutdown` (a stop is not a user's cancel), and this returns once it has ended, with the
    /// final stats.
    ///
    /// # Errors
    ///
    /// [`ServiceError`] when the service's loop panicked.
    pub async fn stop(self) -> Result<GapFillerStats, ServiceError> {
        self.service.stop().await?;
        Ok(self.stats.borrow().clone())
    }
}
