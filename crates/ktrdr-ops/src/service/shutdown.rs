//! [`Shutdown`]: the service's side of its lifecycle signal.

use std::time::Duration;

use tokio::sync::watch;

/// Tells a long-lived service loop to stop. Cheap to clone; every clone sees the same signal.
///
/// Created by [`spawn`](super::spawn) (or [`Shutdown::channel`]); fired by
/// [`ServiceHandle::stop`](super::ServiceHandle::stop) or
/// [`request_stop`](super::ServiceHandle::request_stop), and also when the owner's side is
/// dropped: a service nobody can stop any more stops on its own.
#[derive(Debug, Clone)]
pub struct Shutdown {
    requested: watch::Receiver<bool>,
}

/// Why [`Shutdown::sleep`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The whole duration passed: time for the next round.
    Elapsed,
    /// A stop was requested (before or during the wait).
    Shutdown,
}

impl Shutdown {
    /// A signal and the sender that fires it (`send_replace(true)`), for work run by hand
    /// rather than through [`spawn`](super::spawn) (one round of a service's loop, say). The
    /// signal fires when the sender is dropped, so keep it for as long as the work runs.
    pub fn channel() -> (watch::Sender<bool>, Shutdown) {
        let (tx, requested) = watch::channel(false);
        (tx, Shutdown { requested })
    }

    /// Whether a stop has been requested (or the owner is gone).
    pub fn is_requested(&self) -> bool {
        // `has_changed` fails only once the sender is dropped.
        *self.requested.borrow() || self.requested.has_changed().is_err()
    }

    /// Resolves once a stop is requested (at once if it already was).
    pub async fn requested(&self) {
        let mut requested = self.requested.clone();
        // An error means the sender is gone, which is a stop too.
        let _ = requested.wait_for(|stop| *stop).await;
    }

    /// Waits `duration`, or less if a stop is requested meanwhile; says which happened. A stop
    /// already requested returns at once, whatever the duration.
    pub async fn sleep(&self, duration: Duration) -> Wake {
        tokio::select! {
            biased;
            () = self.requested() => Wake::Shutdown,
            () = tokio::time::sleep(duration) => Wake::Elapsed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sleep_runs_its_course_unless_a_stop_comes_first() {
        let (tx, shutdown) = Shutdown::channel();
        let started = tokio::time::Instant::now();
        assert_eq!(shutdown.sleep(Duration::from_secs(30)).await, Wake::Elapsed);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        assert!(!shutdown.is_requested());

        let waiter = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.sleep(Duration::from_secs(3600)).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        tx.send_replace(true);
        assert_eq!(waiter.await.unwrap(), Wake::Shutdown);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(35),
            "woke at the stop, not at the hour"
        );
        assert!(shutdown.is_requested());
        // Already requested: no wait at all.
        assert_eq!(
            shutdown.sleep(Duration::from_secs(3600)).await,
            Wake::Shutdown
        );
        assert_eq!(started.elapsed(), Duration::from_secs(35));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_owner_is_a_stop() {
        let (tx, shutdown) = Shutdown::channel();
        let clone = shutdown.clone();
        drop(tx);
        assert!(shutdown.is_requested() && clone.is_requested());
        clone.requested().await;
        assert_eq!(
            shutdown.sleep(Duration::from_secs(60)).await,
            Wake::Shutdown
        );
    }
}
