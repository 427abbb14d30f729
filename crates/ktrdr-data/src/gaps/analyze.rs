//! The analysis: expected slots from the calendar, minus the bars present, as classified runs.

use chrono::{Datelike, NaiveDate, Weekday};

use super::grid::{self, Slot};
use super::{Gap, GapKind, GapReport};
use crate::calendar::{Calendar, CalendarError, SessionHours};
use crate::types::{format_timestamp_human, BarSeries, Timeframe};

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
