//! Finding what to fill: one stored series at a time, the gap analysis a tail load would make
//! over the recent window, classified. Only [`GapKind::Missing`] intervals are filled; the
//! closed ones (weekend, holiday, outside hours) are counted by class and left alone.

use std::collections::BTreeMap;

use crate::calendar::{Calendar, SessionHours};
use crate::gaps::{analyze, GapError, GapKind, GapOptions};
use crate::manager::missing_bar_ranges;
use crate::planner::{plan_requests, FetchRequest, PlanError, PlanOrder};
use crate::store::{BarStore, StoreError};
use crate::types::{Symbol, Timeframe};

/// Intervals without bars per class, for the classes the filler does not fill.
pub type KindCounts = BTreeMap<GapKind, u64>;

/// What the scan of one stored series found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesScan {
    /// The instrument.
    pub symbol: Symbol,
    /// The bar size.
    pub timeframe: Timeframe,
    /// What is to be done.
    pub state: SeriesState,
    /// Intervals of the recent window without bars that are not to be filled, by class.
    pub skipped: KindCounts,
}

/// The state of a stored series' recent window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeriesState {
    /// Every recent in-session bar is stored.
    UpToDate,
    /// The last stored bar (not after now) is older than the recent window, or there is none:
    /// not the filler's to revive.
    Stale {
        /// The last stored bar not after now (unix seconds).
        last: Option<i64>,
    },
    /// The data source does not serve this bar size.
    Unsupported,
    /// Recent in-session bars are missing.
    Missing(Candidate),
}

/// A series with recent in-session bars missing, and the requests that would fill them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Intervals of missing in-session bars.
    pub gaps: usize,
    /// Bars missing in them.
    pub missing_bars: usize,
    /// The requests a tail load from the first missing bar plans, newest first (the order it
    /// sends them in); never empty.
    pub plan: Vec<FetchRequest>,
}

impl Candidate {
    /// Where a tail load that plans at most `budget` requests starts, and how many it plans:
    /// the newest requests first, since recent bars matter most. `None` for a zero budget.
    pub(crate) fn cut(&self, budget: usize) -> Option<(i64, usize)> {
        let n = budget.min(self.plan.len());
        let oldest = self.plan.get(n.checked_sub(1)?)?;
        Some((oldest.start, n))
    }
}

/// A series the scan could not analyse.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanError {
    /// Reading the stored series failed (the message names file and line).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gap analysis failed.
    #[error("gap analysis failed: {0}")]
    Gaps(#[from] GapError),
    /// The request plan failed.
    #[error("request planning failed: {0}")]
    Plan(#[from] PlanError),
}

/// What a scan of one series works from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanWindow {
    /// Now, unix seconds.
    pub(crate) now: i64,
    /// How far back from now counts as recent, seconds.
    pub(crate) recent: i64,
    /// The session hours the data source fetches.
    pub(crate) hours: SessionHours,
    /// The data source's longest request for this bar size (`None`: not served).
    pub(crate) max_span: Option<i64>,
}

