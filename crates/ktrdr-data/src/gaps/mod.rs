//! Gap analysis: the bar slots an exchange calendar expects, minus the bars present, as
//! classified intervals.
//!
//! Replaces the Python `GapAnalyzer` + `GapClassifier`, whose heuristics (any gap containing
//! a weekend day is "expected", gaps under two days skipped without metadata, a hard-coded
//! holiday list with Columbus Day in it) hid missing weekdays. Here a gap is never classified
//! as a whole: every expected slot of every session is checked, missing slots are merged into
//! runs *within* trading time, and the closed time between sessions is reported as its own
//! intervals (weekend, holiday, outside hours). A weekend next to three missing weekdays shows
//! as three days of missing bars plus a weekend, never as one "weekend gap".
//!
//! ```
//! use ktrdr_data::calendar::{Calendar, SessionHours};
//! use ktrdr_data::gaps::{analyze, GapKind, GapOptions};
//! use ktrdr_data::types::{Bar, BarSeries, Timeframe};
//!
//! // Daily bars for Thursday 2024-11-21 and Tuesday 2024-11-26: Friday and Monday are missing.
//! let bar = |ts| Bar { ts, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 };
//! let series = BarSeries::from_bars([bar(1_732_147_200), bar(1_732_579_200)]).unwrap();
//! let report = analyze(&series, Calendar::Xnys, Timeframe::D1, &GapOptions::default()).unwrap();
//! let kinds: Vec<_> = report.gaps.iter().map(|g| (g.kind, g.missing_bars)).collect();
//! assert_eq!(
//!     kinds,
//!     [(GapKind::Missing, 1), (GapKind::Weekend, 0), (GapKind::Missing, 1)]
//! );
//! ```

pub(crate) mod grid;

use std::fmt;
use std::ops::Range;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, CalendarError, SessionHours};
use crate::types::{format_timestamp_human, BarSeries, Timeframe};
use grid::Slot;

/// What an interval without bars is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// Trading time without bars: data to fetch.
    Missing,
    /// Trading time before the instrument's first available bar (IB's head timestamp): nothing
    /// to fetch.
    BeforeHead,
    /// Closed between sessions over a Saturday or Sunday (FX: Friday 17:00 to Sunday 17:00).
    Weekend,
    /// Closed over a weekday without a session (a holiday or one-off closure), possibly with a
    /// weekend next to it (Good Friday to Monday is one holiday closure).
    Holiday,
    /// Closed between two sessions on consecutive trading days (overnight), or outside the
    /// chosen session hours.
    OutsideHours,
}

impl GapKind {
    /// Every kind, in report order.
    pub const ALL: [GapKind; 5] = [
        GapKind::Missing,
        GapKind::BeforeHead,
        GapKind::Weekend,
        GapKind::Holiday,
        GapKind::OutsideHours,
    ];

    /// The snake-case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            GapKind::Missing => "missing",
            GapKind::BeforeHead => "before_head",
            GapKind::Weekend => "weekend",
            GapKind::Holiday => "holiday",
            GapKind::OutsideHours => "outside_hours",
        }
    }

    /// True for closed time, where no bar is expected.
    pub fn is_closure(self) -> bool {
        matches!(
            self,
            GapKind::Weekend | GapKind::Holiday | GapKind::OutsideHours
        )
    }
}

impl fmt::Display for GapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One interval `[start, end)` (unix seconds) without bars, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// First second of the interval.
    pub start: i64,
    /// First second after it.
    pub end: i64,
    /// What it is.
    pub kind: GapKind,
    /// Expected bar slots inside it (0 for closures).
    pub missing_bars: usize,
}

/// Options of [`analyze`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GapOptions {
    /// Which session hours bars are expected in.
    pub hours: SessionHours,
    /// Start of the analysed range (unix seconds); default: the first bar.
    pub start: Option<i64>,
    /// End of the analysed range, exclusive; default: just after the last bar.
    pub end: Option<i64>,
    /// The instrument's first available bar (IB head timestamp); missing slots before it are
    /// [`GapKind::BeforeHead`].
    pub head: Option<i64>,
}

/// Gap analysis failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GapError {
    /// The calendar cannot answer for the range.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// The analysed range is empty or inverted.
    #[error(
        "invalid range: start {} is not before end {} (UTC)",
        format_timestamp_human(*start),
        format_timestamp_human(*end)
    )]
    InvalidRange {
        /// Start of the range (unix seconds).
        start: i64,
        /// End of the range (unix seconds).
        end: i64,
    },
}

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

/// The result of [`analyze`].
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

/// The session hours a stored series shows it was fetched with: extended as soon as one
/// intraday bar starts outside every regular session (IB `useRTH=False`), regular otherwise
/// (and always for daily and weekly bars). Bars outside the calendar's coverage say nothing.
///
/// This is what a gap analysis should expect by default: a regular-hours load must not be
/// reported as missing its pre-market and after-hours bars, and an extended-hours file must.
pub fn session_hours_of(
    series: &BarSeries,
    calendar: Calendar,
    tf: Timeframe,
) -> Result<SessionHours, CalendarError> {
    let (Some(first), Some(last), true) = (series.first_ts(), series.last_ts(), tf.is_intraday())
    else {
        return Ok(SessionHours::Regular);
    };
    let sessions = grid::sessions_around(calendar, first, last + 1, SessionHours::Regular)?;
    let (Some(lo), Some(hi)) = (sessions.first(), sessions.last()) else {
        return Ok(SessionHours::Regular);
    };
    let covered = lo.session.open..hi.session.close;
    let outside_regular = series
        .ts()
        .iter()
        .any(|ts| covered.contains(ts) && grid::containing(&sessions, *ts).is_none());
    Ok(if outside_regular {
        SessionHours::Extended
    } else {
        SessionHours::Regular
    })
}

