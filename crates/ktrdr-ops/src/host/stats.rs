//! Per-endpoint call statistics of a host client.
//!
//! # Invariants
//!
//! 1. One `std::sync::Mutex` guards the whole table; it is the only lock in this module, so
//!    there is no lock order. It is held only to update or copy counters, never across an
//!    `.await` and never while running caller code.
//! 2. Each endpoint keeps at most `window` latency samples (a ring: the oldest is overwritten),
//!    and the table holds at most `max_endpoints` labels; calls to further labels are counted
//!    under [`OVERFLOW_ENDPOINT`], so memory is bounded whatever paths callers use.
//! 3. A call is recorded once, when it ends: `requests = successes + errors + cancelled`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The label under which calls are counted once the endpoint table is full.
pub const OVERFLOW_ENDPOINT: &str = "(other endpoints)";

/// What a host client saw of one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// The endpoint label, `"METHOD /path"` unless the request named it otherwise.
    pub endpoint: String,
    /// Calls made (each counted once, however many attempts it took).
    pub requests: u64,
    /// Calls that ended with a decoded success response.
    pub successes: u64,
    /// Calls that ended with an error other than cancellation.
    pub errors: u64,
    /// Calls abandoned because their token was cancelled.
    pub cancelled: u64,
    /// Extra attempts made after a retryable failure, over all calls.
    pub retries: u64,
    /// Latency of recent completed calls (cancelled calls excluded: their duration measures
    /// the caller, not the service); `None` before the first one.
    pub latency: Option<LatencySummary>,
}

/// Latency percentiles, in milliseconds, over the most recent calls of one endpoint
/// (end to end: all attempts and backoff waits included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// How many recent calls the figures cover (at most the client's stats window).
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

/// How a call ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Error,
    Cancelled,
}

pub(crate) struct StatsTable {
    window: usize,
    max_endpoints: usize,
    endpoints: Mutex<HashMap<String, Record>>,
}

#[derive(Default)]
struct Record {
    requests: u64,
    successes: u64,
    errors: u64,
    cancelled: u64,
    retries: u64,
    latencies: VecDeque<Duration>,
}

impl StatsTable {
    pub(crate) fn new(window: usize, max_endpoints: usize) -> Self {
        StatsTable {
            window: window.max(1),
            max_endpoints: max_endpoints.max(1),
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn record(&self, endpoint: &str, outcome: Outcome, retries: u32, took: Duration) {
        // A panic elsewhere while holding the lock leaves only counters half-updated; they stay
        // usable, so poisoning is ignored rather than turned into a second panic.
        let mut endpoints = self
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let full = endpoints.len() >= self.max_endpoints && !endpoints.contains_key(endpoint);
        let label = if full { OVERFLOW_ENDPOINT } else { endpoint };
        let record = endpoints.entry(label.to_owned()).or_default();
        record.requests += 1;
        record.retries += u64::from(retries);
        match outcome {
            Outcome::Success => record.successes += 1,
            Outcome::Error => record.errors += 1,
            Outcome::Cancelled => record.cancelled += 1,
        }
        if outcome != Outcome::Cancelled {
            if record.latencies.len() == self.window {
                record.latencies.pop_front();
            }
            record.latencies.push_back(took);
        }
    }

    /// A snapshot, sorted by endpoint label. Percentiles are computed here, off the hot path.
    pub(crate) fn snapshot(&self) -> Vec<EndpointStats> {
        let copied: Vec<(String, Record)> = {
            let endpoints = self
                .endpoints
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            endpoints
                .iter()
                .map(|(label, r)| {
                    let copy = Record {
                        requests: r.requests,
                        successes: r.successes,
                        errors: r.errors,
                        cancelled: r.cancelled,
                        retries: r.retries,
                        latencies: r.latencies.clone(),
                    };
                    (label.clone(), copy)
                })
                .collect()
        };
        let mut out: Vec<EndpointStats> = copied
            .into_iter()
            .map(|(endpoint, r)| EndpointStats {
                endpoint,
                requests: r.requests,
                successes: r.successes,
                errors: r.errors,
                cancelled: r.cancelled,
                retries: r.retries,
                latency: summarise(r.latencies.into_iter().collect()),
            })
            .collect();
        out.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        out
    }
}

fn summarise(mut samples: Vec<Duration>) -> Option<LatencySummary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total: Duration = samples.iter().sum();
    Some(LatencySummary {
        samples: samples.len(),
        p50_ms: ms(nearest_rank(&samples, 0.50)),
        p95_ms: ms(nearest_rank(&samples, 0.95)),
        p99_ms: ms(nearest_rank(&samples, 0.99)),
        max_ms: ms(samples[samples.len() - 1]),
        mean_ms: ms(total) / samples.len() as f64,
    })
}

/// The nearest-rank percentile: the smallest sample with at least `q` of the samples at or
/// below it. (The Python system indexed `int(n·q)`, which reports the maximum as p99 for
/// n = 100 and overshoots for small n.)
fn nearest_rank(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        let s = summarise(samples).unwrap();
        assert_eq!(s.samples, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p95_ms, 95.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert_eq!(s.mean_ms, 50.5);
        let one = summarise(vec![ms(7)]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (7.0, 7.0, 7.0));
        assert!(summarise(Vec::new()).is_none());
    }

    #[test]
    fn window_keeps_only_recent_latencies() {
        let table = StatsTable::new(3, 10);
        for n in [1000, 1, 2, 3] {
            table.record("GET /x", Outcome::Success, 0, ms(n));
        }
        let s = &table.snapshot()[0];
        assert_eq!(s.requests, 4);
        let lat = s.latency.as_ref().unwrap();
        assert_eq!((lat.samples, lat.max_ms), (3, 3.0));
    }

    #[test]
    fn counters_add_up_and_cancelled_calls_have_no_latency() {
        let table = StatsTable::new(16, 10);
        table.record("GET /a", Outcome::Success, 2, ms(10));
        table.record("GET /a", Outcome::Error, 3, ms(20));
        table.record("GET /a", Outcome::Cancelled, 0, ms(5000));
        let s = &table.snapshot()[0];
        assert_eq!(
            (s.requests, s.successes, s.errors, s.cancelled, s.retries),
            (3, 1, 1, 1, 5)
        );
        assert_eq!(s.latency.as_ref().unwrap().max_ms, 20.0);
    }

    #[test]
    fn endpoint_table_is_bounded() {
        let table = StatsTable::new(4, 2);
        for sym in ["AAPL", "MSFT", "EURUSD", "GBPUSD"] {
            table.record(
                &format!("GET /data/symbol-info/{sym}"),
                Outcome::Success,
                0,
                ms(1),
            );
        }
        table.record("GET /data/symbol-info/AAPL", Outcome::Success, 0, ms(1));
        let snap = table.snapshot();
        let labels: Vec<(&str, u64)> = snap
            .iter()
            .map(|s| (s.endpoint.as_str(), s.requests))
            .collect();
        assert_eq!(
            labels,
            [
                (OVERFLOW_ENDPOINT, 2),
                ("GET /data/symbol-info/AAPL", 2),
                ("GET /data/symbol-info/MSFT", 1),
            ]
        );
    }
}
