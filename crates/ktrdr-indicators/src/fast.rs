//! Fast paths for inputs with no NaN (the usual case: the store validates bars), used by the
//! kernels when [`all_finite`] holds; the streaming types in `kernels` handle the rest.
//!
//! Recurrences (running sums, exponential smoothing) are latency-bound: each output waits for
//! the previous one. [`four_steps`] computes four outputs from the state four steps back, so the
//! loop-carried chain is one multiply-add per four bars and the CPU overlaps the rest. The
//! results differ from the one-step loop only in rounding (a few ulps).

const NAN: f64 = f64::NAN;

/// Anchor spacing of [`rolling_sums`]: each block of this many windows starts from an exact sum,
/// so rounding cannot drift over millions of bars.
const BLOCK: usize = 64;

/// Whether every value of every column is finite (no short-circuit, so it vectorises).
pub(crate) fn all_finite(columns: &[&[f64]]) -> bool {
    columns
        .iter()
        .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// Four steps of `y ← β·y + u` from `y`: `b` holds β, β², β³, β⁴.
#[inline(always)]
pub(crate) fn four_steps(y: f64, b: [f64; 4], u: [f64; 4]) -> [f64; 4] {
    let p2 = b[0] * u[0] + u[1];
    let p3 = b[0] * p2 + u[2];
    let p4 = b[0] * p3 + u[3];
    [b[0] * y + u[0], b[1] * y + p2, b[2] * y + p3, b[3] * y + p4]
}

/// β, β², β³, β⁴.
pub(crate) fn powers(beta: f64) -> [f64; 4] {
    [
        beta,
        beta * beta,
        beta * beta * beta,
        beta * beta * beta * beta,
    ]
}

const ONES: [f64; 4] = [1.0; 4];

/// The number of NaN values `x` starts with (an upstream warm-up).
pub(crate) fn leading_nans(x: &[f64]) -> usize {
    x.iter().position(|v| v.is_finite()).unwrap_or(x.len())
}

/// Sums of the windows of `n` values of `x`, times `scale`, for an `x` that is clean after its
/// [`leading_nans`] (a warm-up from an earlier stage): NaN until a window holds only values.
pub(crate) fn rolling_sums(x: &[f64], n: usize, scale: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let lead = leading_nans(x);
    out.resize(lead, NAN);
    let x = &x[lead..];
    let len = x.len();
    if n == 0 || len < n {
        out.resize(out.len() + len, NAN);
        return out;
    }
    out.resize(out.len() + n - 1, NAN);
    let mut i = n - 1;
    while i < len {
        let block_end = len.min((i / BLOCK + 1) * BLOCK);
        let mut sum: f64 = x[i + 1 - n..=i].iter().sum();
        out.push(sum * scale);
        i += 1;
        // The block's entering and leaving values, four at a time.
        let (new, old) = (&x[i..block_end], &x[i - n..block_end - n]);
        let (new4, old4) = (new.chunks_exact(4), old.chunks_exact(4));
        let (new_rest, old_rest) = (new4.remainder(), old4.remainder());
        for (a, b) in new4.zip(old4) {
            let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]];
            let s = four_steps(sum, ONES, d);
            out.extend(s.map(|v| v * scale));
            sum = s[3];
        }
        for (a, b) in new_rest.iter().zip(old_rest) {
            sum += a - b;
            out.push(sum * scale);
        }
        i = block_end;
    }
    out
}

/// Rolling mean and sample standard deviation (ddof 1) over `n ≥ 2` values of a clean `x`,
/// handed to `emit(mean, std)` bar by bar (NaN, NaN during the warm-up). Same update as
/// `kernels::RollingMoments`, re-anchored by an exact two-pass sum every [`BLOCK`] windows.
pub(crate) fn rolling_moments(x: &[f64], n: usize, mut emit: impl FnMut(f64, f64)) {
    let n = n.max(2);
    let (inv_n, inv_ddof) = (1.0 / n as f64, 1.0 / (n - 1) as f64);
    for _ in 0..x.len().min(n - 1) {
        emit(NAN, NAN);
    }
    let mut i = n - 1;
    while i < x.len() {
        let block_end = x.len().min((i / BLOCK + 1) * BLOCK);
        let window = &x[i + 1 - n..=i];
        let mut mean = window.iter().sum::<f64>() * inv_n;
        let mut m2: f64 = window.iter().map(|v| (v - mean) * (v - mean)).sum();
        emit(mean, (m2 * inv_ddof).max(0.0).sqrt());
        i += 1;
        while i < block_end {
            let (new, old) = (x[i], x[i - n]);
            let next = mean + (new - old) * inv_n;
            m2 += (new - old) * (new - next + old - mean);
            mean = next;
            emit(mean, (m2 * inv_ddof).max(0.0).sqrt());
            i += 1;
        }
    }
}

