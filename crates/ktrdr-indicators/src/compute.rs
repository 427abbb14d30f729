//! The formulas behind [`Indicator::compute`], one function per indicator, over the series'
//! column slices. Warm-up bars are NaN; so is any value whose formula divides zero by zero
//! (where the Python system filled 0 or 50).

use ktrdr_data::types::BarSeries;

use crate::kernels::{
    bars_since_extreme, difference, ewm_adjusted, ewm_recursive, rolling_extreme, rolling_mean,
    rolling_mean_std, rolling_sum, true_range, Extreme,
};
use crate::labels::zigzag_extremes;
use crate::params::Source;
use crate::spec::Indicator;

const NAN: f64 = f64::NAN;

/// The columns of `indicator` over `bars`, in [`Indicator::column_names`] order.
pub(crate) fn compute(indicator: &Indicator, bars: &BarSeries) -> Vec<Vec<f64>> {
    let (h, l, c, v) = (bars.high(), bars.low(), bars.close(), bars.volume());
    match *indicator {
        Indicator::Rsi { period, source } => vec![rsi(column(bars, source), period)],
        Indicator::Sma { period, source } => vec![rolling_mean(column(bars, source), period)],
        Indicator::Ema {
            period,
            source,
            adjust,
        } => {
            let alpha = 2.0 / (period as f64 + 1.0);
            let x = column(bars, source);
            vec![if adjust {
                ewm_adjusted(x, alpha)
            } else {
                ewm_recursive(x, alpha)
            }]
        }
        Indicator::Macd {
            fast_period,
            slow_period,
            signal_period,
            source,
        } => macd(
            column(bars, source),
            fast_period,
            slow_period,
            signal_period,
        ),
        Indicator::BollingerBands {
            period,
            multiplier,
            source,
        } => {
            let (mid, sd) = rolling_mean_std(column(bars, source), period);
            let upper = mid
                .iter()
                .zip(&sd)
                .map(|(m, s)| m + multiplier * s)
                .collect();
            let lower = mid
                .iter()
                .zip(&sd)
                .map(|(m, s)| m - multiplier * s)
                .collect();
            vec![upper, mid, lower]
        }
        Indicator::Stochastic {
            k_period,
            d_period,
            smooth_k,
        } => {
            let raw = range_position(h, l, c, k_period, |c, hh, ll| 100.0 * (c - ll) / (hh - ll));
            let k = rolling_mean(&raw, smooth_k);
            let d = rolling_mean(&k, d_period);
            vec![k, d]
        }
        Indicator::Adx { period } => adx(h, l, c, period),
        Indicator::Atr { period } => vec![rolling_mean(&true_range(h, l, c), period)],
        Indicator::ZigZag { threshold } => {
            let mut out = vec![NAN; c.len()];
            for i in zigzag_extremes(c, threshold) {
                out[i] = c[i];
            }
            vec![out]
        }
        Indicator::WilliamsR { period } => {
            vec![range_position(h, l, c, period, |c, hh, ll| {
                -100.0 * (hh - c) / (hh - ll)
            })]
        }
        Indicator::Cci { period } => vec![cci(h, l, c, period)],
        Indicator::Momentum { period, source } => vec![difference(column(bars, source), period)],
        Indicator::Roc { period, source } => {
            let x = column(bars, source);
            vec![(0..x.len())
                .map(|i| match i.checked_sub(period).map(|j| x[j]) {
                    Some(old) if old != 0.0 => 100.0 * (x[i] - old) / old,
                    _ => NAN,
                })
                .collect()]
        }
        Indicator::Obv => vec![obv(c, v)],
        Indicator::Mfi { period } => vec![mfi(h, l, c, v, period)],
        Indicator::Aroon { period } => {
            let n = period as f64;
            let score = |since: Vec<f64>| -> Vec<f64> {
                since.into_iter().map(|s| 100.0 * (n - s) / n).collect()
            };
            let up = score(bars_since_extreme(h, period, Extreme::Max));
            let down = score(bars_since_extreme(l, period, Extreme::Min));
            let osc = up.iter().zip(&down).map(|(u, d)| u - d).collect();
            vec![up, down, osc]
        }
        Indicator::DonchianChannels { period } => {
            let upper = rolling_extreme(h, period, Extreme::Max);
            let lower = rolling_extreme(l, period, Extreme::Min);
            let middle = upper
                .iter()
                .zip(&lower)
                .map(|(u, l)| (u + l) / 2.0)
                .collect();
            vec![upper, middle, lower]
        }
        Indicator::KeltnerChannels {
            period,
            atr_period,
            multiplier,
        } => {
            let middle = ewm_recursive(c, 2.0 / (period as f64 + 1.0));
            let atr = rolling_mean(&true_range(h, l, c), atr_period);
            let upper = middle
                .iter()
                .zip(&atr)
                .map(|(m, a)| m + multiplier * a)
                .collect();
            let lower = middle
                .iter()
                .zip(&atr)
                .map(|(m, a)| m - multiplier * a)
                .collect();
            vec![upper, middle, lower]
        }
        Indicator::Vwap { period } => vec![vwap(h, l, c, v, period)],
        Indicator::BollingerBandWidth {
            period,
            multiplier,
            source,
        } => {
            let (mid, sd) = rolling_mean_std(column(bars, source), period);
            vec![mid
                .iter()
                .zip(&sd)
                .map(|(&m, &s)| ratio(2.0 * multiplier * s, m))
                .collect()]
        }
        Indicator::VolumeRatio { period } => {
            let avg = rolling_mean(v, period);
            vec![v.iter().zip(&avg).map(|(&x, &a)| ratio(x, a)).collect()]
        }
        Indicator::DistanceFromMa { period, source } => {
            let x = column(bars, source);
            let avg = rolling_mean(x, period);
            vec![x
                .iter()
                .zip(&avg)
                .map(|(&x, &a)| 100.0 * ratio(x - a, a))
                .collect()]
        }
        Indicator::Cmf { period } => {
            let flow: Vec<f64> = (0..c.len())
                .map(|i| {
                    let range = h[i] - l[i];
                    let multiplier = if range == 0.0 {
                        0.0
                    } else {
                        ((c[i] - l[i]) - (h[i] - c[i])) / range
                    };
                    multiplier * v[i]
                })
                .collect();
            let flow_sum = rolling_sum(&flow, period);
            let volume_sum = rolling_sum(v, period);
            vec![flow_sum
                .iter()
                .zip(&volume_sum)
                .map(|(&f, &s)| ratio(f, s))
                .collect()]
        }
    }
}

