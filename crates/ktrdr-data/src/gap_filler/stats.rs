//! [`GapFillerStats`]: what the service has done since it started, for `GET /api/v1/gap-filler`.

use chrono::{DateTime, Utc};
use ktrdr_ops::registry::OperationStatus;
use serde::Serialize;

use super::report::CycleReport;
use super::scan::KindCounts;
use crate::gaps::GapKind;

/// How many of the latest errors [`GapFillerStats::recent_errors`] keeps (the Python service
/// kept 10 too).
pub const RECENT_ERRORS: usize = 10;

/// Totals over every cycle of a gap filler service, and its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapFillerStats {
    /// Whether the service loop runs (false once it has stopped).
    pub running: bool,
    /// Cycles completed.
    pub cycles: u64,
    /// Series scans (one per selected stored series per cycle).
    pub series_scanned: u64,
    /// Intervals of missing in-session bars found (a hole found again in a later cycle counts
    /// again).
    pub gaps_found: u64,
    /// Bars missing in them.
    pub missing_bars_found: u64,
    /// Tail loads started.
    pub loads_started: u64,
    /// Of those, completed.
    pub loads_completed: u64,
    /// Of those, failed.
    pub loads_failed: u64,
    /// Of those, cancelled (by a stop of the service: reason `shutdown`; or by someone else).
    pub loads_cancelled: u64,
    /// New bars the loads saved.
    pub bars_filled: u64,
    /// Requests the loads sent, retries included.
    pub requests_sent: u64,
    /// Intervals without bars left alone, by class: every class but `missing` (always present,
    /// zero until seen).
    pub skipped_by_class: KindCounts,
    /// Series left, wholly or in part, for a later cycle (budget, pacing, stop).
    pub deferred: u64,
    /// Series scans that skipped missing bars the source recently had none for.
    pub known_empty: u64,
    /// Series that could not be scanned and loads that failed or could not start.
    pub errors: u64,
    /// Loads that met a pacing error (each made the service back off).
    pub pacing_errors: u64,
    /// The latest errors, oldest first, at most [`RECENT_ERRORS`].
    pub recent_errors: Vec<String>,
    /// When the last cycle started.
    pub last_cycle_at: Option<DateTime<Utc>>,
    /// When the next cycle starts (while running).
    pub next_cycle_at: Option<DateTime<Utc>>,
    /// The wait between cycles now, seconds: the configured interval, longer after pacing
    /// errors.
    pub interval_secs: f64,
    /// The last cycle's full report.
    pub last_cycle: Option<CycleReport>,
}

impl GapFillerStats {
    /// The stats of a service about to run its first cycle.
    pub fn starting(interval_secs: f64) -> Self {
        GapFillerStats {
            running: true,
            cycles: 0,
            series_scanned: 0,
            gaps_found: 0,
            missing_bars_found: 0,
            loads_started: 0,
            loads_completed: 0,
            loads_failed: 0,
            loads_cancelled: 0,
            bars_filled: 0,
            requests_sent: 0,
            skipped_by_class: GapKind::ALL
                .into_iter()
                .filter(|k| *k != GapKind::Missing)
                .map(|k| (k, 0))
                .collect(),
            deferred: 0,
            known_empty: 0,
            errors: 0,
            pacing_errors: 0,
            recent_errors: Vec::new(),
            last_cycle_at: None,
            next_cycle_at: None,
            interval_secs,
            last_cycle: None,
        }
    }

    /// Adds a cycle.
    pub fn record(&mut self, report: &CycleReport) {
        let n = |v: usize| v as u64;
        self.cycles += 1;
        self.series_scanned += n(report.series_scanned);
        self.gaps_found += n(report.gaps_found);
        self.missing_bars_found += n(report.missing_bars_found);
        for load in &report.loads {
            self.loads_started += 1;
            match load.status {
                OperationStatus::Completed => self.loads_completed += 1,
                OperationStatus::Cancelled => self.loads_cancelled += 1,
                _ => self.loads_failed += 1,
            }
            self.bars_filled += load.bars_filled;
            self.requests_sent += load.requests_sent;
        }
        for (kind, count) in &report.skipped_by_class {
            *self.skipped_by_class.entry(*kind).or_default() += count;
        }
        self.deferred += n(report.deferred);
        self.known_empty += n(report.known_empty);
        self.errors += n(report.errors.len());
        self.pacing_errors += report.pacing_errors;
        self.recent_errors.extend(report.errors.iter().cloned());
        let excess = self.recent_errors.len().saturating_sub(RECENT_ERRORS);
        self.recent_errors.drain(..excess);
        self.last_cycle_at = Some(report.started_at);
        self.last_cycle = Some(report.clone());
    }
}
