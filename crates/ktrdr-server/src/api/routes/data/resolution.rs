//! A window of bars at a resolution a chart can draw: the bucket size for a number of points,
//! bars into candles, gaps and validation findings thinned to the same buckets. Pure functions
//! of their inputs, so the route only reads and validates.

use ktrdr_data::gaps::Gap;
use ktrdr_data::types::BarSeries;
use ktrdr_data::validate::{IssueKind, Severity};

use crate::api::wire::{Candle, CandleFinding, CandleGap};

/// The bucket size for at most `max_points` candles over `span` seconds of `bar_seconds` bars:
/// the bar size, or the smallest "round" multiple of it (1, 2 or 5 × a power of ten bars) that
/// keeps the count under `max_points`. Round multiples keep the buckets of a panned window on
/// the same grid, so candles do not change shape as the window moves.
pub(crate) fn bucket_seconds(span: i64, bar_seconds: i64, max_points: usize) -> i64 {
    let bar_seconds = bar_seconds.max(1);
    let bars = span.max(0) / bar_seconds + 1;
    let max_points = i64::try_from(max_points.max(1)).unwrap_or(i64::MAX);
    let mut scale: i64 = 1;
    loop {
        for factor in [1, 2, 5] {
            let k = factor * scale;
            if bars / k + i64::from(bars % k != 0) <= max_points {
                return bar_seconds.saturating_mul(k);
            }
        }
        match scale.checked_mul(10) {
            Some(next) => scale = next,
            None => return i64::MAX,
        }
    }
}

/// The bucket a bar at `ts` falls in (its start), on the grid of `width` from the epoch.
fn bucket_of(ts: i64, width: i64) -> i64 {
    ts.div_euclid(width) * width
}

/// The candles of `series` in buckets of `width` seconds, with the range of bar positions each
/// stands for.
pub(crate) fn candles(series: &BarSeries, width: i64) -> Vec<(Candle, std::ops::Range<usize>)> {
    let mut out: Vec<(Candle, std::ops::Range<usize>)> = Vec::new();
    let mut current: Option<i64> = None;
    for (i, bar) in series.iter().enumerate() {
        let bucket = bucket_of(bar.ts, width);
        match out.last_mut() {
            Some((candle, rows)) if current == Some(bucket) => {
                candle.h = candle.h.max(bar.high);
                candle.l = candle.l.min(bar.low);
                candle.c = bar.close;
                candle.v += bar.volume;
                candle.bars += 1;
                rows.end = i + 1;
            }
            _ => {
                current = Some(bucket);
                let candle = Candle {
                    t: bar.ts,
                    o: bar.open,
                    h: bar.high,
                    l: bar.low,
                    c: bar.close,
                    v: bar.volume,
                    bars: 1,
                };
                out.push((candle, i..i + 1));
            }
        }
    }
    out
}

/// `gaps` as a chart of `width`-second buckets shows them, for bars of `bar_seconds`: at the
/// bar size, every interval; coarser, closures shorter than a bucket are dropped (they would
/// not show, and a night between two sessions would otherwise cover the chart) and intervals
/// of the same other kind less than a bucket apart are merged. Either way at most about one
/// interval per bucket and kind remains.
pub(crate) fn thin_gaps(gaps: &[Gap], width: i64, bar_seconds: i64) -> Vec<CandleGap> {
    let mut out: Vec<CandleGap> = Vec::new();
    for gap in gaps {
        let coarse = width > bar_seconds;
        if coarse && gap.kind.is_closure() && gap.end - gap.start < width {
            continue;
        }
        let kind = gap.kind.as_str();
        let mergeable = coarse && !gap.kind.is_closure();
        if mergeable {
            if let Some(last) = out
                .iter_mut()
                .rev()
                .find(|g| g.kind == kind)
                .filter(|last| gap.start - last.end < width)
            {
                last.end = last.end.max(gap.end);
                last.missing_bars += gap.missing_bars;
                continue;
            }
        }
        out.push(CandleGap {
            start: gap.start,
            end: gap.end,
            kind: kind.to_owned(),
            missing_bars: gap.missing_bars,
        });
    }
    out
}

