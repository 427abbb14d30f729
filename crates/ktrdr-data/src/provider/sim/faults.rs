//! Injectable faults of the simulated broker, drawn deterministically per request.

use std::time::Duration;

use super::rng::{hash_str, key, uniform};
use super::SimConfigError;
use crate::pacing::RequestKey;

/// Faults the simulated broker injects into historical-data requests, each with its own rate
/// (a probability per request; the rates must sum to at most 1).
///
/// Which request fails is a pure function of `seed`, the request (symbol, timeframe, range) and
/// how many times that same request was sent before, so a test sees the same faults on every run,
/// whatever the order concurrent requests arrive in, and a retried request gets a fresh draw.
///
/// ```
/// use std::time::Duration;
/// use ktrdr_data::provider::sim::FaultConfig;
///
/// let faults = FaultConfig { error_rate: 0.1, timeout_rate: 0.05, ..FaultConfig::none() };
/// assert!(faults.validate().is_ok());
/// assert!(FaultConfig { error_rate: 0.9, empty_rate: 0.2, ..FaultConfig::none() }.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Seed of the fault draws.
    pub seed: u64,
    /// Rate of transient errors (what a 5xx or a dropped gateway connection looks like).
    pub error_rate: f64,
    /// Rate of requests that hang for [`hang`](Self::hang) and then fail as a transient timeout.
    pub timeout_rate: f64,
    /// How long a hanging request hangs.
    pub hang: Duration,
    /// Rate of pacing violations the client did not cause (another client on the account).
    pub pacing_rate: f64,
    /// The `retry_after` of an injected pacing violation.
    pub pacing_retry_after: Duration,
    /// Rate of slow answers (correct bars after [`slow_extra`](Self::slow_extra) more latency).
    pub slow_rate: f64,
    /// Extra latency of a slow answer.
    pub slow_extra: Duration,
    /// Rate of empty answers (no bars, success) for ranges that do have bars.
    pub empty_rate: f64,
}

impl FaultConfig {
    /// No faults.
    pub fn none() -> Self {
        FaultConfig {
            seed: 0,
            error_rate: 0.0,
            timeout_rate: 0.0,
            hang: Duration::from_secs(30),
            pacing_rate: 0.0,
            pacing_retry_after: Duration::from_secs(1),
            slow_rate: 0.0,
            slow_extra: Duration::from_secs(2),
            empty_rate: 0.0,
        }
    }

    /// Checks that every rate is in `[0, 1]` and that they sum to at most 1.
    pub fn validate(&self) -> Result<(), SimConfigError> {
        let rates = self.rates();
        for (field, value) in rates {
            if !(0.0..=1.0).contains(&value) {
                return Err(SimConfigError::RateOutOfRange { field, value });
            }
        }
        let sum: f64 = rates.iter().map(|(_, r)| r).sum();
        if sum > 1.0 + 1e-9 {
            return Err(SimConfigError::RatesSumAboveOne { sum });
        }
        Ok(())
    }

    fn rates(&self) -> [(&'static str, f64); 5] {
        [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
            ("pacing_rate", self.pacing_rate),
            ("slow_rate", self.slow_rate),
            ("empty_rate", self.empty_rate),
        ]
    }

    /// The fault for the `attempt`-th sending (0-based) of `key`, if any.
    pub(crate) fn draw(&self, request: &RequestKey, attempt: u32) -> Option<Fault> {
        let u = uniform(key(&[
            self.seed,
            hash_str(request.symbol.as_str()),
            request.timeframe.seconds() as u64,
            request.range.start() as u64,
            request.range.end() as u64,
            u64::from(attempt),
        ]));
        let faults = [
            Fault::Error,
            Fault::Timeout,
            Fault::Pacing,
            Fault::Slow,
            Fault::Empty,
        ];
        let mut threshold = 0.0;
        for ((_, rate), fault) in self.rates().into_iter().zip(faults) {
            threshold += rate;
            if u < threshold {
                return Some(fault);
            }
        }
        None
    }
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self::none()
    }
}

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Error,
    Timeout,
    Pacing,
    Slow,
    Empty,
}
