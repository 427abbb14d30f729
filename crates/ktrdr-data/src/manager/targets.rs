//! What a load asks the provider for: the timestamps of the missing bars, not the time their
//! slots cover.
//!
//! A provider answers with the bars whose *timestamps* lie in a request's range, so a request
//! only has to reach the start of the last missing slot, not its end. Planning over slot
//! intervals instead costs requests on resume: a 120-day window that begins inside a 4h slot
//! (after a DST change the window's UTC arithmetic no longer falls on the exchange's wall-clock
//! grid) leaves that slot's bar to the next window, and the resumed load then plans from the
//! slot's *end*, up to one slot more than the windows it had left, which can tip the plan over
//! into one more (often empty) request. Over timestamps the planner's greedy optimality carries
//! over to resumes: the windows a cancelled load had left still cover every bar it lacks, so
//! the resumed plan is never longer.

use std::ops::Range;

use crate::calendar::{Calendar, CalendarError, SessionHours};
use crate::gaps::{grid, GapReport};
use crate::types::Timeframe;

/// The half-open timestamp ranges of the missing bars of `report`: each missing gap from its
/// first slot's start to just after its last slot's start.
pub(crate) fn missing_bar_ranges(
    report: &GapReport,
    calendar: Calendar,
    tf: Timeframe,
    hours: SessionHours,
) -> Result<Vec<Range<i64>>, CalendarError> {
    let mut slots = Vec::new();
    report
        .to_fill()
        .map(|gap| {
            slots.clear();
            let sessions = grid::sessions_around(calendar, gap.end - 1, gap.end, hours)?;
            grid::slots(&sessions, tf, gap.end - 1, gap.end, &mut slots);
            // The slot holding the gap's last second; without one (cannot happen for a gap the
            // same grid produced) the whole interval is kept, which only over-fetches.
            let last_start = slots.last().map_or(gap.end - 1, |s| s.start.max(gap.start));
            Ok(gap.start..last_start + 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::{analyze, GapOptions};
    use crate::types::{parse_timestamp, BarSeries};

    fn ts(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn ranges_end_just_after_the_last_missing_bar() {
        let cases = [
            // 4h extended hours, summer: the last slot of Jun 5 is 16:00–20:00 EDT.
            (
                Timeframe::H4,
                SessionHours::Extended,
                "2024-06-05T00:00:00Z",
                "2024-06-06T00:00:00Z",
                "2024-06-05T20:00:00Z",
            ),
            // 1h regular hours on an early close (Jul 3, 13:00 EDT): the 12:00 bar.
            (
                Timeframe::H1,
                SessionHours::Regular,
                "2024-07-03T00:00:00Z",
                "2024-07-04T00:00:00Z",
                "2024-07-03T16:00:00Z",
            ),
            // Daily: the bar at midnight UTC of the session date.
            (
                Timeframe::D1,
                SessionHours::Regular,
                "2024-07-01T00:00:00Z",
                "2024-07-03T00:00:00Z",
                "2024-07-02T00:00:00Z",
            ),
        ];
        for (tf, hours, from, to, last) in cases {
            let opts = GapOptions {
                hours,
                start: Some(ts(from)),
                end: Some(ts(to)),
                head: None,
            };
            let report = analyze(&BarSeries::new(), Calendar::Xnys, tf, &opts).unwrap();
            let ranges = missing_bar_ranges(&report, Calendar::Xnys, tf, hours).unwrap();
            let gaps: Vec<_> = report.to_fill().collect();
            assert_eq!(ranges.len(), gaps.len(), "{tf}");
            for (r, g) in ranges.iter().zip(&gaps) {
                assert_eq!(r.start, g.start, "{tf}");
                assert!(r.end <= g.end, "{tf}");
            }
            assert_eq!(ranges.last().unwrap().end, ts(last) + 1, "{tf} {hours}");
        }
    }
}
