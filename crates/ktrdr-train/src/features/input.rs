//! What value of an indicator its fuzzy sets read (spec §1.5, mapping):
//!
//! - `sma`, `ema`: close / moving average, a ratio near 1 that means the same on every symbol
//!   (the Python system's mapping);
//! - `BollingerBands`: close / middle band, for the same reason (the shipped sets, e.g.
//!   `[0.85, 0.95, 1.0]`, are ratios; the Python system dropped this indicator altogether);
//! - `macd`: the MACD line;
//! - every other indicator: its main (first) column.
//!
//! A value that is not finite (warm-up NaN, a zero moving average) stays NaN, so the row it
//! reaches is a warm-up row, never a fabricated 0.

use ktrdr_data::types::BarSeries;
use ktrdr_indicators::Indicator;

/// The series an indicator's fuzzy sets are evaluated on, one value per bar of `bars`.
pub(crate) fn fuzzy_input(indicator: &Indicator, bars: &BarSeries) -> Vec<f64> {
    let output = indicator.compute(bars);
    let column = |i: usize| output.columns.get(i).map(|c| c.values.as_slice());
    let ratio_to = |ma: Option<&[f64]>| -> Vec<f64> {
        let nan = vec![f64::NAN; bars.len()];
        let ma = ma.unwrap_or(&nan);
        bars.close()
            .iter()
            .zip(ma)
            .map(|(c, m)| finite(c / m))
            .collect()
    };
    match indicator {
        Indicator::Sma { .. } | Indicator::Ema { .. } => ratio_to(column(0)),
        Indicator::BollingerBands { .. } => ratio_to(column(1)),
        _ => match column(0) {
            Some(main) => main.iter().map(|&x| finite(x)).collect(),
            None => vec![f64::NAN; bars.len()],
        },
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_data::types::Bar;
    use ktrdr_indicators::IndicatorSpec;

    fn bars(closes: &[f64]) -> BarSeries {
        BarSeries::from_bars(closes.iter().enumerate().map(|(i, &c)| Bar {
            ts: i as i64 * 60,
            open: c,
            high: c + 1.0,
            low: c - 1.0,
            close: c,
            volume: 1.0,
        }))
        .unwrap()
    }

    fn indicator(cli: &str) -> Indicator {
        IndicatorSpec::parse_cli(cli).unwrap().indicator
    }

    #[test]
    fn moving_averages_become_close_ratios() {
        let b = bars(&[10.0, 20.0, 30.0, 60.0]);
        let x = fuzzy_input(&indicator("sma:period=2"), &b);
        assert!(x[0].is_nan());
        assert_eq!(&x[1..], &[20.0 / 15.0, 30.0 / 25.0, 60.0 / 45.0]);
        let bb = fuzzy_input(&indicator("bbands:period=2"), &b);
        assert_eq!(&bb[1..], &x[1..]);
    }

    #[test]
    fn macd_and_others_use_their_main_column() {
        let closes: Vec<f64> = (0..60).map(|i| 100.0 + (i as f64 * 0.7).sin()).collect();
        let b = bars(&closes);
        let macd = indicator("macd");
        assert_eq!(fuzzy_input(&macd, &b), macd.compute(&b).columns[0].values);
        let rsi = indicator("rsi:period=14");
        let x = fuzzy_input(&rsi, &b);
        assert!(x[13].is_nan() && x[14].is_finite());
        assert_eq!(x[14..], rsi.compute(&b).columns[0].values[14..]);
    }
}
