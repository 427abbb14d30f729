//! The formulas behind [`Indicator::compute`], one loop per indicator over the series' column
//! slices, pushing every output column in the same pass (no intermediate columns). Warm-up bars
//! are NaN; so is any value whose formula divides zero by zero (where the Python system filled
//! 0 or 50).

use ktrdr_data::types::BarSeries;

use crate::fast::{self, all_finite, four_steps, powers};
use crate::kernels::{
    difference, ewm_adjusted, ewm_recursive, ewm_step, rolling_mean, true_range_at, RollingMoments,
    RollingSum,
};
use crate::labels::zigzag_extremes;
use crate::params::Source;
use crate::spec::Indicator;

mod range;
mod trend;

use range::{ExtremeAges, PriceRange};

const NAN: f64 = f64::NAN;

/// `N` empty columns with room for `len` values each.
fn columns<const N: usize>(len: usize) -> [Vec<f64>; N] {
    std::array::from_fn(|_| Vec::with_capacity(len))
}

/// The columns of `indicator` over `bars`, in [`Indicator::column_names`] order.
pub(crate) fn compute(indicator: &Indicator, bars: &BarSeries) -> Vec<Vec<f64>> {
    let (h, l, c, v) = (bars.high(), bars.low(), bars.close(), bars.volume());
    let len = c.len();
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
            let [mut upper, mut middle, mut lower] = columns(len);
            moments(column(bars, source), period, |m, s| {
                upper.push(m + multiplier * s);
                middle.push(m);
                lower.push(m - multiplier * s);
            });
            vec![upper, middle, lower]
        }
        Indicator::Stochastic {
            k_period,
            d_period,
            smooth_k,
        } => {
            let [mut k_out, mut d_out] = columns(len);
            let mut range = PriceRange::new(h, l, k_period);
            let (mut smooth, mut signal) = (RollingSum::new(smooth_k), RollingSum::new(d_period));
            let (inv_k, inv_d) = (1.0 / smooth_k as f64, 1.0 / d_period as f64);
            for i in 0..len {
                let raw = range.position(i, c[i], |c, hh, ll| 100.0 * (c - ll) / (hh - ll));
                let k = smooth.push(raw).map_or(NAN, |s| s * inv_k);
                k_out.push(k);
                d_out.push(signal.push(k).map_or(NAN, |s| s * inv_d));
            }
            vec![k_out, d_out]
        }
        Indicator::Adx { period } => adx(h, l, c, period),
        Indicator::Atr { period } => {
            let inv = 1.0 / period as f64;
            let mut window = RollingSum::new(period);
            vec![(0..len)
                .map(|i| {
                    window
                        .push(true_range_at(h, l, c, i))
                        .map_or(NAN, |s| s * inv)
                })
                .collect()]
        }
        Indicator::ZigZag { threshold } => {
            let mut out = vec![NAN; len];
            for i in zigzag_extremes(c, threshold) {
                out[i] = c[i];
            }
            vec![out]
        }
        Indicator::WilliamsR { period } => {
            let mut range = PriceRange::new(h, l, period);
            vec![(0..len)
                .map(|i| range.position(i, c[i], |c, hh, ll| -100.0 * (hh - c) / (hh - ll)))
                .collect()]
        }
        Indicator::Cci { period } => vec![cci(h, l, c, period)],
        Indicator::Momentum { period, source } => vec![difference(column(bars, source), period)],
        Indicator::Roc { period, source } => {
            let x = column(bars, source);
            vec![(0..len)
                .map(|i| match i.checked_sub(period).map(|j| x[j]) {
                    Some(old) => 100.0 * ratio(x[i] - old, old),
                    None => NAN,
                })
                .collect()]
        }
        Indicator::Obv => vec![obv(c, v)],
        Indicator::Mfi { period } => vec![mfi(h, l, c, v, period)],
        Indicator::Aroon { period } => {
            let [mut up, mut down, mut osc] = columns(len);
            // How long ago the extremes of the last period + 1 bars were.
            let mut ages = ExtremeAges::new(h, l, period + 1);
            let n = period as f64;
            let score = |age: usize| 100.0 * (n - age as f64) / n;
            for i in 0..len {
                let (u, d) = match ages.at(i) {
                    Some((high_age, low_age)) => (score(high_age), score(low_age)),
                    None => (NAN, NAN),
                };
                up.push(u);
                down.push(d);
                osc.push(u - d);
            }
            vec![up, down, osc]
        }
        Indicator::DonchianChannels { period } => {
            let [mut upper, mut middle, mut lower] = columns(len);
            let mut range = PriceRange::new(h, l, period);
            for i in 0..len {
                let (u, d) = range.at(i).unwrap_or((NAN, NAN));
                upper.push(u);
                middle.push((u + d) / 2.0);
                lower.push(d);
            }
            vec![upper, middle, lower]
        }
        Indicator::KeltnerChannels {
            period,
            atr_period,
            multiplier,
        } => {
            let [mut upper, mut middle, mut lower] = columns(len);
            let alpha = 2.0 / (period as f64 + 1.0);
            let inv = 1.0 / atr_period as f64;
            let mut atr = RollingSum::new(atr_period);
            let mut mid = NAN;
            for i in 0..len {
                mid = ewm_step(mid, c[i], alpha);
                let a = atr.push(true_range_at(h, l, c, i)).map_or(NAN, |s| s * inv);
                upper.push(mid + multiplier * a);
                middle.push(mid);
                lower.push(mid - multiplier * a);
            }
            vec![upper, middle, lower]
        }
        Indicator::Vwap { period } => vec![vwap(h, l, c, v, period)],
        Indicator::BollingerBandWidth {
            period,
            multiplier,
            source,
        } => {
            let mut width = Vec::with_capacity(len);
            moments(column(bars, source), period, |m, s| {
                width.push(ratio(2.0 * multiplier * s, m));
            });
            vec![width]
        }
        Indicator::VolumeRatio { period } => {
            let mut window = RollingSum::new(period);
            let inv = 1.0 / period as f64;
            vec![v
                .iter()
                .map(|&x| window.push(x).map_or(NAN, |s| ratio(x, s * inv)))
                .collect()]
        }
        Indicator::DistanceFromMa { period, source } => {
            let mut window = RollingSum::new(period);
            let inv = 1.0 / period as f64;
            vec![column(bars, source)
                .iter()
                .map(|&x| {
                    window.push(x).map_or(NAN, |s| {
                        let avg = s * inv;
                        100.0 * ratio(x - avg, avg)
                    })
                })
                .collect()]
        }
        Indicator::SuperTrend { period, multiplier } => {
            trend::supertrend(h, l, c, period, multiplier)
        }
        Indicator::ParabolicSar {
            initial_af,
            step_af,
            max_af,
        } => vec![trend::parabolic_sar(h, l, c, initial_af, step_af, max_af)],
        Indicator::Rvi {
            period,
            signal_period,
        } => trend::rvi(bars.open(), h, l, c, period, signal_period),
        Indicator::FisherTransform { period, smoothing } => trend::fisher(h, l, period, smoothing),
        Indicator::Ichimoku {
            tenkan_period,
            kijun_period,
            senkou_b_period,
            displacement,
        } => trend::ichimoku(
            h,
            l,
            tenkan_period,
            kijun_period,
            senkou_b_period,
            displacement,
        ),
        Indicator::SqueezeIntensity {
            bb_period,
            bb_multiplier,
            kc_period,
            kc_multiplier,
            source,
        } => vec![trend::squeeze_intensity(
            column(bars, source),
            h,
            l,
            c,
            (bb_period, bb_multiplier),
            (kc_period, kc_multiplier),
        )],
        Indicator::AdLine { smoothing_period } => trend::ad_line(h, l, c, v, smoothing_period),
        Indicator::Cmf { period } => {
            let (mut flows, mut volumes) = (RollingSum::new(period), RollingSum::new(period));
            vec![(0..len)
                .map(|i| {
                    let range = h[i] - l[i];
                    let multiplier = if range == 0.0 {
                        0.0
                    } else {
                        ((c[i] - l[i]) - (h[i] - c[i])) / range
                    };
                    match (flows.push(multiplier * v[i]), volumes.push(v[i])) {
                        (Some(f), Some(s)) => ratio(f, s),
                        _ => NAN,
                    }
                })
                .collect()]
        }
    }
}

