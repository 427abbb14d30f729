//! Indicators with state carried bar to bar or several smoothing stages: SuperTrend, the
//! accumulation/distribution line, Parabolic SAR, the Relative Vigor Index, the Fisher
//! transform, Ichimoku, the squeeze intensity.

use super::range::PriceRange;
use super::{columns, moments, NAN};
use crate::kernels::{ewm_step, rolling_mean, true_range_at, RollingSum};

/// SuperTrend: bands at the median price ± `multiplier` · ATR(`period`, simple mean), each band
/// kept from the bar before unless the new one is tighter or the close crossed it; the trend
/// turns down when the close falls to the lower band and up when it reaches the upper one. The
/// first bar with an ATR starts like the Python class's first bar (down only if the close is at
/// or under the lower band). Outputs the active band and the direction (+1 up, −1 down); both
/// NaN while the ATR is undefined (its warm-up, or a window holding a NaN), which restarts it.
pub(super) fn supertrend(
    h: &[f64],
    l: &[f64],
    c: &[f64],
    period: usize,
    multiplier: f64,
) -> Vec<Vec<f64>> {
    let [mut line, mut direction] = columns(c.len());
    let inv = 1.0 / period as f64;
    let mut atr = RollingSum::new(period);
    let (mut upper, mut lower) = (NAN, NAN);
    let mut up: Option<bool> = None;
    for i in 0..c.len() {
        let a = atr.push(true_range_at(h, l, c, i)).map_or(NAN, |s| s * inv);
        let mid = (h[i] + l[i]) / 2.0;
        let (basic_upper, basic_lower) = (mid + multiplier * a, mid - multiplier * a);
        if !(basic_upper.is_finite() && basic_lower.is_finite() && c[i].is_finite()) {
            up = None;
            line.push(NAN);
            direction.push(NAN);
            continue;
        }
        match up {
            None => (upper, lower) = (basic_upper, basic_lower),
            Some(_) => {
                let prev_close = c[i - 1];
                if basic_upper < upper || prev_close > upper {
                    upper = basic_upper;
                }
                if basic_lower > lower || prev_close < lower {
                    lower = basic_lower;
                }
            }
        }
        let now_up = match up {
            None | Some(true) => c[i] > lower,
            Some(false) => c[i] >= upper,
        };
        up = Some(now_up);
        line.push(if now_up { lower } else { upper });
        direction.push(if now_up { 1.0 } else { -1.0 });
    }
    vec![line, direction]
}

/// The accumulation/distribution line, `Σ V·((C − L) − (H − C))/(H − L)` (a bar with H = L adds
/// 0), and its simple mean over `smoothing` bars. A bar with a NaN adds nothing and is NaN.
pub(super) fn ad_line(
    h: &[f64],
    l: &[f64],
    c: &[f64],
    v: &[f64],
    smoothing: usize,
) -> Vec<Vec<f64>> {
    let mut total = 0.0;
    let line: Vec<f64> = (0..c.len())
        .map(|i| {
            let range = h[i] - l[i];
            let multiplier = if range == 0.0 {
                0.0
            } else {
                ((c[i] - l[i]) - (h[i] - c[i])) / range
            };
            let flow = multiplier * v[i];
            if flow.is_finite() {
                total += flow;
                total
            } else {
                NAN
            }
        })
        .collect();
    let smoothed = rolling_mean(&line, smoothing);
    vec![line, smoothed]
}

/// Parabolic SAR as the Python class computes it: the trend of the first two bars (up if the
/// close rose) starts the stop at the first bar's low (high), the extreme point at the second
/// bar's high (low); each bar moves the stop by `af · (ep − sar)`, capped by the two previous
/// lows (highs); a bar crossing the stop reverses the trend, the stop jumping to the extreme
/// point; a new extreme raises `af` by `step` up to `max`. The first bar is NaN; a bar with a NaN
/// is NaN and the next one starts over.
pub(super) fn parabolic_sar(
    h: &[f64],
    l: &[f64],
    c: &[f64],
    initial: f64,
    step: f64,
    max: f64,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(c.len());
    let mut start = 0;
    let (mut sar, mut ep, mut af, mut up) = (NAN, NAN, initial, true);
    for i in 0..c.len() {
        if !(h[i].is_finite() && l[i].is_finite() && c[i].is_finite()) {
            out.push(NAN);
            start = i + 1;
            continue;
        }
        match i - start {
            0 => {}
            1 => {
                up = c[i] > c[i - 1];
                (ep, sar) = if up {
                    (h[i], l[i - 1])
                } else {
                    (l[i], h[i - 1])
                };
                af = initial;
            }
            _ => {
                sar += af * (ep - sar);
                if (up && l[i] <= sar) || (!up && h[i] >= sar) {
                    up = !up;
                    sar = ep;
                    af = initial;
                    ep = if up { h[i] } else { l[i] };
                } else if up {
                    sar = sar.min(l[i - 1]).min(l[i - 2]);
                    if h[i] > ep {
                        ep = h[i];
                        af = (af + step).min(max);
                    }
                } else {
                    sar = sar.max(h[i - 1]).max(h[i - 2]);
                    if l[i] < ep {
                        ep = l[i];
                        af = (af + step).min(max);
                    }
                }
            }
        }
        out.push(if i == start { NAN } else { sar });
    }
    out
}

