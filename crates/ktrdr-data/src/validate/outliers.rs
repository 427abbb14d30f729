//! Robust outliers: log returns far from their rolling median, measured in rolling MAD units.
//!
//! A global z-score (the Python validator's) flags a whole trend: over 12 years of MSFT the
//! price moves from 37 to 470, so every late bar is "5 σ" from the mean. Returns have no
//! trend, and a rolling median with the median absolute deviation (the Hampel filter) follows
//! changes in volatility while one bad tick cannot move it.

/// Half-width of the rolling window, in returns: 25 on each side, about a week of 1h bars.
pub(crate) const HALF_WINDOW: usize = 25;
/// Flag returns more than this many robust standard deviations from the rolling median.
/// Calibrated on the IB files: at 10 only news-sized moves remain (MSFT's earnings gaps of
/// 4–10 %), at 5 every busy pre-market minute would be flagged.
pub(crate) const THRESHOLD: f64 = 10.0;
/// The rolling window, in returns. A run of bars with fewer returns is not scored: its window
/// would be the run itself, too few returns for a median and a MAD to mean anything.
pub(crate) const WINDOW: usize = 2 * HALF_WINDOW + 1;
/// The longest time between two bars whose return is still scored: a week (the longest closure
/// of a US exchange in decades, after September 11 2001, ran from a Monday to the next), or
/// four bars of weekly data. Over a longer hole in the data a price drifts as far as it likes
/// (RBLX's daily file jumps a year between two rows), and that is no one-bar move.
pub(crate) fn max_gap(bar_seconds: i64) -> i64 {
    (7 * 86_400).max(4 * bar_seconds)
}
/// MAD → standard deviation for normal data.
const MAD_TO_SIGMA: f64 = 1.4826;

/// A flagged return: index into the input returns, its robust score.
pub(crate) struct Outlier {
    pub(crate) index: usize,
    pub(crate) score: f64,
}

/// Finds the outlying returns in `returns`.
///
/// The scale is the rolling MAD, floored at the MAD of all non-zero returns: quiet stretches
/// (flat pre-market minutes, weekend FX quotes) have a rolling MAD of 0, and without the floor
/// a one-tick move there would score infinity.
pub(crate) fn find(returns: &[f64]) -> Vec<Outlier> {
    let n = returns.len();
    if n < WINDOW {
        return Vec::new();
    }
    let mut nonzero: Vec<f64> = returns.iter().copied().filter(|r| *r != 0.0).collect();
    let floor = if nonzero.is_empty() {
        return Vec::new();
    } else {
        let m = median(&mut nonzero);
        for r in &mut nonzero {
            *r = (*r - m).abs();
        }
        MAD_TO_SIGMA * median(&mut nonzero)
    };
    if floor <= 0.0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    // The window as a sorted vector, updated by one removal and one insertion per step
    // (a memmove of at most 51 values), so the rolling median costs no selection per bar.
    let mut sorted: Vec<f64> = Vec::with_capacity(2 * HALF_WINDOW + 1);
    let mut scratch = Vec::with_capacity(2 * HALF_WINDOW + 1);
    let (mut lo, mut hi) = (0, 0);
    for i in 0..n {
        let (want_lo, want_hi) = (i.saturating_sub(HALF_WINDOW), (i + HALF_WINDOW + 1).min(n));
        while hi < want_hi {
            let at = sorted.partition_point(|x| x.total_cmp(&returns[hi]).is_lt());
            sorted.insert(at, returns[hi]);
            hi += 1;
        }
        while lo < want_lo {
            let at = sorted.partition_point(|x| x.total_cmp(&returns[lo]).is_lt());
            sorted.remove(at);
            lo += 1;
        }
        let m = sorted_median(&sorted);
        // Cheap pre-check: even at the floor scale the return is unremarkable.
        if (returns[i] - m).abs() <= THRESHOLD * floor {
            continue;
        }
        scratch.clear();
        scratch.extend(sorted.iter().map(|r| (r - m).abs()));
        let scale = (MAD_TO_SIGMA * median(&mut scratch)).max(floor);
        let score = (returns[i] - m) / scale;
        if score.abs() > THRESHOLD {
            out.push(Outlier { index: i, score });
        }
    }
    out
}

fn sorted_median(v: &[f64]) -> f64 {
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Median by selection (reorders `v`); `v` must be non-empty and free of NaN.
fn median(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    let odd = v.len() % 2 == 1;
    let (lo, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if odd {
        m
    } else {
        let below = lo.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + m) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn a_trend_is_not_an_outlier_but_a_spike_is() {
        // Steady 0.1 % returns with small noise: a strong trend, no outliers.
        let mut r: Vec<f64> = (0..300)
            .map(|i| 0.001 + 0.0002 * ((i * 7919 % 13) as f64 - 6.0) / 6.0)
            .collect();
        assert!(find(&r).is_empty());
        r[150] = 0.05;
        let found = find(&r);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].index, 150);
        assert!(found[0].score > THRESHOLD);
    }

    #[test]
    fn flat_stretches_do_not_make_ticks_infinite() {
        // Mostly flat, with ordinary one-tick moves: the floor keeps them unflagged.
        let r: Vec<f64> = (0..200)
            .map(|i| match i % 10 {
                0 => 0.0002 * (1 + i % 3) as f64,
                5 => -0.0002,
                _ => 0.0,
            })
            .collect();
        assert!(find(&r).is_empty());
    }
}
