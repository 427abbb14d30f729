use std::ops::Range;

use super::Bar;

/// A columnar run of bars with strictly increasing timestamps (sorted, no duplicates).
///
/// The invariant is checked by every constructor, so code holding a `BarSeries` never has to
/// re-check it. Columns are exposed as slices for fast scans.
///
/// ```
/// use ktrdr_data::types::{Bar, BarSeries};
/// let bar = |ts, close| Bar { ts, open: close, high: close, low: close, close, volume: 0.0 };
/// let old = BarSeries::from_bars(vec![bar(0, 1.0), bar(60, 2.0)]).unwrap();
/// let new = BarSeries::from_bars(vec![bar(60, 9.0), bar(120, 3.0)]).unwrap();
/// let merged = old.merge(&new);
/// assert_eq!(merged.ts(), &[0, 60, 120]);
/// assert_eq!(merged.close(), &[1.0, 9.0, 3.0]); // the new bar won at ts 60
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarSeries {
    ts: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

/// Which of the rows sharing one timestamp (`same`, in input order, not empty) a series keeps:
/// the last one, since a row written later is newer, unless it is impossible and an earlier one
/// is not, so a good bar is never traded for a bad one. The one rule for duplicates: loads and
/// rewrites of the store and validation's duplicate check (hence repair) all call it.
pub fn kept_duplicate<T>(same: &[T], impossible: impl Fn(&T) -> bool) -> usize {
    let last = same.len().saturating_sub(1);
    if last == 0 {
        return 0;
    }
    same.iter().rposition(|r| !impossible(r)).unwrap_or(last)
}

/// Input that would break the [`BarSeries`] invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    /// Bar `index` does not come strictly after the bar before it.
    #[error("bar {index} (ts {ts}) is not after the previous bar (ts {prev}); timestamps must be strictly increasing")]
    NotIncreasing {
        /// Position of the offending bar.
        index: usize,
        /// Its timestamp.
        ts: i64,
        /// The previous bar's timestamp.
        prev: i64,
    },
    /// The columns given to [`BarSeries::from_columns`] differ in length.
    #[error("column lengths differ: {0:?} (ts, open, high, low, close, volume)")]
    ColumnLengths([usize; 6]),
}

/// What [`BarSeries::from_unordered`] had to do to restore order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderReport {
    /// Rows whose timestamp was not after the previous row's in input order.
    pub out_of_order: usize,
    /// Rows dropped because another row had the same timestamp (see [`kept_duplicate`]).
    pub duplicates: usize,
}

impl OrderReport {
    /// True when the input was already sorted and unique.
    pub fn is_clean(&self) -> bool {
        self.out_of_order == 0 && self.duplicates == 0
    }
}

/// Counts from [`BarSeries::merge_with_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Bars of `new` at timestamps absent from `self`.
    pub added: usize,
    /// Bars of `new` that replaced a bar of `self` with different values.
    pub replaced: usize,
    /// Bars of `new` identical to the bar already in `self`.
    pub unchanged: usize,
}

impl BarSeries {
    /// An empty series.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty series with room for `n` bars.
    pub fn with_capacity(n: usize) -> Self {
        BarSeries {
            ts: Vec::with_capacity(n),
            open: Vec::with_capacity(n),
            high: Vec::with_capacity(n),
            low: Vec::with_capacity(n),
            close: Vec::with_capacity(n),
            volume: Vec::with_capacity(n),
        }
    }

    /// Builds a series from bars that must already be strictly increasing in time.
    pub fn from_bars(bars: impl IntoIterator<Item = Bar>) -> Result<Self, SeriesError> {
        let it = bars.into_iter();
        let mut s = Self::with_capacity(it.size_hint().0);
        for b in it {
            s.push(b)?;
        }
        Ok(s)
    }

