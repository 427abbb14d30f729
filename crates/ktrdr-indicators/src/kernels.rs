//! The numeric building blocks, as plain loops over slices: rolling windows, exponential
//! smoothing, true range. Each returns a fresh column of the input's length.
//!
//! NaN rules, shared by every indicator built on these:
//! - a rolling window containing a NaN yields NaN (pandas `rolling(n)` with `min_periods=n`);
//! - a recursive smoother skips a NaN input: its state is unchanged and the output holds the
//!   last average, NaN until the first finite input (pandas `ewm(..., ignore_na=True)`).

use std::collections::VecDeque;

const NAN: f64 = f64::NAN;

/// How often (in bars) a sliding window's running sums are recomputed from its values, so the
/// rounding of millions of add/remove steps cannot accumulate (pandas compensates each step
/// instead, which costs more than these occasional exact sums).
const RESUM_EVERY: usize = 64;

fn finite_sum(x: &[f64]) -> f64 {
    x.iter().filter(|v| v.is_finite()).sum()
}

/// Rolling mean over `n` bars; the first `n - 1` values are NaN.
pub fn rolling_mean(x: &[f64], n: usize) -> Vec<f64> {
    rolling_scaled_sum(x, n, 1.0 / n as f64)
}

/// Rolling sum over `n` bars; the first `n - 1` values are NaN.
pub fn rolling_sum(x: &[f64], n: usize) -> Vec<f64> {
    rolling_scaled_sum(x, n, 1.0)
}

fn rolling_scaled_sum(x: &[f64], n: usize, inv: f64) -> Vec<f64> {
    let mut out = vec![NAN; x.len()];
    if n == 0 || x.len() < n {
        return out;
    }
    // A running sum of the finite values and a count of the others: one NaN would otherwise
    // poison the sum for the rest of the series.
    let mut sum = 0.0;
    let mut bad = 0usize;
    for (i, &v) in x.iter().enumerate() {
        let finite = v.is_finite();
        sum += if finite { v } else { 0.0 };
        bad += usize::from(!finite);
        if i >= n {
            let old = x[i - n];
            let old_finite = old.is_finite();
            sum -= if old_finite { old } else { 0.0 };
            bad -= usize::from(!old_finite);
        }
        if i + 1 >= n {
            if i.is_multiple_of(RESUM_EVERY) {
                sum = finite_sum(&x[i + 1 - n..=i]);
            }
            if bad == 0 {
                out[i] = sum * inv;
            }
        }
    }
    out
}

/// Rolling mean and sample standard deviation (ddof 1) over `n ≥ 2` bars, from one pass.
///
/// The sum of squared deviations is updated with the exact identity for replacing one value
/// in a fixed-size window, `M2' = M2 + (new − old)(new − mean' + old − mean)`, which avoids the
/// cancellation of `Σx² − (Σx)²/n` on prices far from zero.
pub fn rolling_mean_std(x: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let len = x.len();
    let mut mean_out = vec![NAN; len];
    let mut std_out = vec![NAN; len];
    if n < 2 || len < n {
        return (mean_out, std_out);
    }
    let inv = 1.0 / n as f64;
    let inv_ddof = 1.0 / (n - 1) as f64;
    let mut i = 0;
    while i + n <= len {
        // (Re)start a window at i: two-pass over its n values.
        let window = &x[i..i + n];
        if let Some(p) = window.iter().rposition(|v| !v.is_finite()) {
            i += p + 1;
            continue;
        }
        let (mut mean, mut m2) = two_pass(window, inv);
        let mut end = i + n - 1;
        mean_out[end] = mean;
        std_out[end] = (m2 * inv_ddof).max(0.0).sqrt();
        // Slide while the incoming values are finite.
        while end + 1 < len {
            let new = x[end + 1];
            if !new.is_finite() {
                break;
            }
            end += 1;
            if end.is_multiple_of(RESUM_EVERY) {
                (mean, m2) = two_pass(&x[end + 1 - n..=end], inv);
            } else {
                let old = x[end - n];
                let new_mean = mean + (new - old) * inv;
                m2 += (new - old) * (new - new_mean + old - mean);
                mean = new_mean;
            }
            mean_out[end] = mean;
            std_out[end] = (m2 * inv_ddof).max(0.0).sqrt();
        }
        // Past the last slid window: restart after the NaN (or stop at the end).
        i = end + 2;
    }
    (mean_out, std_out)
}