/// Relative Vigor Index: the close − open and high − low of the last four bars weighted
/// 1, 2, 2, 1 (over 6), each averaged over `period` bars; RVI is their ratio (NaN when the range
/// average is 0) and the signal its mean over `signal` bars.
pub(super) fn rvi(
    o: &[f64],
    h: &[f64],
    l: &[f64],
    c: &[f64],
    period: usize,
    signal: usize,
) -> Vec<Vec<f64>> {
    let weighted = |x: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..c.len())
            .map(|i| {
                if i < 3 {
                    NAN
                } else {
                    (x(i - 3) + 2.0 * x(i - 2) + 2.0 * x(i - 1) + x(i)) / 6.0
                }
            })
            .collect()
    };
    let body = rolling_mean(&weighted(&|i| c[i] - o[i]), period);
    let range = rolling_mean(&weighted(&|i| h[i] - l[i]), period);
    let line: Vec<f64> = body
        .iter()
        .zip(&range)
        .map(|(&b, &r)| if r == 0.0 { NAN } else { b / r })
        .collect();
    let signal_line = rolling_mean(&line, signal);
    vec![line, signal_line]
}

/// Fisher transform: the median price placed in the `period`-bar range as
/// `2·(HL2 − LL)/(HH − LL) − 1`, clipped to ±0.999, mapped by `½·ln((1 + x)/(1 − x))` and
/// smoothed by an EMA (span `smoothing`, adjust=False); the signal is the previous bar's value.
/// A flat range gives NaN (the Python class used 0), which the EMA skips.
pub(super) fn fisher(h: &[f64], l: &[f64], period: usize, smoothing: usize) -> Vec<Vec<f64>> {
    let [mut line, mut signal] = columns(h.len());
    let mut range = PriceRange::new(h, l, period);
    let alpha = 2.0 / (smoothing as f64 + 1.0);
    let mut smoothed = NAN;
    for i in 0..h.len() {
        let x = match range.at(i) {
            Some((hh, ll)) if hh != ll => {
                (2.0 * (((h[i] + l[i]) / 2.0 - ll) / (hh - ll)) - 1.0).clamp(-0.999, 0.999)
            }
            _ => NAN,
        };
        signal.push(smoothed);
        smoothed = ewm_step(smoothed, 0.5 * ((1.0 + x) / (1.0 - x)).ln(), alpha);
        line.push(smoothed);
    }
    vec![line, signal]
}

/// Ichimoku: the tenkan and kijun lines (midpoints of the high–low range over their periods),
/// and the two cloud spans shifted `displacement` bars forward (span A from the tenkan and kijun,
/// span B from the `senkou_b` range), so each bar shows the cloud computed `displacement` bars
/// earlier. The chikou span (the close shifted backward) is left out: it is the future close.
pub(super) fn ichimoku(
    h: &[f64],
    l: &[f64],
    tenkan: usize,
    kijun: usize,
    senkou_b: usize,
    displacement: usize,
) -> Vec<Vec<f64>> {
    let midpoints = |n: usize| -> Vec<f64> {
        let mut range = PriceRange::new(h, l, n);
        (0..h.len())
            .map(|i| range.at(i).map_or(NAN, |(hh, ll)| (hh + ll) / 2.0))
            .collect()
    };
    let (tenkan_line, kijun_line, span_b_now) =
        (midpoints(tenkan), midpoints(kijun), midpoints(senkou_b));
    let shifted = |f: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..h.len())
            .map(|i| i.checked_sub(displacement).map_or(NAN, f))
            .collect()
    };
    let span_a = shifted(&|j| (tenkan_line[j] + kijun_line[j]) / 2.0);
    let span_b = shifted(&|j| span_b_now[j]);
    vec![tenkan_line, kijun_line, span_a, span_b]
}

/// Squeeze intensity: how far the Bollinger Bands (`bb_period`, `bb_multiplier`, on `x`) sit
/// inside the Keltner Channels (EMA(close, `kc_period`) ± `kc_multiplier` · ATR(10)), as
/// `max(0, min(KCu − BBu, BBl − KCl) / (KCu − KCl))`: 0 when either band pokes out. NaN in the
/// warm-up and when the channel has no width (the Python class gave 0 for both).
pub(super) fn squeeze_intensity(
    x: &[f64],
    h: &[f64],
    l: &[f64],
    c: &[f64],
    (bb_period, bb_multiplier): (usize, f64),
    (kc_period, kc_multiplier): (usize, f64),
) -> Vec<f64> {
    const KC_ATR_PERIOD: usize = 10;
    let mut out = Vec::with_capacity(c.len());
    let alpha = 2.0 / (kc_period as f64 + 1.0);
    let inv = 1.0 / KC_ATR_PERIOD as f64;
    let mut atr = RollingSum::new(KC_ATR_PERIOD);
    let mut mid = NAN;
    let mut i = 0;
    moments(x, bb_period, |m, sd| {
        mid = ewm_step(mid, c[i], alpha);
        let a = atr.push(true_range_at(h, l, c, i)).map_or(NAN, |s| s * inv);
        let (kc_upper, kc_lower) = (mid + kc_multiplier * a, mid - kc_multiplier * a);
        let (bb_upper, bb_lower) = (m + bb_multiplier * sd, m - bb_multiplier * sd);
        let width = kc_upper - kc_lower;
        let inner = ((kc_upper - bb_upper) / width).min((bb_lower - kc_lower) / width);
        // f64::max would turn a NaN (warm-up, zero width) into 0.
        out.push(if width == 0.0 || inner.is_nan() {
            NAN
        } else {
            inner.max(0.0)
        });
        i += 1;
    });
    out
}
