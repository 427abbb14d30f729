//! What history says about the total duration of an operation, before it starts.

use serde::{Deserialize, Serialize};

/// Relative half-width the range of a prior always has, at the least.
///
/// Ten runs of the same data load rarely agree to better than ±10 % (network, disk cache, broker
/// pacing), so a narrower range would claim a precision history never had.
const MIN_RELATIVE_SPREAD: f64 = 0.10;

/// Extra relative half-width per missing sample: `EXTRA_SPREAD_PER_SAMPLE / samples`.
///
/// One earlier run says little about the next (±40 %); the term fades as runs accumulate,
/// like the standard error of a mean, but faster, because past runs are not independent draws.
const EXTRA_SPREAD_PER_SAMPLE: f64 = 0.30;

/// From this many samples on, the range is the weighted 10th..90th percentile, below it min..max.
///
/// With fewer runs the 10 % tails are a single run anyway.
const QUANTILE_MIN_SAMPLES: usize = 5;

/// A learned expectation of an operation's total duration, in seconds.
///
/// `low_secs <= duration_secs <= high_secs` always holds and all three are finite and positive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    /// Expected total duration.
    pub duration_secs: f64,
    /// Short end of the usual range.
    pub low_secs: f64,
    /// Long end of the usual range.
    pub high_secs: f64,
    /// How many earlier runs this is learned from.
    pub samples: usize,
}

impl Prior {
    /// A prior from explicit values; `None` unless `0 < low <= duration <= high` and all finite.
    pub fn new(duration_secs: f64, low_secs: f64, high_secs: f64, samples: usize) -> Option<Self> {
        let ok = [duration_secs, low_secs, high_secs]
            .iter()
            .all(|v| v.is_finite())
            && 0.0 < low_secs
            && low_secs <= duration_secs
            && duration_secs <= high_secs;
        ok.then_some(Prior {
            duration_secs,
            low_secs,
            high_secs,
            samples,
        })
    }

    /// Learns a prior from past durations, oldest first; `None` when none is usable.
    ///
    /// The point is a recency-weighted **median** (run `i` of `n`, oldest first, weighs `i + 1`,
    /// as in the Python engine's mean): recency because machines and data sizes drift, the median
    /// because one run stuck behind a broker outage must not move every later estimate. Durations
    /// that are not finite and positive are skipped.
    pub fn from_durations(durations: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut weighted: Vec<(f64, f64)> = durations
            .into_iter()
            .filter(|d| d.is_finite() && *d > 0.0)
            .enumerate()
            .map(|(i, d)| (d, (i + 1) as f64))
            .collect();
        let n = weighted.len();
        if n == 0 {
            return None;
        }
        weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let point = weighted_quantile(&weighted, 0.5);
        let (low, high) = if n >= QUANTILE_MIN_SAMPLES {
            (
                weighted_quantile(&weighted, 0.1),
                weighted_quantile(&weighted, 0.9),
            )
        } else {
            (weighted[0].0, weighted[n - 1].0)
        };
        let spread = MIN_RELATIVE_SPREAD + EXTRA_SPREAD_PER_SAMPLE / n as f64;
        Prior::new(
            point,
            low.min(point * (1.0 - spread)),
            high.max(point * (1.0 + spread)),
            n,
        )
    }

    /// The same prior with its range widened by `factor` (> 1) around the point, for a prior
    /// borrowed from a coarser key.
    pub fn widened(self, factor: f64) -> Self {
        let factor = factor.max(1.0);
        Prior {
            low_secs: self.duration_secs - (self.duration_secs - self.low_secs) * factor,
            high_secs: self.duration_secs + (self.high_secs - self.duration_secs) * factor,
            ..self
        }
        .clamped()
    }

    /// Relative half-width of the range, the prior's own idea of its error.
    pub(crate) fn relative_spread(&self) -> f64 {
        (self.high_secs - self.low_secs) / (2.0 * self.duration_secs)
    }

    fn clamped(mut self) -> Self {
        // Widening must not push the short end to zero or below: a duration is positive.
        self.low_secs = self.low_secs.max(self.duration_secs * 0.05);
        self
    }
}

/// The weighted `q`-quantile of `sorted` (value, weight) pairs: the first value whose cumulative
/// weight reaches `q` of the total.
fn weighted_quantile(sorted: &[(f64, f64)], q: f64) -> f64 {
    let total: f64 = sorted.iter().map(|p| p.1).sum();
    let target = q * total;
    let mut acc = 0.0;
    for &(value, weight) in sorted {
        acc += weight;
        if acc >= target {
            return value;
        }
    }
    sorted.last().map_or(0.0, |p| p.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_runs_weigh_more_and_outliers_do_not_move_the_median() {
        // Old runs at 10 s, the last three at 20 s: weights 1..=4 vs 5..=7 -> 10 vs 18 of 28.
        let p = Prior::from_durations([10.0, 10.0, 10.0, 10.0, 20.0, 20.0, 20.0]).unwrap();
        assert_eq!(p.duration_secs, 20.0);
        let q = Prior::from_durations([10.0, 11.0, 10.0, 9.0, 500.0, 10.0]).unwrap();
        assert!((9.0..=11.0).contains(&q.duration_secs), "{q:?}");
        assert!(q.high_secs >= q.duration_secs && q.low_secs <= q.duration_secs);
    }

    #[test]
    fn range_is_never_narrower_than_the_minimum_spread() {
        let p = Prior::from_durations([30.0]).unwrap();
        assert_eq!(p.samples, 1);
        assert!((p.low_secs - 30.0 * 0.6).abs() < 1e-9, "{p:?}");
        assert!((p.high_secs - 30.0 * 1.4).abs() < 1e-9, "{p:?}");
        let many = Prior::from_durations(std::iter::repeat_n(30.0, 10)).unwrap();
        assert!((many.high_secs - 30.0 * 1.13).abs() < 1e-9, "{many:?}");
    }

    #[test]
    fn unusable_durations_are_skipped() {
        assert_eq!(
            Prior::from_durations([0.0, -1.0, f64::NAN, f64::INFINITY]),
            None
        );
        assert_eq!(Prior::from_durations([f64::NAN, 5.0]).unwrap().samples, 1);
        assert_eq!(Prior::new(5.0, 6.0, 7.0, 1), None);
        assert_eq!(Prior::new(5.0, 0.0, 7.0, 1), None);
    }

    #[test]
    fn widening_keeps_order_and_positivity() {
        let p = Prior::new(10.0, 8.0, 13.0, 3).unwrap().widened(10.0);
        assert_eq!(p.duration_secs, 10.0);
        assert_eq!(p.high_secs, 40.0);
        assert!(p.low_secs > 0.0 && p.low_secs <= 10.0);
    }
}
