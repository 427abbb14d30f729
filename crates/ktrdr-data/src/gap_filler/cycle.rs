//! One cycle: scan every selected stored series, then start a tail load per series with
//! missing bars, one after the other, within the request budget and the pacing gate's room.
//!
//! Loads run one at a time: the filler is a background helper, so it keeps at most one load's
//! requests in the gate (interactive loads interleave with its requests), and it learns of a
//! pacing error before starting the next load.

use chrono::Utc;
use ktrdr_ops::cancel::CancelReason;
use ktrdr_ops::registry::OperationStatus;
use ktrdr_ops::service::Shutdown;
use tokio::time::Instant;

use super::filler::GapFiller;
use super::report::{CycleEnd, CycleLoad, CycleReport};
use super::scan::{scan_series, Candidate, ScanWindow, SeriesState};
use crate::manager::LoadRequest;
use crate::types::{LoadMode, Symbol, Timeframe};

/// The `started_by` of the loads' operation metadata, so the registry tells them from a
/// user's.
pub const STARTED_BY: &str = "gap_filler";

/// A series to fill.
struct Work {
    symbol: Symbol,
    timeframe: Timeframe,
    candidate: Candidate,
}

impl GapFiller {
    /// Runs one cycle and reports it. A stop requested through `shutdown` ends it early: the
    /// load in flight is cancelled with [`CancelReason::Shutdown`] (and recorded so), nothing
    /// new is started.
    ///
    /// Problems with single series (an unreadable file, a failed load) are counted in the
    /// report's errors and do not stop the cycle.
    pub async fn run_once(&self, shutdown: &Shutdown) -> CycleReport {
        let clock = Instant::now();
        let mut report = CycleReport::new(Utc::now());
        let work = self.scan(shutdown, &mut report).await;
        if !work.is_empty() {
            self.fill(work, shutdown, &mut report).await;
        }
        report.duration_secs = clock.elapsed().as_secs_f64();
        tracing::info!(
            series = report.series_scanned,
            gaps = report.gaps_found,
            loads = report.loads.len(),
            bars_filled = report.bars_filled(),
            ended = ?report.ended,
            "gap filler cycle done"
        );
        report
    }

    /// Scans the selected series (each on a blocking thread: a file read and a gap analysis),
    /// returning those with missing bars, in turn after the last one served.
    async fn scan(&self, shutdown: &Shutdown, report: &mut CycleReport) -> Vec<Work> {
        let inner = &self.inner;
        let store = inner.manager.store().clone();
        let listed = tokio::task::spawn_blocking(move || store.list_series()).await;
        let series = match listed {
            Ok(Ok(series)) => series,
            Ok(Err(error)) => {
                report.errors.push(error.to_string());
                report.ended = CycleEnd::StoreUnreadable;
                return Vec::new();
            }
            Err(join) => {
                report.errors.push(format!("store listing task: {join}"));
                report.ended = CycleEnd::StoreUnreadable;
                return Vec::new();
            }
        };
        let Some(info) = inner.manager.provider_info() else {
            return Vec::new(); // `new` refused a manager without one
        };
        let now = inner.manager.now();
        let recent = i64::try_from(inner.config.recent.as_secs()).unwrap_or(i64::MAX);
        let mut work = Vec::new();
        for (symbol, timeframe) in series {
            if !inner.config.selects(&symbol, timeframe) {
                continue;
            }
            if shutdown.is_requested() {
                report.ended = CycleEnd::Shutdown;
                return Vec::new();
            }
            let window = ScanWindow {
                now,
                recent,
                hours: info.session_hours,
                max_span: info.spans.max_span(timeframe),
            };
            let store = inner.manager.store().clone();
            let calendar = inner.manager.calendars().calendar_for(&symbol);
            let scanned = tokio::task::spawn_blocking({
                let symbol = symbol.clone();
                move || scan_series(&store, calendar, &symbol, timeframe, window)
            })
            .await;
            match scanned {
                Ok(Ok(scan)) => {
                    report.count_scan(&scan);
                    if let SeriesState::Missing(candidate) = scan.state {
                        let key = (symbol, timeframe);
                        if inner.known_empty(&key, &candidate.plan) {
                            report.known_empty += 1;
                            continue;
                        }
                        let (symbol, timeframe) = key;
                        work.push(Work {
                            symbol,
                            timeframe,
                            candidate,
                        });
                    }
                }
                Ok(Err(error)) => report.errors.push(format!("{symbol} {timeframe}: {error}")),
                Err(join) => report
                    .errors
                    .push(format!("{symbol} {timeframe}: scan task: {join}")),
            }
        }
        // The listing is sorted: start after the series served last.
        if let Some(last) = inner.cursor().clone() {
            let after = work.partition_point(|w| (&w.symbol, w.timeframe) <= (&last.0, last.1));
            work.rotate_left(after);
        }
        work
    }