/// The findings per candle: `kinds_of(row)` names the kinds found on the bar at position
/// `row`; a candle with none is left out.
pub(crate) fn findings<'a, I>(
    candles: &[(Candle, std::ops::Range<usize>)],
    kinds_of: impl Fn(usize) -> I,
) -> Vec<CandleFinding>
where
    I: Iterator<Item = IssueKind> + 'a,
{
    let mut out = Vec::new();
    for (candle, rows) in candles {
        let mut mask = 0u32;
        let mut bars = 0;
        for row in rows.clone() {
            let mut any = false;
            for kind in kinds_of(row) {
                mask |= 1 << (kind as u32);
                any = true;
            }
            bars += usize::from(any);
        }
        if bars == 0 {
            continue;
        }
        let kinds: Vec<IssueKind> = IssueKind::ALL
            .into_iter()
            .filter(|kind| mask & (1 << (*kind as u32)) != 0)
            .collect();
        let severity = kinds
            .iter()
            .map(|kind| kind.severity())
            .max()
            .unwrap_or(Severity::Info);
        out.push(CandleFinding {
            t: candle.t,
            kinds: kinds.iter().map(|kind| kind.as_str().to_owned()).collect(),
            severity: match severity {
                Severity::Info => "info",
                Severity::Warning => "warning",
                Severity::Error => "error",
            }
            .to_owned(),
            bars,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_data::gaps::GapKind;
    use ktrdr_data::types::Bar;

    const HOUR: i64 = 3600;

    #[test]
    fn the_bucket_is_the_bar_until_there_are_too_many_bars_then_a_round_multiple() {
        // 20 years of hours: 175 320 bars.
        let span = 20 * 365 * 24 * HOUR + 5 * 24 * HOUR;
        assert_eq!(bucket_seconds(999 * HOUR, HOUR, 1000), HOUR);
        assert_eq!(bucket_seconds(1000 * HOUR, HOUR, 1000), 2 * HOUR);
        assert_eq!(bucket_seconds(span, HOUR, 1000), 200 * HOUR);
        assert!((span / bucket_seconds(span, HOUR, 1000)) < 1000);
        assert_eq!(bucket_seconds(span, HOUR, 1), 200_000 * HOUR);
        assert_eq!(bucket_seconds(0, HOUR, 1), HOUR);
    }

    fn bar(ts: i64, open: f64, close: f64) -> Bar {
        Bar {
            ts,
            open,
            high: open.max(close) + 1.0,
            low: open.min(close) - 1.0,
            close,
            volume: 10.0,
        }
    }

    #[test]
    fn candles_take_the_first_open_the_extremes_the_last_close_and_the_volume() {
        let series = BarSeries::from_bars([
            bar(0, 10.0, 11.0),
            bar(HOUR, 11.0, 15.0),
            bar(2 * HOUR, 15.0, 12.0),
            bar(5 * HOUR, 12.0, 13.0),
        ])
        .unwrap();
        let got = candles(&series, 4 * HOUR);
        let shown: Vec<_> = got
            .iter()
            .map(|(c, rows)| (c.t, c.o, c.h, c.l, c.c, c.v, c.bars, rows.clone()))
            .collect();
        assert_eq!(
            shown,
            [
                (0, 10.0, 16.0, 9.0, 12.0, 30.0, 3, 0..3),
                (5 * HOUR, 12.0, 14.0, 11.0, 13.0, 10.0, 1, 3..4),
            ]
        );
        assert_eq!(
            candles(&series, HOUR).len(),
            4,
            "at the bar size, one per bar"
        );
    }

    fn gap(start: i64, end: i64, kind: GapKind) -> Gap {
        Gap {
            start,
            end,
            kind,
            missing_bars: if kind.is_closure() { 0 } else { 1 },
        }
    }

    #[test]
    fn coarse_gaps_drop_short_closures_and_merge_near_missing_bars() {
        let gaps = [
            gap(0, HOUR, GapKind::Missing),
            gap(2 * HOUR, 3 * HOUR, GapKind::OutsideHours),
            gap(3 * HOUR, 4 * HOUR, GapKind::Missing),
            gap(10 * HOUR, 40 * HOUR, GapKind::Holiday),
            gap(60 * HOUR, 61 * HOUR, GapKind::Missing),
        ];
        let kinds = |gaps: Vec<CandleGap>| {
            gaps.into_iter()
                .map(|g| (g.start / HOUR, g.end / HOUR, g.kind, g.missing_bars))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(thin_gaps(&gaps, 24 * HOUR, HOUR)),
            [
                (0, 4, "missing".to_owned(), 2),
                (10, 40, "holiday".to_owned(), 0),
                (60, 61, "missing".to_owned(), 1),
            ]
        );
        assert_eq!(
            thin_gaps(&gaps, HOUR, HOUR).len(),
            5,
            "every gap at the bar size"
        );
    }

    #[test]
    fn findings_name_each_candles_kinds_and_worst_severity() {
        let series = BarSeries::from_bars((0..6).map(|i| bar(i * HOUR, 10.0, 11.0))).unwrap();
        let buckets = candles(&series, 2 * HOUR);
        let found = findings(&buckets, |row| {
            match row {
                1 => vec![IssueKind::ZeroVolume],
                4 => vec![IssueKind::Outlier, IssueKind::ZeroVolume],
                5 => vec![IssueKind::OhlcInconsistent],
                _ => vec![],
            }
            .into_iter()
        });
        let shown: Vec<_> = found
            .iter()
            .map(|f| (f.t / HOUR, f.kinds.join(","), f.severity.as_str(), f.bars))
            .collect();
        assert_eq!(
            shown,
            [
                (0, "zero_volume".to_owned(), "info", 1),
                (
                    4,
                    "ohlc_inconsistent,outlier,zero_volume".to_owned(),
                    "error",
                    2
                ),
            ]
        );
    }
}