/// The mean and the sum of squared deviations of a window with no NaN.
fn two_pass(window: &[f64], inv: f64) -> (f64, f64) {
    let mean = window.iter().sum::<f64>() * inv;
    (mean, window.iter().map(|v| (v - mean) * (v - mean)).sum())
}

/// Which extreme a [`rolling_extreme`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    /// The largest value.
    Max,
    /// The smallest value.
    Min,
}

/// Rolling maximum or minimum over `n` bars (a monotonic queue of indices, O(1) amortised per
/// bar); the first `n - 1` values, and any window holding a NaN, are NaN.
pub fn rolling_extreme(x: &[f64], n: usize, which: Extreme) -> Vec<f64> {
    let mut out = vec![NAN; x.len()];
    if n == 0 || x.len() < n {
        return out;
    }
    let mut queue: VecDeque<usize> = VecDeque::with_capacity(n + 1);
    let mut last_bad: Option<usize> = None;
    let dominated = |kept: f64, new: f64| match which {
        Extreme::Max => kept <= new,
        Extreme::Min => kept >= new,
    };
    for (i, &v) in x.iter().enumerate() {
        if !v.is_finite() {
            last_bad = Some(i);
            queue.clear();
            continue;
        }
        while queue.back().is_some_and(|&j| dominated(x[j], v)) {
            queue.pop_back();
        }
        queue.push_back(i);
        if queue.front().is_some_and(|&j| j + n <= i) {
            queue.pop_front();
        }
        let window_clean = last_bad.is_none_or(|b| b + n <= i);
        if i + 1 >= n && window_clean {
            if let Some(&j) = queue.front() {
                out[i] = x[j];
            }
        }
    }
    out
}

/// Bars since the window's extreme (0 = the current bar), over the `n + 1` bars ending at each
/// bar; on ties the most recent extreme counts. NaN where the window is incomplete or holds a
/// NaN. (Aroon's "periods since the high".)
pub fn bars_since_extreme(x: &[f64], n: usize, which: Extreme) -> Vec<f64> {
    let span = n + 1;
    let mut out = vec![NAN; x.len()];
    if x.len() < span {
        return out;
    }
    let mut queue: VecDeque<usize> = VecDeque::with_capacity(span + 1);
    let mut last_bad: Option<usize> = None;
    let dominated = |kept: f64, new: f64| match which {
        Extreme::Max => kept <= new,
        Extreme::Min => kept >= new,
    };
    for (i, &v) in x.iter().enumerate() {
        if !v.is_finite() {
            last_bad = Some(i);
            queue.clear();
            continue;
        }
        while queue.back().is_some_and(|&j| dominated(x[j], v)) {
            queue.pop_back();
        }
        queue.push_back(i);
        if queue.front().is_some_and(|&j| j + span <= i) {
            queue.pop_front();
        }
        if i + 1 >= span && last_bad.is_none_or(|b| b + span <= i) {
            if let Some(&j) = queue.front() {
                out[i] = (i - j) as f64;
            }
        }
    }
    out
}

/// pandas `ewm(alpha, adjust=True, ignore_na=True).mean()`: at each bar the weighted mean of all
/// finite inputs so far with weights `(1 − α)^age`. No seed: the first value is the first input.
pub fn ewm_adjusted(x: &[f64], alpha: f64) -> Vec<f64> {
    let decay = 1.0 - alpha;
    let mut out = Vec::with_capacity(x.len());
    let (mut num, mut den) = (0.0, 0.0);
    let mut last = NAN;
    for &v in x {
        if v.is_finite() {
            num = v + decay * num;
            den = 1.0 + decay * den;
            last = num / den;
        }
        out.push(last);
    }
    out
}

/// pandas `ewm(alpha, adjust=False, ignore_na=True).mean()`: `y = y_prev + α(x − y_prev)`,
/// seeded with the first finite input.
pub fn ewm_recursive(x: &[f64], alpha: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let mut y = NAN;
    for &v in x {
        if v.is_finite() {
            y = if y.is_nan() { v } else { y + alpha * (v - y) };
        }
        out.push(y);
    }
    out
}