    /// Builds a series from columns, checking equal lengths and strictly increasing timestamps.
    pub fn from_columns(
        ts: Vec<i64>,
        open: Vec<f64>,
        high: Vec<f64>,
        low: Vec<f64>,
        close: Vec<f64>,
        volume: Vec<f64>,
    ) -> Result<Self, SeriesError> {
        let lens = [
            ts.len(),
            open.len(),
            high.len(),
            low.len(),
            close.len(),
            volume.len(),
        ];
        if lens.iter().any(|&l| l != ts.len()) {
            return Err(SeriesError::ColumnLengths(lens));
        }
        if let Some(i) = ts.windows(2).position(|w| w[0] >= w[1]) {
            return Err(SeriesError::NotIncreasing {
                index: i + 1,
                ts: ts[i + 1],
                prev: ts[i],
            });
        }
        Ok(BarSeries {
            ts,
            open,
            high,
            low,
            close,
            volume,
        })
    }

    /// Sorts bars by time and drops duplicates (the *later* row in input order wins, matching
    /// "new bars win": a row appended later is the newer one). Reports what it changed. Knows
    /// nothing of impossible values: rows read from a file go through
    /// [`from_unordered_keeping`](Self::from_unordered_keeping) with validation's rule.
    pub fn from_unordered(bars: Vec<Bar>) -> (Self, OrderReport) {
        Self::from_unordered_keeping(bars, |_| false)
    }

    /// Sorts bars by time and keeps one row per timestamp by [`kept_duplicate`]: the later row,
    /// unless `impossible` says it is and an earlier one is not. Reports what it changed.
    pub fn from_unordered_keeping(
        mut bars: Vec<Bar>,
        impossible: impl Fn(&Bar) -> bool,
    ) -> (Self, OrderReport) {
        let out_of_order = bars.windows(2).filter(|w| w[1].ts < w[0].ts).count();
        // Stable sort keeps input order among equal timestamps, so the last one is the latest.
        bars.sort_by_key(|b| b.ts);
        let mut s = Self::with_capacity(bars.len());
        let mut duplicates = 0;
        for same in bars.chunk_by(|a, b| a.ts == b.ts) {
            duplicates += same.len() - 1;
            s.push_unchecked(same[kept_duplicate(same, &impossible)]);
        }
        (
            s,
            OrderReport {
                out_of_order,
                duplicates,
            },
        )
    }

    /// Appends a bar that must come strictly after the last one.
    pub fn push(&mut self, bar: Bar) -> Result<(), SeriesError> {
        if let Some(prev) = self.last_ts() {
            if bar.ts <= prev {
                return Err(SeriesError::NotIncreasing {
                    index: self.len(),
                    ts: bar.ts,
                    prev,
                });
            }
        }
        self.push_unchecked(bar);
        Ok(())
    }

    /// Caller guarantees `bar.ts > last_ts()`.
    #[inline]
    pub(crate) fn push_unchecked(&mut self, b: Bar) {
        self.ts.push(b.ts);
        self.open.push(b.open);
        self.high.push(b.high);
        self.low.push(b.low);
        self.close.push(b.close);
        self.volume.push(b.volume);
    }

    /// Number of bars.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when there are no bars.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Timestamp of the first bar.
    pub fn first_ts(&self) -> Option<i64> {
        self.ts.first().copied()
    }

    /// Timestamp of the last bar.
    pub fn last_ts(&self) -> Option<i64> {
        self.ts.last().copied()
    }

    /// Bar `i`, if it exists.
    pub fn bar(&self, i: usize) -> Option<Bar> {
        Some(Bar {
            ts: *self.ts.get(i)?,
            open: self.open[i],
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: self.volume[i],
        })
    }

