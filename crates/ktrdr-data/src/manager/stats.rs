//! [`ManagerStats`]: what a manager's loads have done since it was built, summed over every
//! load (finished, failed or cancelled), for monitoring a long-lived process.

use std::sync::{Mutex, PoisonError};

use super::LoadSummary;
use crate::pacing::PacingStats;

/// Totals over a manager's loads, and its pacing gate's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ManagerStats {
    /// Loads that ended (whatever the outcome).
    pub loads: u64,
    /// Requests sent to the provider.
    pub requests_sent: u64,
    /// Of those, repeats after a failed attempt.
    pub retries: u64,
    /// Bars written to the store.
    pub bars_saved: u64,
    /// The pacing gate's counts, when the provider is paced.
    pub pacing: Option<PacingStats>,
}

/// The running totals, updated once per load.
#[derive(Debug, Default)]
pub(super) struct Totals(Mutex<ManagerStats>);

impl Totals {
    pub(super) fn add(&self, summary: &LoadSummary) {
        let mut totals = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        totals.loads += 1;
        totals.requests_sent += summary.requests_sent;
        totals.retries += summary.retries;
        totals.bars_saved += summary.bars_saved;
    }

    pub(super) fn get(&self) -> ManagerStats {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
