//! Synthetic bars for feature tests: a seeded random walk on the base timeframe, aggregated
//! into higher timeframes the way a data source would (bars opening on multiples of their size).

use ktrdr_data::types::{Bar, BarSeries, Timeframe};

/// 2024-01-01 00:00 UTC, a Monday.
pub const START: i64 = 1_704_067_200;

/// `n` contiguous base bars of a random walk (xorshift, seeded), from [`START`].
pub fn walk(tf: Timeframe, n: usize, seed: u64) -> Vec<Bar> {
    let mut state = seed.max(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut close = 100.0;
    (0..n)
        .map(|i| {
            let open = close;
            close *= 1.0 + 0.01 * next();
            let wiggle = 0.002 * next().abs() * close;
            Bar {
                ts: START + i as i64 * tf.seconds(),
                open,
                high: open.max(close) + wiggle,
                low: open.min(close) - wiggle,
                close,
                volume: 1000.0,
            }
        })
        .collect()
}

/// Bars of `to` made from `bars` (first open, max high, min low, last close, summed volume).
pub fn aggregate(bars: &[Bar], to: Timeframe) -> Vec<Bar> {
    let size = to.seconds();
    let mut out: Vec<Bar> = Vec::new();
    for b in bars {
        let ts = b.ts - b.ts.rem_euclid(size);
        match out.last_mut() {
            Some(last) if last.ts == ts => {
                last.high = last.high.max(b.high);
                last.low = last.low.min(b.low);
                last.close = b.close;
                last.volume += b.volume;
            }
            _ => out.push(Bar { ts, ..*b }),
        }
    }
    out
}

/// One series per timeframe (the first is the base) from base bars.
pub fn series(base: &[Bar], tfs: &[Timeframe]) -> Vec<(Timeframe, BarSeries)> {
    tfs.iter()
        .map(|&tf| {
            let bars = if tf == tfs[0] {
                base.to_vec()
            } else {
                aggregate(base, tf)
            };
            (tf, BarSeries::from_bars(bars).unwrap())
        })
        .collect()
}