/// pandas `ewm(alpha, adjust=False).mean()` of a clean `x`: seeded with `x[0]`.
pub(crate) fn ewm_recursive(x: &[f64], alpha: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    let Some(&first) = x.first() else {
        return out;
    };
    let b = powers(1.0 - alpha);
    let mut y = first;
    out.push(y);
    let mut chunks = x[1..].chunks_exact(4);
    for c in &mut chunks {
        let s = four_steps(
            y,
            b,
            [alpha * c[0], alpha * c[1], alpha * c[2], alpha * c[3]],
        );
        out.extend(s);
        y = s[3];
    }
    for &v in chunks.remainder() {
        y = b[0] * y + alpha * v;
        out.push(y);
    }
    out
}

/// pandas `ewm(alpha, adjust=True).mean()` of a clean `x`: `Σ βᵏx / Σ βᵏ`. The denominator does
/// not depend on the data: it is stepped until it stops changing, then divided by as a constant.
pub(crate) fn ewm_adjusted(x: &[f64], alpha: f64) -> Vec<f64> {
    let beta = 1.0 - alpha;
    let mut out = Vec::with_capacity(x.len());
    let (mut num, mut den) = (0.0, 0.0);
    let mut i = 0;
    while i < x.len() {
        let next = 1.0 + beta * den;
        num = x[i] + beta * num;
        out.push(num / next);
        i += 1;
        if next == den {
            break;
        }
        den = next;
    }
    let b = powers(beta);
    let mut chunks = x[i..].chunks_exact(4);
    for c in &mut chunks {
        let s = four_steps(num, b, [c[0], c[1], c[2], c[3]]);
        out.extend(s.map(|v| v / den));
        num = s[3];
    }
    for &v in chunks.remainder() {
        num = v + beta * num;
        out.push(num / den);
    }
    out
}

/// The extreme of the `n` values of a clean series ending at each index, for indices visited in
/// order: the current extreme is kept until a value beats or ties it (ties: the most recent wins)
/// or it leaves the window, and only then is the window scanned again. On price series that is
/// rare enough to beat a monotonic queue's bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct WindowExtreme<const MAX: bool> {
    n: usize,
    best: f64,
    at: usize,
    started: bool,
}

impl<const MAX: bool> WindowExtreme<MAX> {
    /// A window of `n ≥ 1` values keeping the maximum (`MAX`) or the minimum.
    pub(crate) fn new(n: usize) -> Self {
        WindowExtreme {
            n: n.max(1),
            best: NAN,
            at: 0,
            started: false,
        }
    }

    #[inline(always)]
    fn beats(a: f64, b: f64) -> bool {
        if MAX {
            a >= b
        } else {
            a <= b
        }
    }

    /// The extreme of `x[i + 1 − n ..= i]` (or of `x[..= i]` in the warm-up) and its age.
    #[inline(always)]
    pub(crate) fn at(&mut self, x: &[f64], i: usize) -> (f64, usize) {
        let v = x[i];
        if !self.started || Self::beats(v, self.best) {
            (self.best, self.at, self.started) = (v, i, true);
        } else if self.at + self.n <= i {
            self.rescan(&x[i + 1 - self.n..=i], i + 1 - self.n);
        }
        (self.best, i - self.at)
    }

    #[inline(never)]
    fn rescan(&mut self, window: &[f64], start: usize) {
        let (mut best, mut at) = (window[0], 0);
        // Selects rather than branches: which value wins is data, not predictable.
        for (j, &w) in window.iter().enumerate().skip(1) {
            let take = Self::beats(w, best);
            best = if take { w } else { best };
            at = if take { j } else { at };
        }
        (self.best, self.at) = (best, start + at);
    }
}

/// The extreme value of the `n` values of a clean series ending at each index, for indices
/// visited in order from 0 (van Herk/Gil-Werman): the series is cut into blocks of `n`; a window
/// is the tail of the previous block (its suffix extremes, computed once per block) and the head
/// of the current one (a running extreme). Three comparisons per value, no branches on the data.
#[derive(Debug, Clone)]
pub(crate) struct BlockExtreme<const MAX: bool> {
    n: usize,
    suffix: Vec<f64>,
    block_start: usize,
    head: f64,
}

impl<const MAX: bool> BlockExtreme<MAX> {
    /// A window of `n ≥ 1` values keeping the maximum (`MAX`) or the minimum.
    pub(crate) fn new(n: usize) -> Self {
        let n = n.max(1);
        BlockExtreme {
            n,
            suffix: vec![NAN; n],
            block_start: 0,
            head: NAN,
        }
    }

    #[inline(always)]
    fn pick(a: f64, b: f64) -> f64 {
        if MAX {
            a.max(b)
        } else {
            a.min(b)
        }
    }