/// True range: `max(H − L, |H − C_prev|, |L − C_prev|)`, and `H − L` on the first bar.
pub fn true_range(high: &[f64], low: &[f64], close: &[f64]) -> Vec<f64> {
    let len = high.len().min(low.len()).min(close.len());
    let mut out = Vec::with_capacity(len);
    if len == 0 {
        return out;
    }
    out.push(high[0] - low[0]);
    for i in 1..len {
        let (h, l, cp) = (high[i], low[i], close[i - 1]);
        out.push((h - l).max((h - cp).abs()).max((l - cp).abs()));
    }
    out
}

/// `x[i] − x[i − n]`; NaN for the first `n` bars.
pub fn difference(x: &[f64], n: usize) -> Vec<f64> {
    (0..x.len())
        .map(|i| if i >= n { x[i] - x[i - n] } else { NAN })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * y.abs().max(1.0)
            })
    }

    #[test]
    fn rolling_mean_warms_up_and_a_nan_blanks_only_its_windows() {
        let x = [1.0, 2.0, 3.0, NAN, 5.0, 6.0, 7.0];
        assert!(same(
            &rolling_mean(&x, 2),
            &[NAN, 1.5, 2.5, NAN, NAN, 5.5, 6.5]
        ));
    }

    #[test]
    fn rolling_std_matches_two_pass_and_restarts_after_nan() {
        let x = [1.0, 4.0, 2.0, 8.0, NAN, 3.0, 3.0, 9.0];
        let (m, s) = rolling_mean_std(&x, 3);
        assert!(same(
            &m,
            &[NAN, NAN, 7.0 / 3.0, 14.0 / 3.0, NAN, NAN, NAN, 5.0]
        ));
        let sd = |v: [f64; 3]| {
            let mu = v.iter().sum::<f64>() / 3.0;
            (v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / 2.0).sqrt()
        };
        let expected = [
            NAN,
            NAN,
            sd([1.0, 4.0, 2.0]),
            sd([4.0, 2.0, 8.0]),
            NAN,
            NAN,
            NAN,
            sd([3.0, 3.0, 9.0]),
        ];
        assert!(same(&s, &expected), "{s:?}");
    }

    #[test]
    fn rolling_extremes_and_bars_since() {
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        assert!(same(
            &rolling_extreme(&x, 3, Extreme::Max),
            &[NAN, NAN, 4.0, 4.0, 5.0, 9.0, 9.0, 9.0]
        ));
        assert!(same(
            &rolling_extreme(&x, 3, Extreme::Min),
            &[NAN, NAN, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
        ));
        // Window of 3 bars (n = 2): ties take the most recent.
        assert!(same(
            &bars_since_extreme(&x, 2, Extreme::Min),
            &[NAN, NAN, 1.0, 0.0, 1.0, 2.0, 0.0, 1.0]
        ));
        let with_nan = [1.0, NAN, 2.0, 3.0, 4.0];
        assert!(same(
            &rolling_extreme(&with_nan, 2, Extreme::Max),
            &[NAN, NAN, NAN, 3.0, 4.0]
        ));
    }

    #[test]
    fn ewm_forms_and_nan_skipping() {
        let x = [1.0, NAN, 3.0];
        // adjust=True: (3 + 0.5·1)/(1 + 0.5) with α = 0.5 (the NaN does not age the weights).
        assert!(same(&ewm_adjusted(&x, 0.5), &[1.0, 1.0, 3.5 / 1.5]));
        assert!(same(&ewm_recursive(&x, 0.5), &[1.0, 1.0, 2.0]));
        assert!(same(&ewm_recursive(&[NAN, 2.0], 0.5), &[NAN, 2.0]));
    }

    #[test]
    fn true_range_uses_the_previous_close() {
        let tr = true_range(&[10.0, 12.0, 11.0], &[9.0, 11.5, 7.0], &[9.5, 11.8, 8.0]);
        assert!(same(&tr, &[1.0, 2.5, 4.8]));
    }
}
