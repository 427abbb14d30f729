//! The one retry schedule of the workspace: [`Backoff`], exponential backoff with jitter drawn
//! reproducibly through the kernel's one seeded mixer ([`crate::mix`]).
//!
//! Both the host client ([`crate::host::HostClient`]) and the market-data manager retry with a
//! `Backoff`. Who retries what is decided once, in `docs/ARCHITECTURE.md` ("Retries"): a
//! caller that retries a whole operation gives the transport under it `Backoff::none()`, so
//! retries never nest.

use std::time::Duration;

use crate::mix::{mix, unit};

/// How many sends, and how long to wait between them.
///
/// Retry `n` (1-based) waits `min(max_delay, base_delay · 2ⁿ⁻¹)`, of which the last `jitter`
/// fraction is random: the wait is drawn from `[d · (1 − jitter), d]`. Jitter spreads the
/// retries of many requests that failed together (a gateway restarting) so they do not come
/// back in lockstep; `jitter = 1.0` is AWS's "full jitter", `0.0` makes waits exact.
///
/// ```
/// use std::time::Duration;
/// use ktrdr_ops::retry::Backoff;
///
/// let b = Backoff { max_attempts: 5, jitter: 0.0, ..Backoff::default() };
/// assert_eq!(b.delay(1, 0.3), Duration::from_millis(250));
/// assert_eq!(b.delay(3, 0.3), Duration::from_secs(1));
/// assert_eq!(Backoff::none().max_attempts, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Sends in all, the first included; `1` disables retries. At least 1.
    pub max_attempts: u32,
    /// Wait before the first retry.
    pub base_delay: Duration,
    /// Upper bound of any single wait; at least `base_delay`.
    pub max_delay: Duration,
    /// Random fraction of each wait, in `0.0..=1.0`.
    pub jitter: f64,
}

impl Default for Backoff {
    /// Four sends (the Python system's `max_retries = 3` plus the first), waits of about
    /// 0.25 s, 0.5 s, 1 s (jitter 0.5) capped at 8 s: a service on the LAN that restarts is
    /// back within seconds, and a caller with a progress bar should not sit through the Python
    /// system's 1 + 2 + 4 s.
    fn default() -> Self {
        Backoff {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            jitter: 0.5,
        }
    }
}

/// A [`Backoff`] field out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid retry policy: {field} must be {requirement}")]
pub struct InvalidBackoff {
    /// The field.
    pub field: &'static str,
    /// What it must be.
    pub requirement: &'static str,
}

impl Backoff {
    /// A single send, never retried.
    pub fn none() -> Self {
        Backoff {
            max_attempts: 1,
            ..Backoff::default()
        }
    }

    /// Checks the fields.
    ///
    /// # Errors
    ///
    /// [`InvalidBackoff`] naming the field: no attempts, `max_delay < base_delay`, a jitter
    /// outside `0.0..=1.0`.
    pub fn validate(&self) -> Result<(), InvalidBackoff> {
        let invalid = |field, requirement| InvalidBackoff { field, requirement };
        if self.max_attempts == 0 {
            return Err(invalid("max_attempts", "at least 1"));
        }
        if self.max_delay < self.base_delay {
            return Err(invalid("max_delay", "at least base_delay"));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(invalid("jitter", "a fraction in 0.0..=1.0"));
        }
        Ok(())
    }

    /// Whether a request that has been sent `sent` times may be sent again.
    pub fn allows_another(&self, sent: u32) -> bool {
        sent < self.max_attempts
    }

    /// The wait before retry number `retry` (1-based), given a uniform `unit` in `[0, 1]`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let random_part = full.mul_f64(self.jitter * unit.clamp(0.0, 1.0));
        full.saturating_sub(random_part)
    }

    /// The wait before retry `retry` of the request identified by `seed`: the jitter is drawn
    /// from `seed` and `retry` through [`crate::mix::mix`], so a run is reproducible and
    /// requests that failed together still spread out.
    pub fn seeded_delay(&self, retry: u32, seed: u64) -> Duration {
        let draw = mix(seed ^ u64::from(retry).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.delay(retry, unit(draw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(base_ms: u64, max_ms: u64, jitter: f64) -> Backoff {
        Backoff {
            max_attempts: 10,
            base_delay: Duration::from_millis(base_ms),
            max_delay: Duration::from_millis(max_ms),
            jitter,
        }
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let b = exact(100, 1000, 0.0);
        let waits: Vec<u128> = (1..=6).map(|n| b.delay(n, 0.7).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        // A huge retry number neither overflows nor exceeds the cap.
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_draws_from_the_top_fraction_of_the_wait() {
        let b = exact(100, 10_000, 0.5);
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.5), Duration::from_millis(300));
        for seed in 0..200 {
            let d = b.seeded_delay(3, seed);
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400));
        }
        assert_eq!(exact(100, 10_000, 1.0).delay(1, 1.0), Duration::ZERO);
    }

    #[test]
    fn seeded_delays_are_reproducible_and_differ_per_request() {
        let b = Backoff::default();
        assert_eq!(b.seeded_delay(2, 7), b.seeded_delay(2, 7));
        assert_ne!(b.seeded_delay(1, 1), b.seeded_delay(1, 2));
    }

    #[test]
    fn invalid_policies_are_rejected_naming_the_field() {
        let bad = [
            (
                Backoff {
                    max_attempts: 0,
                    ..Backoff::default()
                },
                "max_attempts",
            ),
            (exact(500, 100, 0.1), "max_delay"),
            (exact(100, 500, 1.5), "jitter"),
            (exact(100, 500, f64::NAN), "jitter"),
        ];
        for (b, field) in bad {
            assert_eq!(b.validate().map_err(|e| e.field), Err(field), "{b:?}");
        }
        assert!(Backoff::default().validate().is_ok());
        assert!(Backoff::none().validate().is_ok());
        assert!(Backoff::none().allows_another(0) && !Backoff::none().allows_another(1));
    }
}
