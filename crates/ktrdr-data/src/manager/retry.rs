//! When a failed request of a load is sent again, and after how long.

use std::time::Duration;

use ktrdr_ops::retry::Backoff;

/// The retry policy of segment fetches (and of symbol validation).
///
/// - Transient errors (timeouts, connection loss, 5xx) are retried per `backoff`
///   (`backoff.max_attempts` sends in all, exponential waits with jitter drawn per request).
///   The manager is the one layer that retries a load's requests: the transport under a
///   provider sends each request once (see `docs/ARCHITECTURE.md`, "Retries").
/// - Pacing violations are retried after the provider's retry-after, up to
///   `max_pacing_retries` times; they do not count against `max_attempts` (a pacing
///   violation says "later", not "broken").
/// - Other errors (not found, invalid request, fatal) are not retried.
/// - After `max_consecutive_failures` segments failed in a row, no new segment is started:
///   the source is down, and failing fast says so sooner than failing every segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Sends of one request and the waits between them.
    pub backoff: Backoff,
    /// Pacing violations one request may meet before it counts as failed.
    pub max_pacing_retries: u32,
    /// An answer not in within this time counts as a transient timeout (`None`: wait for the
    /// provider's own timeout). Covers the provider call only, not the pacing wait.
    pub request_timeout: Option<Duration>,
    /// Failed segments in a row after which no new segment starts.
    pub max_consecutive_failures: u32,
    /// The total time one segment (or the symbol validation, or the head-timestamp query) may
    /// spend waiting for answers and backing off, across all its attempts (`None`: only `request_timeout` bounds each attempt). Pacing waits do not
    /// count: they are the broker's rules, not a failure. Each attempt's timeout is cut to
    /// what is left, so a host that never answers fails a segment after this long, not after
    /// `max_attempts × request_timeout`.
    pub segment_deadline: Option<Duration>,
    /// A request still unanswered after this long logs a warning (once per attempt), so a
    /// silent host is visible even with the progress display off.
    pub slow_answer_warning: Duration,
}

impl Default for RetryPolicy {
    /// [`Backoff::default`] (4 sends, 250 ms doubling to at most 8 s, so about 0.25 + 0.5 + 1 s
    /// of waiting before giving up on a transient error), 8 pacing retries, a 120 s answer
    /// timeout (IB answers a 30-day request of 1h bars in well under a minute), 3 failed
    /// segments in a row, 180 s in all per segment, a warning after 30 s without an answer.
    fn default() -> Self {
        RetryPolicy {
            backoff: Backoff::default(),
            max_pacing_retries: 8,
            request_timeout: Some(Duration::from_secs(120)),
            max_consecutive_failures: 3,
            segment_deadline: Some(Duration::from_secs(180)),
            slow_answer_warning: Duration::from_secs(30),
        }
    }
}
