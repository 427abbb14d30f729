//! When a failed request is sent again, and after how long.

use std::time::Duration;

/// The retry policy of segment fetches (and of symbol validation).
///
/// - Transient errors (timeouts, connection loss, 5xx) are retried up to
///   `max_attempts` sends in all, after an exponential backoff with jitter.
/// - Pacing violations are retried after the provider's retry-after, up to
///   `max_pacing_retries` times; they do not count against `max_attempts` (a pacing
///   violation says "later", not "broken").
/// - Other errors (not found, invalid request, fatal) are not retried.
/// - After `max_consecutive_failures` segments failed in a row, no new segment is started:
///   the source is down, and failing fast says so sooner than failing every segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends of one request, first one included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Upper bound of one backoff.
    pub max_delay: Duration,
    /// Pacing violations one request may meet before it counts as failed.
    pub max_pacing_retries: u32,
    /// An answer not in within this time counts as a transient timeout (`None`: wait for the
    /// provider's own timeout). Covers the provider call only, not the pacing wait.
    pub request_timeout: Option<Duration>,
    /// Failed segments in a row after which no new segment starts.
    pub max_consecutive_failures: u32,
}

impl Default for RetryPolicy {
    /// 4 sends, 250 ms doubling to at most 8 s (so 0.25 + 0.5 + 1 s of waiting before giving
    /// up on a transient error), 8 pacing retries, a 120 s answer timeout (IB answers a 30-day
    /// request of 1h bars in well under a minute), 3 failed segments in a row.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_pacing_retries: 8,
            request_timeout: Some(Duration::from_secs(120)),
            max_consecutive_failures: 3,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based) of request `salt`: `base * 2^(retry-1)`,
    /// capped at `max_delay`, scaled by a factor in `[0.5, 1)` drawn from `salt` and `retry`.
    /// The jitter spreads the retries of requests that failed together (one gateway hiccup)
    /// so they do not come back together; drawing it from a hash keeps runs reproducible.
    pub fn backoff(&self, retry: u32, salt: u64) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        let raw = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let u = unit(splitmix(
            salt ^ u64::from(retry).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        raw.mul_f64(0.5 + 0.5 * u)
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform value in `[0, 1)` from the top 53 bits.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let p = RetryPolicy::default();
        for salt in 0..50 {
            for retry in 1..=10 {
                let d = p.backoff(retry, salt);
                let raw = p
                    .base_delay
                    .saturating_mul(1 << (retry - 1))
                    .min(p.max_delay);
                assert!(d >= raw / 2 && d < raw, "retry {retry}: {d:?} vs {raw:?}");
            }
        }
        assert_eq!(p.backoff(7, 1), p.backoff(7, 1), "reproducible");
        assert_ne!(p.backoff(1, 1), p.backoff(1, 2), "jittered per request");
        assert!(p.backoff(u32::MAX, 3) < p.max_delay);
    }
}
