//! What a gap analysis found, with per-kind summaries and the intervals to fetch.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::grid;
use super::{Gap, GapKind};
use crate::calendar::{Calendar, SessionHours};
use crate::types::Timeframe;

/// Count and extent of one kind of interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindSummary {
    /// Number of intervals.
    pub intervals: usize,
    /// Expected bars inside them.
    pub missing_bars: usize,
    /// Total length in seconds.
    pub seconds: i64,
}

/// The result of [`analyze`](super::analyze).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapReport {
    /// The calendar the slots came from.
    pub calendar: Calendar,
    /// The bar size.
    pub timeframe: Timeframe,
    /// The session hours bars were expected in.
    pub hours: SessionHours,
    /// Analysed range start (unix seconds).
    pub start: i64,
    /// Analysed range end (exclusive).
    pub end: i64,
    /// Expected bar slots in the range.
    pub expected_bars: usize,
    /// Slots holding at least one bar.
    pub present_bars: usize,
    /// Bars in the range that sit in no expected slot (outside the chosen session hours, or
    /// shifted by a time-zone error); they fill nothing. `ktrdr data validate` says more.
    pub unplaced_bars: usize,
    /// Every interval without bars, in time order, closures included.
    pub gaps: Vec<Gap>,
}

impl GapReport {
    /// The intervals of one kind.
    pub fn of_kind(&self, kind: GapKind) -> impl Iterator<Item = &Gap> + '_ {
        self.gaps.iter().filter(move |g| g.kind == kind)
    }

    /// Counts per kind, in [`GapKind::ALL`] order.
    pub fn summary(&self) -> Vec<(GapKind, KindSummary)> {
        GapKind::ALL
            .iter()
            .map(|&kind| {
                let mut s = KindSummary::default();
                for g in self.of_kind(kind) {
                    s.intervals += 1;
                    s.missing_bars += g.missing_bars;
                    s.seconds += g.end - g.start;
                }
                (kind, s)
            })
            .collect()
    }

    /// The parts of the analysed range outside the calendar's coverage (`[start, end)`, unix
    /// seconds), where no bar is expected because no session is known: a report that is
    /// "complete" there says nothing.
    pub fn uncovered(&self) -> Vec<(i64, i64)> {
        let coverage = self.calendar.coverage();
        let first = grid::midnight(*coverage.start());
        let last = grid::midnight(*coverage.end()) + 86_400;
        [
            (self.start, self.end.min(first)),
            (self.start.max(last), self.end),
        ]
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect()
    }

    /// The intervals to fetch from a provider (the [`GapKind::Missing`] ones), ready for
    /// [`crate::planner::plan_requests`].
    pub fn to_fill(&self) -> impl Iterator<Item = Range<i64>> + '_ {
        self.of_kind(GapKind::Missing).map(|g| g.start..g.end)
    }
}
