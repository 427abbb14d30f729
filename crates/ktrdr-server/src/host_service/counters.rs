//! The counters behind `/health/detailed`.
//!
//! # Invariants
//!
//! 1. `total` and `errors` only grow; `errors <= total` as seen by a reader that loads `errors`
//!    first (a request is counted in `total` when it starts, in `errors` when it ends).
//! 2. `active` is incremented when a request starts and decremented exactly once when its
//!    [`InFlight`] guard drops, also when the request future is dropped (client gone).
//! 3. The counters are statistics: `Relaxed` atomics, no decision depends on them.
//!
//! # Lock order
//!
//! One lock, `last_error` (a `std::sync::Mutex<Option<String>>`), held only to swap a string.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// What the host service did since it started.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStats {
    /// Data requests received.
    pub total_requests: u64,
    /// Data requests answered with an error (`success:false` or 5xx).
    pub error_count: u64,
    /// Requests being served now.
    pub active_requests: u64,
    /// The text of the last error.
    pub last_error: Option<String>,
    /// Seconds since start.
    pub uptime_seconds: f64,
}

pub(crate) struct Counters {
    started: Instant,
    total: AtomicU64,
    errors: AtomicU64,
    active: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Counts one request in flight; see invariant 2.
pub(crate) struct InFlight<'a> {
    counters: &'a Counters,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counters.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            started: Instant::now(),
            total: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            active: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// A data request starts.
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.active.fetch_add(1, Ordering::Relaxed);
        InFlight { counters: self }
    }

    /// A data request was answered with an error.
    pub(crate) fn error(&self, text: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(text.to_owned());
    }

    pub(crate) fn snapshot(&self) -> ServiceStats {
        let error_count = self.errors.load(Ordering::Relaxed);
        ServiceStats {
            total_requests: self.total.load(Ordering::Relaxed),
            error_count,
            active_requests: self.active.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_guards_count_down_and_errors_keep_the_last_text() {
        let c = Counters::new();
        let a = c.start();
        let b = c.start();
        assert_eq!(c.snapshot().active_requests, 2);
        drop(a);
        c.error("first");
        c.error("second");
        drop(b);
        let s = c.snapshot();
        assert_eq!(
            (s.total_requests, s.error_count, s.active_requests),
            (2, 2, 0)
        );
        assert_eq!(s.last_error.as_deref(), Some("second"));
    }
}
