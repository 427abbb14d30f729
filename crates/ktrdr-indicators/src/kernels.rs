//! The numeric building blocks: streaming windows ([`RollingSum`], [`RollingMoments`],
//! [`RollingExtreme`]) that take one value at a time, so an indicator is one loop over its
//! inputs writing its outputs with no intermediate columns, plus slice helpers built on them.
//!
//! NaN rules, shared by every indicator built on these:
//! - a rolling window containing a NaN yields NaN (pandas `rolling(n)` with `min_periods=n`);
//! - a recursive smoother skips a NaN input: its state is unchanged and the output holds the
//!   last average, NaN until the first finite input (pandas `ewm(..., ignore_na=True)`).

use std::collections::VecDeque;

use crate::fast::{self, all_finite};

const NAN: f64 = f64::NAN;

/// How often (in values) a window's running sums are recomputed from its values, so the
/// rounding of millions of add/remove steps cannot accumulate (pandas compensates each step
/// instead, which costs more than these occasional exact sums).
const RESUM_EVERY: usize = 64;

/// The last `n` values, in a ring.
#[derive(Debug, Clone)]
struct Ring {
    buf: Vec<f64>,
    pos: usize,
    seen: usize,
}

impl Ring {
    fn new(n: usize) -> Self {
        Ring {
            buf: vec![0.0; n.max(1)],
            pos: 0,
            seen: 0,
        }
    }

    /// Stores `v`, returning the value it displaces once the ring is full.
    fn push(&mut self, v: f64) -> Option<f64> {
        let old = std::mem::replace(&mut self.buf[self.pos], v);
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
        }
        self.seen += 1;
        (self.seen > self.buf.len()).then_some(old)
    }

    fn full(&self) -> bool {
        self.seen >= self.buf.len()
    }
}

/// The sum of the last `n` values; `None` until `n` values have come and while one of the last
/// `n` is not finite.
#[derive(Debug, Clone)]
pub struct RollingSum {
    ring: Ring,
    sum: f64,
    bad: usize,
}

impl RollingSum {
    /// A window of `n ≥ 1` values.
    pub fn new(n: usize) -> Self {
        RollingSum {
            ring: Ring::new(n),
            sum: 0.0,
            bad: 0,
        }
    }

    /// Adds `v` and returns the window's sum.
    pub fn push(&mut self, v: f64) -> Option<f64> {
        // A running sum of the finite values and a count of the others: one NaN would otherwise
        // poison the sum for the rest of the series.
        self.sum += if v.is_finite() { v } else { 0.0 };
        self.bad += usize::from(!v.is_finite());
        if let Some(old) = self.ring.push(v) {
            self.sum -= if old.is_finite() { old } else { 0.0 };
            self.bad -= usize::from(!old.is_finite());
        }
        if self.ring.seen.is_multiple_of(RESUM_EVERY) {
            self.sum = self.ring.buf.iter().filter(|v| v.is_finite()).sum();
        }
        (self.ring.full() && self.bad == 0).then_some(self.sum)
    }
}

/// Mean and sample standard deviation (ddof 1) of the last `n ≥ 2` values.
///
/// The sum of squared deviations is updated with the exact identity for replacing one value of
/// a fixed-size window, `M2' = M2 + (new − old)(new − mean' + old − mean)`, which avoids the
/// cancellation of `Σx² − (Σx)²/n` on prices far from zero; a window that becomes clean (after
/// the warm-up or a NaN) and every 64th one start from an exact two-pass sum instead.
#[derive(Debug, Clone)]
pub struct RollingMoments {
    ring: Ring,
    bad: usize,
    ready: bool,
    mean: f64,
    m2: f64,
    inv_n: f64,
    inv_ddof: f64,
}

impl RollingMoments {
    /// A window of `n ≥ 2` values (`n < 2` is treated as 2: a sample deviation needs two).
    pub fn new(n: usize) -> Self {
        let n = n.max(2);
        RollingMoments {
            ring: Ring::new(n),
            bad: 0,
            ready: false,
            mean: 0.0,
            m2: 0.0,
            inv_n: 1.0 / n as f64,
            inv_ddof: 1.0 / (n - 1) as f64,
        }
    }