    /// The bars in time order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Bar> + '_ {
        (0..self.len()).map(|i| Bar {
            ts: self.ts[i],
            open: self.open[i],
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: self.volume[i],
        })
    }

    /// Timestamps column.
    pub fn ts(&self) -> &[i64] {
        &self.ts
    }
    /// Open column.
    pub fn open(&self) -> &[f64] {
        &self.open
    }
    /// High column.
    pub fn high(&self) -> &[f64] {
        &self.high
    }
    /// Low column.
    pub fn low(&self) -> &[f64] {
        &self.low
    }
    /// Close column.
    pub fn close(&self) -> &[f64] {
        &self.close
    }
    /// Volume column.
    pub fn volume(&self) -> &[f64] {
        &self.volume
    }

    /// The index of the first bar at or after `ts`.
    pub fn position_at_or_after(&self, ts: i64) -> usize {
        self.ts.partition_point(|&t| t < ts)
    }

    /// The index range of bars with `start <= ts <= end` (both bounds optional, inclusive).
    pub fn index_range(&self, start: Option<i64>, end: Option<i64>) -> Range<usize> {
        let lo = start.map_or(0, |s| self.position_at_or_after(s));
        let hi = end.map_or(self.len(), |e| self.ts.partition_point(|&t| t <= e));
        lo..hi.max(lo)
    }

    /// A copy of the bars with `start <= ts <= end` (inclusive, both optional).
    pub fn slice_time(&self, start: Option<i64>, end: Option<i64>) -> BarSeries {
        self.slice_index(self.index_range(start, end))
    }

    /// A copy of the bars at positions `r` (clamped to the series).
    pub fn slice_index(&self, r: Range<usize>) -> BarSeries {
        let end = r.end.min(self.len());
        let r = r.start.min(end)..end;
        BarSeries {
            ts: self.ts[r.clone()].to_vec(),
            open: self.open[r.clone()].to_vec(),
            high: self.high[r.clone()].to_vec(),
            low: self.low[r.clone()].to_vec(),
            close: self.close[r.clone()].to_vec(),
            volume: self.volume[r].to_vec(),
        }
    }

    /// The union of both series; on equal timestamps the bar of `new` wins.
    pub fn merge(&self, new: &BarSeries) -> BarSeries {
        self.merge_with_stats(new).0
    }

    /// [`merge`](Self::merge), also counting added, replaced and unchanged bars of `new`.
    pub fn merge_with_stats(&self, new: &BarSeries) -> (BarSeries, MergeStats) {
        let mut out = BarSeries::with_capacity(self.len() + new.len());
        let mut stats = MergeStats::default();
        let (mut i, mut j) = (0, 0);
        while i < self.len() || j < new.len() {
            let take_old = j == new.len() || (i < self.len() && self.ts[i] < new.ts[j]);
            if take_old {
                out.push_unchecked(self.bar_at(i));
                i += 1;
                continue;
            }
            let nb = new.bar_at(j);
            if i < self.len() && self.ts[i] == nb.ts {
                if bits_equal(&self.bar_at(i), &nb) {
                    stats.unchanged += 1;
                } else {
                    stats.replaced += 1;
                }
                i += 1;
            } else {
                stats.added += 1;
            }
            out.push_unchecked(nb);
            j += 1;
        }
        (out, stats)
    }

    #[inline]
    fn bar_at(&self, i: usize) -> Bar {
        Bar {
            ts: self.ts[i],
            open: self.open[i],
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: self.volume[i],
        }
    }
}

/// Value identity for "did this bar change" (bitwise, so NaN == NaN and -0.0 != 0.0 as stored).
fn bits_equal(a: &Bar, b: &Bar) -> bool {
    a.ts == b.ts
        && a.open.to_bits() == b.open.to_bits()
        && a.high.to_bits() == b.high.to_bits()
        && a.low.to_bits() == b.low.to_bits()
        && a.close.to_bits() == b.close.to_bits()
        && a.volume.to_bits() == b.volume.to_bits()
}