    /// The extreme of `x[i + 1 − n ..= i]`; in the warm-up (`i + 1 < n`), of `x[..= i]`.
    #[inline(always)]
    pub(crate) fn at(&mut self, x: &[f64], i: usize) -> f64 {
        let n = self.n;
        if i == 0 || i == self.block_start + n {
            if i > 0 {
                let block = &x[self.block_start..i];
                let mut acc = block[n - 1];
                for (s, &v) in self.suffix.iter_mut().zip(block).rev() {
                    acc = Self::pick(acc, v);
                    *s = acc;
                }
            }
            self.block_start = i;
            self.head = x[i];
        } else {
            self.head = Self::pick(self.head, x[i]);
        }
        match (i + 1).checked_sub(n) {
            Some(start) if start < self.block_start => {
                Self::pick(self.suffix[start + n - self.block_start], self.head)
            }
            _ => self.head,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * y.abs().max(1.0),
                "at {i}: {x} vs {y}"
            );
        }
    }

    fn walk(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 100.0 + (i as f64 * 0.37).sin() * 5.0 + i as f64 * 0.01)
            .collect()
    }

    #[test]
    fn fast_paths_agree_with_the_streaming_kernels() {
        // Lengths around the block and chunk edges.
        for len in [0, 1, 3, 19, 20, 21, 63, 64, 65, 66, 67, 200, 1001] {
            let x = walk(len);
            close(
                &rolling_sums(&x, 20, 1.0 / 20.0),
                &crate::kernels::rolling_mean(&x, 20),
            );
            close(&ewm_recursive(&x, 0.1), &{
                let mut y = NAN;
                x.iter()
                    .map(|&v| {
                        y = crate::kernels::ewm_step(y, v, 0.1);
                        y
                    })
                    .collect::<Vec<_>>()
            });
            let mut w = crate::kernels::RollingMoments::new(20);
            let streamed: Vec<(f64, f64)> =
                x.iter().map(|&v| w.push(v).unwrap_or((NAN, NAN))).collect();
            let mut fast = Vec::new();
            rolling_moments(&x, 20, |m, s| fast.push((m, s)));
            let (a, b): (Vec<f64>, Vec<f64>) = fast.into_iter().unzip();
            let (c, d): (Vec<f64>, Vec<f64>) = streamed.into_iter().unzip();
            close(&a, &c);
            close(&b, &d);
        }
    }

    #[test]
    fn rolling_sums_after_an_upstream_warm_up_match_the_streaming_window() {
        for lead in [0, 1, 3, 25, 70] {
            let mut x = walk(300);
            x[..lead].fill(NAN);
            let mut w = crate::kernels::RollingSum::new(20);
            let streamed: Vec<f64> = x.iter().map(|&v| w.push(v).unwrap_or(NAN)).collect();
            close(&rolling_sums(&x, 20, 1.0), &streamed);
        }
        assert_eq!(leading_nans(&[NAN, NAN]), 2);
    }

    #[test]
    fn window_extreme_agrees_with_the_monotonic_queue() {
        let x: Vec<f64> = (0..500).map(|i| ((i * 7919) % 31) as f64).collect();
        for n in [1, 2, 5, 14, 15] {
            for max in [true, false] {
                let which = if max {
                    crate::kernels::Extreme::Max
                } else {
                    crate::kernels::Extreme::Min
                };
                let mut queue = crate::kernels::RollingExtreme::new(n, which);
                let (mut highs, mut lows) = (
                    WindowExtreme::<true>::new(n),
                    WindowExtreme::<false>::new(n),
                );
                for i in 0..x.len() {
                    let fast = if max { highs.at(&x, i) } else { lows.at(&x, i) };
                    if let Some(slow) = queue.push(x[i]) {
                        assert_eq!(fast, slow, "n {n} max {max} at {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn block_extreme_agrees_with_the_monotonic_queue() {
        let x: Vec<f64> = (0..500).map(|i| ((i * 7919) % 31) as f64).collect();
        for n in [1, 2, 5, 14, 15, 499, 500] {
            let mut queue_max =
                crate::kernels::RollingExtreme::new(n, crate::kernels::Extreme::Max);
            let mut queue_min =
                crate::kernels::RollingExtreme::new(n, crate::kernels::Extreme::Min);
            let (mut max, mut min) = (BlockExtreme::<true>::new(n), BlockExtreme::<false>::new(n));
            for i in 0..x.len() {
                let (hi, lo) = (max.at(&x, i), min.at(&x, i));
                if let (Some((a, _)), Some((b, _))) = (queue_max.push(x[i]), queue_min.push(x[i])) {
                    assert_eq!((hi, lo), (a, b), "n {n} at {i}");
                }
            }
        }
    }

    #[test]
    fn adjusted_ewm_is_the_weighted_mean() {
        let x = walk(500);
        let alpha = 2.0 / 21.0;
        let ours = ewm_adjusted(&x, alpha);
        for t in [0, 1, 5, 100, 499] {
            let (mut num, mut den) = (0.0, 0.0);
            for k in 0..=t {
                let w = (1.0 - alpha).powi(k as i32);
                num += w * x[t - k];
                den += w;
            }
            assert!((ours[t] - num / den).abs() <= 1e-12 * ours[t], "t = {t}");
        }
    }
}