    /// Adds `v` and returns the window's `(mean, std)`.
    pub fn push(&mut self, v: f64) -> Option<(f64, f64)> {
        self.bad += usize::from(!v.is_finite());
        let old = self.ring.push(v);
        if let Some(old) = old {
            self.bad -= usize::from(!old.is_finite());
        }
        if !self.ring.full() || self.bad > 0 {
            self.ready = false;
            return None;
        }
        match old {
            Some(old) if self.ready && !self.ring.seen.is_multiple_of(RESUM_EVERY) => {
                let mean = self.mean + (v - old) * self.inv_n;
                self.m2 += (v - old) * (v - mean + old - self.mean);
                self.mean = mean;
            }
            _ => {
                let buf = &self.ring.buf;
                self.mean = buf.iter().sum::<f64>() * self.inv_n;
                self.m2 = buf.iter().map(|x| (x - self.mean) * (x - self.mean)).sum();
                self.ready = true;
            }
        }
        Some((self.mean, (self.m2 * self.inv_ddof).max(0.0).sqrt()))
    }
}

/// Which extreme a [`RollingExtreme`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extreme {
    /// The largest value.
    Max,
    /// The smallest value.
    Min,
}

/// The largest or smallest of the last `n` values, with its age: a monotonic queue, O(1)
/// amortised per value. On ties the most recent value is kept.
#[derive(Debug, Clone)]
pub struct RollingExtreme {
    n: usize,
    which: Extreme,
    queue: VecDeque<(usize, f64)>,
    seen: usize,
    last_bad: Option<usize>,
}

impl RollingExtreme {
    /// A window of `n ≥ 1` values.
    pub fn new(n: usize, which: Extreme) -> Self {
        let n = n.max(1);
        RollingExtreme {
            n,
            which,
            queue: VecDeque::with_capacity(n + 1),
            seen: 0,
            last_bad: None,
        }
    }

    /// Adds `v` and returns the window's extreme and how many values ago it came (0 = `v`).
    pub fn push(&mut self, v: f64) -> Option<(f64, usize)> {
        let i = self.seen;
        self.seen += 1;
        if !v.is_finite() {
            self.last_bad = Some(i);
            self.queue.clear();
            return None;
        }
        let which = self.which;
        while self.queue.back().is_some_and(|&(_, kept)| match which {
            Extreme::Max => kept <= v,
            Extreme::Min => kept >= v,
        }) {
            self.queue.pop_back();
        }
        self.queue.push_back((i, v));
        if self.queue.front().is_some_and(|&(j, _)| j + self.n <= i) {
            self.queue.pop_front();
        }
        let clean = self.last_bad.is_none_or(|b| b + self.n <= i);
        if i + 1 < self.n || !clean {
            return None;
        }
        self.queue.front().map(|&(j, x)| (x, i - j))
    }
}

/// Rolling mean over `n` bars; the first `n - 1` values are NaN.
pub fn rolling_mean(x: &[f64], n: usize) -> Vec<f64> {
    let inv = 1.0 / n as f64;
    if all_finite(&[&x[fast::leading_nans(x)..]]) {
        return fast::rolling_sums(x, n, inv);
    }
    let mut w = RollingSum::new(n);
    x.iter()
        .map(|&v| w.push(v).map_or(NAN, |s| s * inv))
        .collect()
}

/// Rolling sum over `n` bars; the first `n - 1` values are NaN.
pub fn rolling_sum(x: &[f64], n: usize) -> Vec<f64> {
    if all_finite(&[&x[fast::leading_nans(x)..]]) {
        return fast::rolling_sums(x, n, 1.0);
    }
    let mut w = RollingSum::new(n);
    x.iter().map(|&v| w.push(v).unwrap_or(NAN)).collect()
}

/// Rolling maximum or minimum over `n` bars; NaN during the warm-up and for windows with a NaN.
pub fn rolling_extreme(x: &[f64], n: usize, which: Extreme) -> Vec<f64> {
    let mut w = RollingExtreme::new(n, which);
    x.iter()
        .map(|&v| w.push(v).map_or(NAN, |(e, _)| e))
        .collect()
}

