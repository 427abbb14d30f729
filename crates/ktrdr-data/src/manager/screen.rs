//! What the fetch path refuses of a provider's answer before it reaches the store: bars outside
//! the requested range, and bars that break validate's per-bar rules (the same
//! [`BarRules`] that `ktrdr data validate` applies: OHLC order, non-positive or implausible
//! prices, negative volume, dates after now, bars outside every session or off the grid).

use crate::calendar::{Calendar, SessionHours};
use crate::planner::FetchRequest;
use crate::types::{BarSeries, Timeframe};
use crate::validate::BarRules;

/// The rules of one load's answers: its series' calendar, timeframe, session hours and "now".
#[derive(Debug, Clone, Copy)]
pub(crate) struct Screen {
    pub(crate) calendar: Calendar,
    pub(crate) timeframe: Timeframe,
    pub(crate) hours: SessionHours,
    pub(crate) now: i64,
}

/// The bars of an answer that were dropped.
#[derive(Debug, Default)]
pub(crate) struct Rejected {
    pub(crate) count: usize,
    /// The first one and why, for the warning.
    pub(crate) example: Option<String>,
}

impl Screen {
    /// Keeps the bars of `bars` inside `request`'s half-open range that break no rule.
    pub(crate) fn apply(&self, bars: BarSeries, request: &FetchRequest) -> (BarSeries, Rejected) {
        let span = request.start..request.end;
        // Outside the calendar's coverage the session rules cannot be checked; the values and
        // the range still are.
        let rules = BarRules::new(
            self.calendar,
            self.timeframe,
            self.hours,
            span.clone(),
            self.now,
        )
        .map_err(|error| {
            tracing::debug!(%error, "no session rules for this segment; values checked only");
        })
        .ok();
        let mut rejected = Rejected::default();
        // Only the first refusal is worded: formatting a time per bar would cost every answer
        // an allocation per bar.
        let mut refuse = |ts: i64, why: &dyn std::fmt::Display| {
            rejected.count += 1;
            if rejected.example.is_none() {
                let time = crate::types::format_timestamp(ts);
                rejected.example = Some(format!("{time}: {why}"));
            }
        };
        let mut kept = Vec::with_capacity(bars.len());
        for bar in bars.iter() {
            if !span.contains(&bar.ts) {
                refuse(bar.ts, &"outside the requested range");
                continue;
            }
            let defect = match &rules {
                Some(rules) => rules.check(&bar),
                None => crate::validate::value_defects(&bar).into_iter().next(),
            };
            match defect {
                Some(defect) => refuse(bar.ts, &defect),
                None => kept.push(bar),
            }
        }
        if rejected.count == 0 {
            return (bars, rejected);
        }
        // The kept bars are a subsequence of a valid series: still sorted and unique.
        let (kept, _) = BarSeries::from_unordered(kept);
        (kept, rejected)
    }
}