/// Rolling mean and sample deviation of `x` to `emit`, bar by bar (NaN, NaN when undefined).
fn moments(x: &[f64], n: usize, mut emit: impl FnMut(f64, f64)) {
    if all_finite(&[x]) {
        return fast::rolling_moments(x, n, emit);
    }
    let mut window = RollingMoments::new(n);
    for &v in x {
        let (m, s) = window.push(v).unwrap_or((NAN, NAN));
        emit(m, s);
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
    let nf = n as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    let mut seen = 0usize;
    let mut step = |d: f64| -> f64 {
        if !d.is_finite() {
            return NAN;
        }
        let (g, l) = (d.max(0.0), (-d).max(0.0));
        seen += 1;
        if seen <= n {
            // The seed: the plain mean of the first n changes.
            gain += g;
            loss += l;
            if seen < n {
                return NAN;
            }
            gain /= nf;
            loss /= nf;
        } else {
            gain = (gain * (nf - 1.0) + g) / nf;
            loss = (loss * (nf - 1.0) + l) / nf;
        }
        if loss == 0.0 {
            if gain == 0.0 {
                50.0
            } else {
                100.0
            }
        } else {
            100.0 - 100.0 / (1.0 + gain / loss)
        }
    };
    let first = x.first().map(|_| NAN);
    first
        .into_iter()
        .chain(x.windows(2).map(|w| step(w[1] - w[0])))
        .collect()
}

/// MACD line, signal and histogram in one pass: the three recursions interleave, four bars per
/// step on clean input.
fn macd(x: &[f64], fast: usize, slow: usize, signal: usize) -> Vec<Vec<f64>> {
    let alpha = |n: usize| 2.0 / (n as f64 + 1.0);
    let (af, as_, ag) = (alpha(fast), alpha(slow), alpha(signal));
    let [mut line_out, mut signal_out, mut hist_out] = columns(x.len());
    let (mut f, mut s, mut g) = (NAN, NAN, NAN);
    let mut rest = x;
    if all_finite(&[x]) {
        if let Some(&first) = x.first() {
            (f, s, g) = (first, first, 0.0);
            line_out.push(0.0);
            signal_out.push(0.0);
            hist_out.push(0.0);
            let (bf, bs, bg) = (powers(1.0 - af), powers(1.0 - as_), powers(1.0 - ag));
            let mut chunks = x[1..].chunks_exact(4);
            for c in &mut chunks {
                let c = [c[0], c[1], c[2], c[3]];
                let fs = four_steps(f, bf, c.map(|v| af * v));
                let ss = four_steps(s, bs, c.map(|v| as_ * v));
                let line = [fs[0] - ss[0], fs[1] - ss[1], fs[2] - ss[2], fs[3] - ss[3]];
                let gs = four_steps(g, bg, line.map(|v| ag * v));
                line_out.extend(line);
                signal_out.extend(gs);
                hist_out.extend([
                    line[0] - gs[0],
                    line[1] - gs[1],
                    line[2] - gs[2],
                    line[3] - gs[3],
                ]);
                (f, s, g) = (fs[3], ss[3], gs[3]);
            }
            rest = chunks.remainder();
        }
    }
    for &v in rest {
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

/// ADX, +DI, −DI with Wilder smoothing (ewm α = 1/n, adjust=False, seeded on the first bar).
fn adx(h: &[f64], l: &[f64], c: &[f64], n: usize) -> Vec<Vec<f64>> {
    let [mut adx_out, mut plus_out, mut minus_out] = columns(c.len());
    let alpha = 1.0 / n as f64;
    let (mut tr_s, mut plus_s, mut minus_s, mut adx) = (NAN, NAN, NAN, NAN);
    for i in 0..c.len() {
        // No previous bar: no directional movement on the first.
        let (up, down) = match i.checked_sub(1) {
            Some(p) => (h[i] - h[p], l[p] - l[i]),
            None => (0.0, 0.0),
        };
        let plus_dm = if up > down && up > 0.0 { up } else { 0.0 };
        let minus_dm = if down > up && down > 0.0 { down } else { 0.0 };
        let tr = true_range_at(h, l, c, i);
        if tr.is_finite() {
            tr_s = ewm_step(tr_s, tr, alpha);
            plus_s = ewm_step(plus_s, plus_dm, alpha);
            minus_s = ewm_step(minus_s, minus_dm, alpha);
        }
        let (p, m) = (100.0 * ratio(plus_s, tr_s), 100.0 * ratio(minus_s, tr_s));
        adx = ewm_step(adx, 100.0 * ratio((p - m).abs(), p + m), alpha);
        adx_out.push(adx);
        plus_out.push(p);
        minus_out.push(m);
    }
    vec![adx_out, plus_out, minus_out]
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
    let (mut positive, mut negative) = (RollingSum::new(n), RollingSum::new(n));
    let mut prev = NAN;
    (0..c.len())
        .map(|i| {
            let tp = (h[i] + l[i] + c[i]) / 3.0;
            let flow = tp * v[i];
            let (p, m) = if prev.is_nan() {
                (NAN, NAN)
            } else if tp > prev {
                (flow, 0.0)
            } else if tp < prev {
                (0.0, flow)
            } else {
                (0.0, 0.0)
            };
            prev = tp;
            match (positive.push(p), negative.push(m)) {
                (Some(p), Some(m)) => 100.0 * ratio(p, p + m),
                _ => NAN,
            }
        })
        .collect()
}

fn vwap(h: &[f64], l: &[f64], c: &[f64], v: &[f64], n: usize) -> Vec<f64> {
    let typical_volume = |i: usize| (h[i] + l[i] + c[i]) / 3.0 * v[i];
    if n == 0 {
        let (mut num, mut den) = (0.0, 0.0);
        return (0..c.len())
            .map(|i| {
                num += typical_volume(i);
                den += v[i];
                ratio(num, den)
            })
            .collect();
    }
    let (mut num, mut den) = (RollingSum::new(n), RollingSum::new(n));
    (0..c.len())
        .map(|i| match (num.push(typical_volume(i)), den.push(v[i])) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => NAN,
        })
        .collect()
}