/// pandas `ewm(alpha, adjust=True, ignore_na=True).mean()`: at each bar the weighted mean of all
/// finite inputs so far with weights `(1 − α)^age`. No seed: the first value is the first input.
pub fn ewm_adjusted(x: &[f64], alpha: f64) -> Vec<f64> {
    if all_finite(&[x]) {
        return fast::ewm_adjusted(x, alpha);
    }
    let decay = 1.0 - alpha;
    let (mut num, mut den) = (0.0, 0.0);
    let mut last = NAN;
    x.iter()
        .map(|&v| {
            if v.is_finite() {
                num = v + decay * num;
                den = 1.0 + decay * den;
                last = num / den;
            }
            last
        })
        .collect()
}

/// One step of pandas `ewm(alpha, adjust=False, ignore_na=True)`: `y + α(x − y)`, seeded with
/// the first finite input, unchanged by a non-finite one.
#[inline]
pub fn ewm_step(y: f64, x: f64, alpha: f64) -> f64 {
    if !x.is_finite() {
        y
    } else if y.is_nan() {
        x
    } else {
        y + alpha * (x - y)
    }
}

/// pandas `ewm(alpha, adjust=False, ignore_na=True).mean()` (see [`ewm_step`]).
pub fn ewm_recursive(x: &[f64], alpha: f64) -> Vec<f64> {
    if all_finite(&[x]) {
        return fast::ewm_recursive(x, alpha);
    }
    let mut y = NAN;
    x.iter()
        .map(|&v| {
            y = ewm_step(y, v, alpha);
            y
        })
        .collect()
}

/// The true range of bar `i`: `max(H − L, |H − C_prev|, |L − C_prev|)`, and `H − L` on bar 0.
#[inline]
pub fn true_range_at(high: &[f64], low: &[f64], close: &[f64], i: usize) -> f64 {
    let (h, l) = (high[i], low[i]);
    match i.checked_sub(1).map(|p| close[p]) {
        Some(cp) => (h - l).max((h - cp).abs()).max((l - cp).abs()),
        None => h - l,
    }
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
        assert!(same(
            &rolling_sum(&x, 1),
            &[1.0, 2.0, 3.0, NAN, 5.0, 6.0, 7.0]
        ));
    }

    #[test]
    fn long_rolling_sums_do_not_drift() {
        // Values with no exact binary form, far from zero: the re-anchored sum stays exact to
        // a few ulps after 100k windows.
        let x: Vec<f64> = (0..100_000)
            .map(|i| 1000.1 + (i % 7) as f64 * 0.01)
            .collect();
        let ours = rolling_sum(&x, 20);
        let exact: f64 = x[x.len() - 20..].iter().sum();
        assert!((ours[x.len() - 1] - exact).abs() <= 1e-12 * exact);
    }

    #[test]
    fn rolling_moments_match_two_pass_and_restart_after_nan() {
        let x = [1.0, 4.0, 2.0, 8.0, NAN, 3.0, 3.0, 9.0];
        let mut w = RollingMoments::new(3);
        let (m, s): (Vec<f64>, Vec<f64>) =
            x.iter().map(|&v| w.push(v).unwrap_or((NAN, NAN))).unzip();
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
    fn rolling_extremes_and_their_age() {
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        assert!(same(
            &rolling_extreme(&x, 3, Extreme::Max),
            &[NAN, NAN, 4.0, 4.0, 5.0, 9.0, 9.0, 9.0]
        ));
        assert!(same(
            &rolling_extreme(&x, 3, Extreme::Min),
            &[NAN, NAN, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
        ));
        // Ties take the most recent: the min of [1, 4, 1] is 0 bars old.
        let mut w = RollingExtreme::new(3, Extreme::Min);
        let ages: Vec<Option<usize>> = x.iter().map(|&v| w.push(v).map(|(_, a)| a)).collect();
        assert_eq!(
            ages,
            [
                None,
                None,
                Some(1),
                Some(0),
                Some(1),
                Some(2),
                Some(0),
                Some(1)
            ]
        );
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
        let (h, l, c) = ([10.0, 12.0, 11.0], [9.0, 11.5, 7.0], [9.5, 11.8, 8.0]);
        let tr: Vec<f64> = (0..3).map(|i| true_range_at(&h, &l, &c, i)).collect();
        assert!(same(&tr, &[1.0, 2.5, 4.8]));
    }
}