impl FromIterator<Bar> for Result<BarSeries, SeriesError> {
    fn from_iter<I: IntoIterator<Item = Bar>>(iter: I) -> Self {
        BarSeries::from_bars(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, c: f64) -> Bar {
        Bar {
            ts,
            open: c,
            high: c,
            low: c,
            close: c,
            volume: 1.0,
        }
    }

    #[test]
    fn constructors_enforce_strictly_increasing() {
        assert!(matches!(
            BarSeries::from_bars([bar(1, 1.0), bar(1, 2.0)]),
            Err(SeriesError::NotIncreasing {
                index: 1,
                ts: 1,
                prev: 1
            })
        ));
        assert!(matches!(
            BarSeries::from_columns(
                vec![2, 1],
                vec![0.0; 2],
                vec![0.0; 2],
                vec![0.0; 2],
                vec![0.0; 2],
                vec![0.0; 2]
            ),
            Err(SeriesError::NotIncreasing { index: 1, .. })
        ));
        assert!(matches!(
            BarSeries::from_columns(vec![1], vec![], vec![0.0], vec![0.0], vec![0.0], vec![0.0]),
            Err(SeriesError::ColumnLengths(_))
        ));
    }

    #[test]
    fn the_kept_duplicate_is_the_last_possible_row_else_the_last() {
        let impossible = |c: &f64| *c < 0.0;
        assert_eq!(kept_duplicate(&[1.0, 2.0, 3.0], impossible), 2);
        assert_eq!(kept_duplicate(&[1.0, 2.0, -3.0], impossible), 1);
        assert_eq!(kept_duplicate(&[-1.0, -2.0], impossible), 1);
        assert_eq!(kept_duplicate(&[-1.0], impossible), 0);
        let (s, rep) =
            BarSeries::from_unordered_keeping(vec![bar(3, 3.0), bar(1, 1.0), bar(3, -4.0)], |b| {
                b.close < 0.0
            });
        assert_eq!(s.close(), &[1.0, 3.0]);
        assert_eq!(rep.duplicates, 1);
    }

    #[test]
    fn from_unordered_sorts_and_keeps_the_later_duplicate() {
        let (s, rep) =
            BarSeries::from_unordered(vec![bar(3, 3.0), bar(1, 1.0), bar(3, 4.0), bar(2, 2.0)]);
        assert_eq!(s.ts(), &[1, 2, 3]);
        assert_eq!(s.close(), &[1.0, 2.0, 4.0]);
        assert_eq!(
            rep,
            OrderReport {
                out_of_order: 2,
                duplicates: 1
            }
        );
        assert!(!rep.is_clean());
    }

    #[test]
    fn time_slices_are_inclusive() {
        let s = BarSeries::from_bars((0..10).map(|i| bar(i * 10, i as f64))).unwrap();
        assert_eq!(s.slice_time(Some(15), Some(40)).ts(), &[20, 30, 40]);
        assert_eq!(s.slice_time(None, Some(0)).ts(), &[0]);
        assert_eq!(s.slice_time(Some(95), None).len(), 0);
        assert_eq!(s.slice_time(Some(50), Some(10)).len(), 0);
        assert_eq!(s.slice_index(8..20).ts(), &[80, 90]);
        assert_eq!(s.bar(3), Some(bar(30, 3.0)));
        assert_eq!(s.bar(10), None);
    }

    #[test]
    fn merge_counts_added_replaced_unchanged() {
        let a = BarSeries::from_bars([bar(1, 1.0), bar(2, 2.0), bar(3, 3.0)]).unwrap();
        let b = BarSeries::from_bars([bar(0, 0.0), bar(2, 2.0), bar(3, 9.0), bar(5, 5.0)]).unwrap();
        let (m, st) = a.merge_with_stats(&b);
        assert_eq!(m.ts(), &[0, 1, 2, 3, 5]);
        assert_eq!(m.close(), &[0.0, 1.0, 2.0, 9.0, 5.0]);
        assert_eq!(
            st,
            MergeStats {
                added: 2,
                replaced: 1,
                unchanged: 1
            }
        );
    }
}