/// Finds and classifies every interval of `[start, end)` without bars.
///
/// Sessions come from `calendar` for `opts.hours`; days outside the calendar's coverage expect
/// no bars. Bars must be in `series` (sorted, unique); bars in no expected slot are counted in
/// [`GapReport::unplaced_bars`] and fill nothing.
pub fn analyze(
    series: &BarSeries,
    calendar: Calendar,
    tf: Timeframe,
    opts: &GapOptions,
) -> Result<GapReport, GapError> {
    let start = opts.start.or(series.first_ts());
    let end = opts.end.or(series.last_ts().map(|t| t + 1));
    let (Some(start), Some(end)) = (start, end) else {
        // No bars and no range: nothing is expected.
        return Ok(GapReport {
            calendar,
            timeframe: tf,
            hours: opts.hours,
            start: 0,
            end: 0,
            expected_bars: 0,
            present_bars: 0,
            unplaced_bars: 0,
            gaps: Vec::new(),
        });
    };
    if start >= end {
        return Err(GapError::InvalidRange { start, end });
    }
    let sessions = grid::sessions_around(calendar, start, end, opts.hours)?;
    // Intraday slots are made a few hundred sessions at a time, so decades of minutes never
    // sit in memory at once; daily and weekly ones (a weekly slot spans sessions) in one go.
    let chunk = if tf.is_intraday() {
        SESSIONS_PER_CHUNK
    } else {
        sessions.len().max(1)
    };
    let mut slots = Vec::with_capacity(chunk.min(sessions.len()) * slots_per_session(tf));
    let mut expected_bars = 0;

    let ts = series.ts();
    let bars = &ts[series.position_at_or_after(start)..series.position_at_or_after(end)];
    let mut gaps = Vec::new();
    let mut present_bars = 0;
    let mut placed = 0;
    let mut b = 0;
    let mut run: Option<Run> = None;
    let mut prev: Option<Slot> = None;
    for group in sessions.chunks(chunk) {
        slots.clear();
        grid::slots(group, tf, start, end, &mut slots);
        expected_bars += slots.len();
        for slot in &slots {
            if let Some(p) = prev {
                if p.end < slot.start {
                    flush(&mut run, &mut gaps);
                    gaps.push(Gap {
                        start: p.end,
                        end: slot.start,
                        kind: closure_kind(p.date, slot.date),
                        missing_bars: 0,
                    });
                }
            }
            prev = Some(*slot);
            while b < bars.len() && bars[b] < slot.start {
                b += 1;
            }
            let first = b;
            while b < bars.len() && bars[b] < slot.end {
                b += 1;
            }
            if b > first {
                present_bars += 1;
                placed += b - first;
                flush(&mut run, &mut gaps);
            } else {
                // A slot the head timestamp falls inside can hold a bar (from the head on).
                let kind = match opts.head {
                    Some(head) if slot.end <= head => GapKind::BeforeHead,
                    _ => GapKind::Missing,
                };
                match &mut run {
                    Some(r) if r.kind == kind => {
                        r.end = slot.end;
                        r.slots += 1;
                    }
                    _ => {
                        flush(&mut run, &mut gaps);
                        run = Some(Run {
                            start: slot.start,
                            end: slot.end,
                            slots: 1,
                            kind,
                        });
                    }
                }
            }
        }
    }
    flush(&mut run, &mut gaps);
    Ok(GapReport {
        calendar,
        timeframe: tf,
        hours: opts.hours,
        start,
        end,
        expected_bars,
        present_bars,
        unplaced_bars: bars.len() - placed,
        gaps,
    })
}

/// Sessions whose intraday slots are made at once (1m: 256 × 1,440 slots, about 9 MB).
const SESSIONS_PER_CHUNK: usize = 256;

fn slots_per_session(tf: Timeframe) -> usize {
    if tf.is_intraday() {
        // 16 hours of extended trading per US equity session, plus the partial first slot.
        (16 * 3600 / tf.seconds()) as usize + 1
    } else {
        1
    }
}

/// A run of consecutive missing slots of one kind.
struct Run {
    start: i64,
    end: i64,
    slots: usize,
    kind: GapKind,
}

fn flush(run: &mut Option<Run>, gaps: &mut Vec<Gap>) {
    if let Some(r) = run.take() {
        gaps.push(Gap {
            start: r.start,
            end: r.end,
            kind: r.kind,
            missing_bars: r.slots,
        });
    }
}

/// Classifies the closed time between the sessions dated `before` and `after`: a weekday
/// without a session in between makes it a holiday, else a weekend day makes it a weekend,
/// else it is the overnight closure between consecutive trading days. Using the dates (not
/// `Calendar::closure_kind` per instant) keeps this free of time-zone work: the calendar has
/// already decided which days trade.
fn closure_kind(before: NaiveDate, after: NaiveDate) -> GapKind {
    let mut kind = GapKind::OutsideHours;
    for day in before.iter_days().skip(1).take_while(|d| *d < after) {
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            kind = GapKind::Weekend;
        } else {
            return GapKind::Holiday;
        }
    }
    kind
}