fn column(bars: &BarSeries, source: Source) -> &[f64] {
    match source {
        Source::Open => bars.open(),
        Source::High => bars.high(),
        Source::Low => bars.low(),
        Source::Close => bars.close(),
        Source::Volume => bars.volume(),
    }
}

/// `a / b`, NaN when `b` is 0 (the value is undefined, not zero).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        NAN
    } else {
        a / b
    }
}

/// Wilder's RSI. A NaN change is skipped: that bar is NaN and the averages are unchanged.
fn rsi(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![NAN; x.len()];
    let nf = n as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    let mut seen = 0usize;
    for i in 1..x.len() {
        let d = x[i] - x[i - 1];
        if !d.is_finite() {
            continue;
        }
        let (g, l) = (d.max(0.0), (-d).max(0.0));
        seen += 1;
        if seen <= n {
            // The seed: the plain mean of the first n changes.
            gain += g;
            loss += l;
            if seen < n {
                continue;
            }
            gain /= nf;
            loss /= nf;
        } else {
            gain = (gain * (nf - 1.0) + g) / nf;
            loss = (loss * (nf - 1.0) + l) / nf;
        }
        out[i] = if loss == 0.0 {
            if gain == 0.0 {
                50.0
            } else {
                100.0
            }
        } else {
            100.0 - 100.0 / (1.0 + gain / loss)
        };
    }
    out
}

/// MACD line, signal and histogram in one pass: three independent recursions interleave.
fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> Vec<Vec<f64>> {
    let alpha = |n: usize| 2.0 / (n as f64 + 1.0);
    let (af, as_, ag) = (alpha(fast), alpha(slow), alpha(signal));
    let len = x.len();
    let (mut line_out, mut signal_out, mut hist_out) = (
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
    );
    let (mut f, mut s, mut g) = (NAN, NAN, NAN);
    for &v in x {
        if v.is_finite() {
            if f.is_nan() {
                (f, s) = (v, v);
                g = 0.0;
            } else {
                f += af * (v - f);
                s += as_ * (v - s);
                g += ag * ((f - s) - g);
            }
        }
        let line = f - s;
        line_out.push(line);
        signal_out.push(g);
        hist_out.push(line - g);
    }
    vec![line_out, signal_out, hist_out]
}

/// `f(close, highest high, lowest low)` over `n` bars; NaN where the range is 0.
fn range_position(
    h: &[f64],
    l: &[f64],
    c: &[f64],
    n: usize,
    f: impl Fn(f64, f64, f64) -> f64,
) -> Vec<f64> {
    let hh = rolling_extreme(h, n, Extreme::Max);
    let ll = rolling_extreme(l, n, Extreme::Min);
    (0..c.len())
        .map(|i| {
            if hh[i] == ll[i] {
                NAN
            } else {
                f(c[i], hh[i], ll[i])
            }
        })
        .collect()
}