    /// Starts the loads, one at a time, until the budget, the gate or a stop says otherwise.
    async fn fill(&self, work: Vec<Work>, shutdown: &Shutdown, report: &mut CycleReport) {
        let inner = &self.inner;
        let gate = inner.manager.pacing_gate();
        let mut budget = inner.config.request_budget;
        let total = work.len();
        for (i, w) in work.into_iter().enumerate() {
            let left = total - i;
            let stop = if shutdown.is_requested() {
                Some(CycleEnd::Shutdown)
            } else if budget == 0 {
                Some(CycleEnd::BudgetSpent)
            } else if gate.is_some_and(|g| {
                g.schedule_duration(&w.symbol, w.timeframe, 1) > inner.config.max_gate_wait
            }) {
                Some(CycleEnd::PacingGateBusy)
            } else {
                None
            };
            if let Some(end) = stop {
                report.deferred += left;
                report.ended = end;
                return;
            }
            let Some((start, planned)) = w.candidate.cut(budget) else {
                continue; // a zero budget is handled above
            };
            if planned < w.candidate.plan.len() {
                report.deferred += 1;
            }
            let violations = gate.map(|g| g.stats().violations);
            let Some(load) = self.load(&w, start, planned, shutdown, report).await else {
                continue;
            };
            *inner.cursor() = Some((w.symbol.clone(), w.timeframe));
            if load.status == OperationStatus::Completed {
                // Asked for and none there: not worth the same requests next cycle.
                let found_none = load.bars_filled == 0 && planned == w.candidate.plan.len();
                inner.remember_empty(
                    (w.symbol.clone(), w.timeframe),
                    found_none.then(|| w.candidate.plan.clone()),
                );
            }
            let sent = usize::try_from(load.requests_sent).unwrap_or(usize::MAX);
            budget = budget.saturating_sub(planned.max(sent));
            let pacing = load.pacing_waits > 0
                || gate
                    .zip(violations)
                    .is_some_and(|(g, before)| g.stats().violations > before);
            report.count_load(load);
            if pacing {
                report.pacing_errors += 1;
                report.deferred += left - 1;
                report.ended = CycleEnd::PacingError;
                return;
            }
            if shutdown.is_requested() {
                report.deferred += left - 1;
                report.ended = CycleEnd::Shutdown;
                return;
            }
        }
    }

    /// Starts one tail load and follows it to its end; a stop cancels it with reason
    /// `shutdown`. `None` (and an error in the report) when it could not be started.
    async fn load(
        &self,
        w: &Work,
        start: i64,
        planned: usize,
        shutdown: &Shutdown,
        report: &mut CycleReport,
    ) -> Option<CycleLoad> {
        let request =
            LoadRequest::new(w.symbol.clone(), w.timeframe, LoadMode::Tail).with_start(start);
        let manager = &self.inner.manager;
        let mut metadata = manager.operation_metadata(&request);
        metadata["started_by"] = STARTED_BY.into();
        let handle = match manager.start_with_metadata(&self.inner.ops, request, metadata) {
            Ok(handle) => handle,
            Err(error) => {
                report.errors.push(format!(
                    "{} {}: the load could not start: {error}",
                    w.symbol, w.timeframe
                ));
                return None;
            }
        };
        tracing::info!(
            operation = handle.id(),
            symbol = %w.symbol,
            timeframe = %w.timeframe,
            missing_bars = w.candidate.missing_bars,
            "gap filler started a tail load"
        );
        let outcome = tokio::select! {
            outcome = handle.wait() => outcome,
            () = shutdown.requested() => {
                // The service stops; this is not the user's cancel, and the record says so.
                handle.token().cancel(CancelReason::Shutdown);
                handle.wait().await
            }
        };
        Some(CycleLoad::from_outcome(
            w.symbol.clone(),
            w.timeframe,
            start,
            planned,
            outcome,
        ))
    }
}
