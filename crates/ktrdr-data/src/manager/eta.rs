//! [`PacedEta`]: a first run's ETA from the pacing schedule of the requests still to send.
//!
//! Without history, an estimator only has the live rate, and a paced load's rate lies: a burst
//! of requests goes out at once, then the gate holds the rest for the window (a first run said
//! "ETA 5s" at 36 % and took 18 s more). The gate knows when each of the remaining requests may
//! go, so while requests remain that schedule is the ETA; once all are sent, the live estimator
//! says what is left (the answers in flight, the save).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ktrdr_ops::eta::{Eta, TimeEstimator};
use ktrdr_ops::progress::EtaSource;

use crate::pacing::PacingGate;
use crate::types::{Symbol, Timeframe};

/// The spread of a schedule-based estimate: the schedule is when the last request may be sent;
/// answers and the save come after it.
const SCHEDULE_HIGH: f64 = 1.2;

/// The ETA source of a first run's fetch: see the [module docs](self).
pub(crate) struct PacedEta {
    pub(crate) gate: PacingGate,
    pub(crate) symbol: Symbol,
    pub(crate) timeframe: Timeframe,
    /// Requests the plan holds.
    pub(crate) planned: u64,
    /// Requests sent so far (the fetch step's own counter).
    pub(crate) sent: Arc<AtomicU64>,
    pub(crate) live: TimeEstimator,
}

impl EtaSource for PacedEta {
    fn observe(&mut self, elapsed: Duration, fraction: f64) {
        self.live.observe(elapsed, fraction);
    }

    fn estimate(&self, elapsed: Duration) -> Option<Eta> {
        let left = self
            .planned
            .saturating_sub(self.sent.load(Ordering::Relaxed));
        if left == 0 {
            return self.live.estimate(elapsed);
        }
        let schedule = self
            .gate
            .schedule_duration(
                &self.symbol,
                self.timeframe,
                usize::try_from(left).unwrap_or(usize::MAX),
            )
            .as_secs_f64();
        // The live rate swings with every burst and wait; it only widens the range.
        let live = self
            .live
            .estimate(elapsed)
            .map_or(0.0, |e| e.remaining_secs);
        Some(Eta {
            remaining_secs: schedule,
            low_secs: schedule,
            high_secs: (schedule * SCHEDULE_HIGH).max(live),
        })
    }
}
