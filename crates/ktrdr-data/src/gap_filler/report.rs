//! What one cycle did: [`CycleReport`], with a [`CycleLoad`] per load it started.

use chrono::{DateTime, Utc};
use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::operations::OperationOutcome;
use ktrdr_ops::registry::OperationStatus;
use serde::Serialize;

use super::scan::{KindCounts, SeriesScan, SeriesState};
use crate::manager::LoadSummary;
use crate::types::{Symbol, Timeframe};

/// Why a cycle stopped starting loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleEnd {
    /// Every series with missing bars got its load.
    Done,
    /// The request budget was spent; the rest waits for the next cycle.
    BudgetSpent,
    /// The pacing gate was busier than the filler waits for (interactive loads, or a pacing
    /// violation being waited out).
    PacingGateBusy,
    /// A load met a pacing error; the filler backs off.
    PacingError,
    /// The service was told to stop.
    Shutdown,
    /// The store could not be listed; nothing was scanned.
    StoreUnreadable,
}

/// One tail load a cycle started (recorded in the registry like any other load).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleLoad {
    /// The operation's id in the registry.
    pub operation_id: String,
    /// The instrument.
    pub symbol: Symbol,
    /// The bar size.
    pub timeframe: Timeframe,
    /// The start of the tail load (unix seconds): the first missing bar, or the first the
    /// budget reached.
    pub start: i64,
    /// Requests the filler planned for it.
    pub requests_planned: usize,
    /// How the operation ended.
    pub status: OperationStatus,
    /// New bars saved (from the load's summary, also a failed or cancelled load's).
    pub bars_filled: u64,
    /// Requests sent, retries included.
    pub requests_sent: u64,
    /// Pacing violations the provider answered.
    pub pacing_waits: u64,
    /// The failure, if it failed.
    pub error: Option<String>,
    /// Why it was cancelled, if it was.
    pub cancel_reason: Option<CancelReason>,
}

impl CycleLoad {
    pub(crate) fn from_outcome(
        symbol: Symbol,
        timeframe: Timeframe,
        start: i64,
        requests_planned: usize,
        outcome: OperationOutcome,
    ) -> Self {
        let summary = outcome
            .result_summary
            .and_then(|v| serde_json::from_value::<LoadSummary>(v).ok());
        let count = |f: fn(&LoadSummary) -> u64| summary.as_ref().map_or(0, f);
        CycleLoad {
            operation_id: outcome.id,
            symbol,
            timeframe,
            start,
            requests_planned,
            status: outcome.status,
            bars_filled: count(|s| s.bars_new),
            requests_sent: count(|s| s.requests_sent),
            pacing_waits: count(|s| s.pacing_waits),
            error: outcome.error,
            cancel_reason: outcome.cancel_reason,
        }
    }
}

/// What one cycle found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleReport {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took, loads included.
    pub duration_secs: f64,
    /// Stored series the filter selected and the scan read.
    pub series_scanned: usize,
    /// Of those, series with every recent in-session bar.
    pub up_to_date: usize,
    /// Series whose last bar is older than the recent window (left alone).
    pub stale: usize,
    /// Series of a bar size the data source does not serve.
    pub unsupported: usize,
    /// Series whose missing bars a load asked for recently, finding none at the source (see
    /// `GapFillerConfig::recheck_empty`): not asked again yet.
    pub known_empty: usize,
    /// Intervals of missing in-session bars found.
    pub gaps_found: usize,
    /// Bars missing in them.
    pub missing_bars_found: usize,
    /// Intervals without bars left alone, by class (weekend, holiday, outside hours).
    pub skipped_by_class: KindCounts,
    /// The loads started, in order.
    pub loads: Vec<CycleLoad>,
    /// Series with missing bars left, wholly or in part, for a later cycle.
    pub deferred: usize,
    /// Requests planned for the loads started (what the budget counts).
    pub requests_planned: usize,
    /// Loads that met a pacing error.
    pub pacing_errors: u64,
    /// Series that could not be scanned and loads that failed or could not start, each with
    /// its series and reason.
    pub errors: Vec<String>,
    /// Why the cycle stopped starting loads.
    pub ended: CycleEnd,
}

impl CycleReport {
    pub(crate) fn new(started_at: DateTime<Utc>) -> Self {
        CycleReport {
            started_at,
            duration_secs: 0.0,
            series_scanned: 0,
            up_to_date: 0,
            stale: 0,
            unsupported: 0,
            known_empty: 0,
            gaps_found: 0,
            missing_bars_found: 0,
            skipped_by_class: KindCounts::new(),
            loads: Vec::new(),
            deferred: 0,
            requests_planned: 0,
            pacing_errors: 0,
            errors: Vec::new(),
            ended: CycleEnd::Done,
        }
    }

    /// New bars saved by the cycle's loads.
    pub fn bars_filled(&self) -> u64 {
        self.loads.iter().map(|l| l.bars_filled).sum()
    }

    /// Counts a scanned series.
    pub(crate) fn count_scan(&mut self, scan: &SeriesScan) {
        self.series_scanned += 1;
        for (kind, n) in &scan.skipped {
            *self.skipped_by_class.entry(*kind).or_default() += n;
        }
        match &scan.state {
            SeriesState::UpToDate => self.up_to_date += 1,
            SeriesState::Stale { .. } => self.stale += 1,
            SeriesState::Unsupported => self.unsupported += 1,
            SeriesState::Missing(c) => {
                self.gaps_found += c.gaps;
                self.missing_bars_found += c.missing_bars;
            }
        }
    }

    /// Counts a finished load; a failed one is also an error of the cycle.
    pub(crate) fn count_load(&mut self, load: CycleLoad) {
        if load.status == OperationStatus::Failed {
            let why = load.error.as_deref().unwrap_or("failed");
            self.errors.push(format!(
                "{} {} (operation {}): {why}",
                load.symbol, load.timeframe, load.operation_id
            ));
        }
        self.requests_planned += load.requests_planned;
        self.loads.push(load);
    }
}