/// ADX, +DI, −DI with Wilder smoothing (ewm α = 1/n, adjust=False, seeded on the first bar).
fn adx(h: &[f64], l: &[f64], c: &[f64], n: usize) -> Vec<Vec<f64>> {
    let len = c.len();
    let alpha = 1.0 / n as f64;
    let tr = true_range(h, l, c);
    let (mut plus_di, mut minus_di, mut dx) = (
        Vec::with_capacity(len),
        Vec::with_capacity(len),
        Vec::with_capacity(len),
    );
    let (mut tr_s, mut plus_s, mut minus_s) = (NAN, NAN, NAN);
    for i in 0..len {
        // No previous bar: no directional movement on the first.
        let (up, down) = if i == 0 {
            (0.0, 0.0)
        } else {
            (h[i] - h[i - 1], l[i - 1] - l[i])
        };
        let plus_dm = if up > down && up > 0.0 { up } else { 0.0 };
        let minus_dm = if down > up && down > 0.0 { down } else { 0.0 };
        if tr[i].is_finite() {
            if tr_s.is_nan() {
                (tr_s, plus_s, minus_s) = (tr[i], plus_dm, minus_dm);
            } else {
                tr_s += alpha * (tr[i] - tr_s);
                plus_s += alpha * (plus_dm - plus_s);
                minus_s += alpha * (minus_dm - minus_s);
            }
        }
        let (p, m) = (100.0 * ratio(plus_s, tr_s), 100.0 * ratio(minus_s, tr_s));
        plus_di.push(p);
        minus_di.push(m);
        dx.push(100.0 * ratio((p - m).abs(), p + m));
    }
    let adx = ewm_recursive(&dx, alpha);
    vec![adx, plus_di, minus_di]
}

fn typical_price(h: &[f64], l: &[f64], c: &[f64]) -> Vec<f64> {
    (0..c.len()).map(|i| (h[i] + l[i] + c[i]) / 3.0).collect()
}

/// CCI with the mean absolute deviation of each window around its own mean (O(n·period)).
fn cci(h: &[f64], l: &[f64], c: &[f64], n: usize) -> Vec<f64> {
    let tp = typical_price(h, l, c);
    let mean = rolling_mean(&tp, n);
    (0..tp.len())
        .map(|i| {
            let m = mean[i];
            if m.is_nan() {
                return NAN;
            }
            let window = &tp[i + 1 - n..=i];
            let mad = window.iter().map(|x| (x - m).abs()).sum::<f64>() / n as f64;
            ratio(tp[i] - m, 0.015 * mad)
        })
        .collect()
}

fn obv(c: &[f64], v: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(c.len());
    let mut total = 0.0;
    for i in 0..c.len() {
        if i > 0 {
            if c[i] > c[i - 1] {
                total += v[i];
            } else if c[i] < c[i - 1] {
                total -= v[i];
            }
        }
        out.push(total);
    }
    out
}

/// MFI; the first bar has no previous typical price, so no flow: its windows are NaN.
fn mfi(h: &[f64], l: &[f64], c: &[f64], v: &[f64], n: usize) -> Vec<f64> {
    let tp = typical_price(h, l, c);
    let mut positive = vec![NAN; tp.len()];
    let mut negative = vec![NAN; tp.len()];
    for i in 1..tp.len() {
        let flow = tp[i] * v[i];
        let (p, m) = if tp[i] > tp[i - 1] {
            (flow, 0.0)
        } else if tp[i] < tp[i - 1] {
            (0.0, flow)
        } else {
            (0.0, 0.0)
        };
        positive[i] = p;
        negative[i] = m;
    }
    let pos = rolling_sum(&positive, n);
    let neg = rolling_sum(&negative, n);
    pos.iter()
        .zip(&neg)
        .map(|(&p, &m)| 100.0 * ratio(p, p + m))
        .collect()
}

fn vwap(h: &[f64], l: &[f64], c: &[f64], v: &[f64], n: usize) -> Vec<f64> {
    let tp = typical_price(h, l, c);
    let pv: Vec<f64> = tp.iter().zip(v).map(|(t, v)| t * v).collect();
    let (num, den) = if n == 0 {
        (cumulative(&pv), cumulative(v))
    } else {
        (rolling_sum(&pv, n), rolling_sum(v, n))
    };
    num.iter().zip(&den).map(|(&a, &b)| ratio(a, b)).collect()
}

fn cumulative(x: &[f64]) -> Vec<f64> {
    x.iter()
        .scan(0.0, |acc, v| {
            *acc += v;
            Some(*acc)
        })
        .collect()
}