/// Scans one stored series: the window from `now - recent` (or the series' first bar, if
/// later) to the last complete bar, as a tail load of it would analyse it.
pub(crate) fn scan_series(
    store: &BarStore,
    calendar: Calendar,
    symbol: &Symbol,
    timeframe: Timeframe,
    window: ScanWindow,
) -> Result<SeriesScan, ScanError> {
    let scan = |state, skipped| SeriesScan {
        symbol: symbol.clone(),
        timeframe,
        state,
        skipped,
    };
    let Some(max_span) = window.max_span else {
        return Ok(scan(SeriesState::Unsupported, KindCounts::new()));
    };
    let series = store.load(symbol, timeframe)?;
    let trusted = series.index_range(None, Some(window.now));
    let (Some(first), Some(last)) = (series.first_ts(), trusted.end.checked_sub(1)) else {
        return Ok(scan(SeriesState::Stale { last: None }, KindCounts::new()));
    };
    let last = series.ts()[last];
    let recent_start = window.now - window.recent;
    if last < recent_start {
        return Ok(scan(
            SeriesState::Stale { last: Some(last) },
            KindCounts::new(),
        ));
    }
    // Only complete bars, as a load asks for (see `manager::window`).
    let end = window.now - timeframe.seconds() + 1;
    let start = recent_start.max(first);
    if start >= end {
        return Ok(scan(SeriesState::UpToDate, KindCounts::new()));
    }
    let opts = GapOptions {
        hours: window.hours,
        start: Some(start),
        end: Some(end),
        head: None,
    };
    let report = analyze(&series, calendar, timeframe, &opts)?;
    let mut skipped = KindCounts::new();
    for gap in report.gaps.iter().filter(|g| g.kind != GapKind::Missing) {
        *skipped.entry(gap.kind).or_default() += 1;
    }
    let missing: Vec<_> = report.of_kind(GapKind::Missing).collect();
    if missing.is_empty() {
        return Ok(scan(SeriesState::UpToDate, skipped));
    }
    let ranges =
        missing_bar_ranges(&report, calendar, timeframe, window.hours).map_err(GapError::from)?;
    let plan = plan_requests(ranges, max_span, PlanOrder::NewestFirst)?;
    if plan.is_empty() {
        return Ok(scan(SeriesState::UpToDate, skipped));
    }
    let candidate = Candidate {
        gaps: missing.len(),
        missing_bars: missing.iter().map(|g| g.missing_bars).sum(),
        plan: plan.requests,
    };
    Ok(scan(SeriesState::Missing(candidate), skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{parse_timestamp, Bar, BarSeries};

    const HOUR: i64 = 3600;

    fn ts(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    /// Regular-hours 1h bars of XNYS (09:30, 10:00, ..., 15:00 New York) on the given days of
    /// June 2024 (EDT: the session opens 13:30 UTC).
    fn june_bars(days: &[u32]) -> BarSeries {
        let mut bars = Vec::new();
        for day in days {
            let open = ts(&format!("2024-06-{day:02}T13:30:00Z"));
            bars.push(open);
            for h in 0..6 {
                bars.push(open + HOUR / 2 + h * HOUR);
            }
        }
        BarSeries::from_bars(bars.into_iter().map(|t| Bar {
            ts: t,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: 100.0,
        }))
        .unwrap()
    }

    fn store_with(series: &BarSeries) -> (tempfile::TempDir, BarStore, Symbol) {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let symbol: Symbol = "AAPL".parse().unwrap();
        store
            .merge_and_save(&symbol, Timeframe::H1, series)
            .unwrap();
        (dir, store, symbol)
    }

    fn window(now: &str) -> ScanWindow {
        ScanWindow {
            now: ts(now),
            recent: 10 * 86_400,
            hours: SessionHours::Regular,
            max_span: Some(30 * 86_400),
        }
    }

    #[test]
    fn a_hole_in_a_session_is_missing_and_the_closures_are_skipped_by_class() {
        // Mon 3 to Fri 14 June 2024, without Wednesday the 12th's 11:00 and 12:00 bars.
        let mut days: Vec<u32> = (3..=7).chain(10..=14).collect();
        days.retain(|d| *d != 12);
        let mut series = june_bars(&days);
        let wednesday = june_bars(&[12]);
        let keep: Vec<Bar> = wednesday
            .iter()
            .filter(|b| b.ts != ts("2024-06-12T15:00:00Z") && b.ts != ts("2024-06-12T16:00:00Z"))
            .collect();
        series = series.merge(&BarSeries::from_bars(keep).unwrap());
        let (_dir, store, symbol) = store_with(&series);
        // Saturday: every bar up to Friday's close is complete.
        let scan = scan_series(
            &store,
            Calendar::Xnys,
            &symbol,
            Timeframe::H1,
            window("2024-06-15T12:00:00Z"),
        )
        .unwrap();
        let SeriesState::Missing(candidate) = &scan.state else {
            panic!("expected missing bars, got {:?}", scan.state);
        };
        assert_eq!((candidate.gaps, candidate.missing_bars), (1, 2));
        assert_eq!(candidate.plan.len(), 1);
        assert_eq!(candidate.plan[0].start, ts("2024-06-12T15:00:00Z"));
        assert_eq!(candidate.cut(5), Some((ts("2024-06-12T15:00:00Z"), 1)));
        assert_eq!(candidate.cut(0), None);
        // The window starts ten days before now, Wednesday 5th at noon: two nights, a
        // weekend, four nights.
        assert_eq!(scan.skipped.get(&GapKind::Weekend), Some(&1));
        assert_eq!(scan.skipped.get(&GapKind::OutsideHours), Some(&6));
        assert_eq!(scan.skipped.get(&GapKind::Missing), None);
    }

    #[test]
    fn bars_missing_after_the_last_stored_one_are_missing_too() {
        let (_dir, store, symbol) = store_with(&june_bars(&[10, 11, 12]));
        // Friday 14th, 18:00 UTC: Thursday's session and Friday's first bars are missing.
        let scan = scan_series(
            &store,
            Calendar::Xnys,
            &symbol,
            Timeframe::H1,
            window("2024-06-14T18:00:00Z"),
        )
        .unwrap();
        let SeriesState::Missing(candidate) = &scan.state else {
            panic!("expected missing bars, got {:?}", scan.state);
        };
        // Thursday's 7 bars and Friday's 13:30 to 17:00 (the 18:00 bar is still forming).
        assert_eq!(candidate.missing_bars, 7 + 5);
        assert_eq!(candidate.plan[0].start, ts("2024-06-13T13:30:00Z"));
    }

    #[test]
    fn complete_stale_and_unsupported_series_are_not_candidates() {
        let (_dir, store, symbol) = store_with(&june_bars(&[10, 11, 12, 13, 14]));
        let scan_at = |now: &str, max_span| {
            scan_series(
                &store,
                Calendar::Xnys,
                &symbol,
                Timeframe::H1,
                ScanWindow {
                    max_span,
                    ..window(now)
                },
            )
            .unwrap()
            .state
        };
        let span = Some(30 * 86_400);
        assert_eq!(scan_at("2024-06-15T12:00:00Z", span), SeriesState::UpToDate);
        assert_eq!(
            scan_at("2024-07-15T12:00:00Z", span),
            SeriesState::Stale {
                last: Some(ts("2024-06-14T19:00:00Z"))
            },
            "a month later the 10-day window is past the last bar"
        );
        assert_eq!(
            scan_at("2024-06-15T12:00:00Z", None),
            SeriesState::Unsupported
        );
    }

    #[test]
    fn a_budget_cut_keeps_the_newest_requests() {
        let candidate = Candidate {
            gaps: 3,
            missing_bars: 30,
            plan: vec![
                FetchRequest {
                    start: 300,
                    end: 400,
                },
                FetchRequest {
                    start: 200,
                    end: 250,
                },
                FetchRequest { start: 0, end: 100 },
            ],
        };
        assert_eq!(candidate.cut(1), Some((300, 1)));
        assert_eq!(candidate.cut(2), Some((200, 2)));
        assert_eq!(candidate.cut(9), Some((0, 3)));
    }

    #[test]
    fn an_unreadable_series_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::new(dir.path());
        let symbol: Symbol = "AAPL".parse().unwrap();
        std::fs::write(
            store.path(&symbol, Timeframe::H1),
            "timestamp,open,high,low,close,volume\nnot-a-time,1,1,1,1,1\n",
        )
        .unwrap();
        let err = scan_series(
            &store,
            Calendar::Xnys,
            &symbol,
            Timeframe::H1,
            window("2024-06-15T12:00:00Z"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("AAPL_1h.csv"), "{err}");
    }
}
