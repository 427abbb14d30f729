//! When and how long to wait before trying a host-service request again.

use std::time::Duration;

use reqwest::Method;

use super::client::BuildError;

/// Retries with exponential backoff and jitter.
///
/// Retry `n` (1-based) waits `min(max_delay, base_delay · 2ⁿ⁻¹)`, of which the last `jitter`
/// fraction is random: the wait is drawn uniformly from `[d · (1 − jitter), d]`. Jitter spreads
/// the retries of many clients that failed together (a host service restarting) so they do not
/// come back in lockstep; `jitter = 1.0` is AWS's "full jitter", `0.0` makes waits exact.
///
/// Only transient failures are retried (see [`HostError::is_retryable`]), and only for
/// requests that are safe to repeat (see the [module docs](super)).
///
/// ```
/// use std::time::Duration;
/// use ktrdr_ops::host::RetryPolicy;
///
/// let policy = RetryPolicy { max_attempts: 5, ..RetryPolicy::default() };
/// assert_eq!(policy.max_attempts, 5);
/// assert_eq!(RetryPolicy::none().max_attempts, 1);
/// ```
///
/// [`HostError::is_retryable`]: super::HostError::is_retryable
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; `1` disables retries. At least 1.
    pub max_attempts: u32,
    /// Wait before the first retry.
    pub base_delay: Duration,
    /// Upper bound of any single wait; at least `base_delay`.
    pub max_delay: Duration,
    /// Random fraction of each wait, in `0.0..=1.0`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// Four attempts (the Python system's `max_retries = 3` plus the first), waits of about
    /// 0.25 s, 0.5 s, 1 s: a host service on the LAN that restarts is back within seconds, and a
    /// caller with a progress bar should not sit through the Python system's 1 + 2 + 4 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// A single attempt, never retried.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let invalid = |field, requirement| BuildError::InvalidRetryPolicy { field, requirement };
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

    /// The wait before retry number `retry` (1-based), given a uniform random `unit` in
    /// `[0, 1]` (kept as a parameter so the schedule is testable without a seeded RNG).
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let random_part = full.mul_f64(self.jitter * unit.clamp(0.0, 1.0));
        full.saturating_sub(random_part)
    }

    pub(crate) fn jittered_delay(&self, retry: u32) -> Duration {
        let unit = if self.jitter > 0.0 {
            rand::random::<f64>()
        } else {
            0.0
        };
        self.delay(retry, unit)
    }
}

/// A request may be repeated when its method is idempotent (RFC 9110 §9.2.2), or when it
/// carries an idempotency key that lets the server recognise the repeat.
pub(crate) fn may_repeat(method: &Method, has_idempotency_key: bool) -> bool {
    has_idempotency_key
        || matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::PUT
                | Method::DELETE
                | Method::OPTIONS
                | Method::TRACE
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(base_ms: u64, max_ms: u64, jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(base_ms),
            max_delay: Duration::from_millis(max_ms),
            jitter,
        }
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let p = policy(100, 1000, 0.0);
        let waits: Vec<u128> = (1..=6).map(|n| p.delay(n, 0.7).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        // A huge retry number neither overflows nor exceeds the cap.
        assert_eq!(p.delay(u32::MAX, 0.0), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_draws_from_the_top_fraction_of_the_wait() {
        let p = policy(100, 10_000, 0.5);
        assert_eq!(p.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(p.delay(3, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(300));
        for _ in 0..200 {
            let d = p.jittered_delay(3);
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400));
        }
        let full = policy(100, 10_000, 1.0);
        assert_eq!(full.delay(1, 1.0), Duration::ZERO);
    }

    #[test]
    fn invalid_policies_are_rejected_naming_the_field() {
        let bad = [
            (
                RetryPolicy {
                    max_attempts: 0,
                    ..RetryPolicy::default()
                },
                "max_attempts",
            ),
            (policy(500, 100, 0.1), "max_delay"),
            (policy(100, 500, 1.5), "jitter"),
            (policy(100, 500, f64::NAN), "jitter"),
        ];
        for (p, field) in bad {
            match p.validate() {
                Err(BuildError::InvalidRetryPolicy { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{p:?}: {other:?}"),
            }
        }
        assert!(RetryPolicy::default().validate().is_ok());
        assert!(RetryPolicy::none().validate().is_ok());
    }

    #[test]
    fn only_idempotent_or_keyed_requests_repeat() {
        assert!(may_repeat(&Method::GET, false));
        assert!(may_repeat(&Method::DELETE, false));
        assert!(may_repeat(&Method::PUT, false));
        assert!(!may_repeat(&Method::POST, false));
        assert!(!may_repeat(&Method::PATCH, false));
        assert!(may_repeat(&Method::POST, true));
    }
}
