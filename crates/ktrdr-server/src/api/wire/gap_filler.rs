//! The gap filler's JSON: `GET /gap-filler` and the answers of `start` and `stop` (ours; the
//! Python backend's `/system/gap-filler-*` routes were never mounted).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ktrdr_data::gap_filler::{
    CycleEnd, CycleLoad, CycleReport, GapFillerConfig, GapFillerStats, KindCounts,
};
use ktrdr_ops::registry::OperationStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The gap filler service of the server: whether it runs, its settings and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapFillerStatus {
    /// Whether the service runs now.
    pub running: bool,
    /// The settings it runs (or would start) with.
    pub config: GapFillerSettings,
    /// Totals since it was last started (zero if never started).
    pub stats: GapFillerTotals,
}

/// The settings of the gap filler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapFillerSettings {
    /// Seconds between cycles (before any backoff).
    pub interval_secs: f64,
    /// How far back a missing bar counts as recent, in days.
    pub recent_days: f64,
    /// Provider requests one cycle's loads may plan.
    pub request_budget: usize,
    /// Only these symbols (`null`: every stored series).
    pub symbols: Option<Vec<String>>,
    /// Only these timeframes (`null`: every stored timeframe).
    pub timeframes: Option<Vec<String>>,
    /// The longest wait at the pacing gate the filler accepts to start a load, seconds.
    pub max_gate_wait_secs: f64,
    /// The longest interval after pacing errors, seconds.
    pub max_backoff_secs: f64,
    /// Seconds a hole the source had no bar for is left before it is asked again.
    pub recheck_empty_secs: f64,
}

impl From<&GapFillerConfig> for GapFillerSettings {
    fn from(c: &GapFillerConfig) -> Self {
        GapFillerSettings {
            interval_secs: c.interval.as_secs_f64(),
            recent_days: c.recent.as_secs_f64() / 86_400.0,
            request_budget: c.request_budget,
            symbols: c
                .symbols
                .as_ref()
                .map(|s| s.iter().map(ToString::to_string).collect()),
            timeframes: c
                .timeframes
                .as_ref()
                .map(|t| t.iter().map(ToString::to_string).collect()),
            max_gate_wait_secs: c.max_gate_wait.as_secs_f64(),
            max_backoff_secs: c.max_backoff.as_secs_f64(),
            recheck_empty_secs: c.recheck_empty.as_secs_f64(),
        }
    }
}

/// Totals over the cycles of a gap filler service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapFillerTotals {
    /// Whether the service loop runs.
    pub running: bool,
    /// Cycles completed.
    pub cycles: u64,
    /// Series scans (one per selected stored series per cycle).
    pub series_scanned: u64,
    /// Intervals of missing in-session bars found (again in each cycle until filled).
    pub gaps_found: u64,
    /// Bars missing in them.
    pub missing_bars_found: u64,
    /// Tail loads started.
    pub loads_started: u64,
    /// Of those, completed.
    pub loads_completed: u64,
    /// Of those, failed.
    pub loads_failed: u64,
    /// Of those, cancelled (by a stop of the service: reason shutdown).
    pub loads_cancelled: u64,
    /// New bars the loads saved.
    pub bars_filled: u64,
    /// Requests the loads sent, retries included.
    pub requests_sent: u64,
    /// Intervals without bars left alone, by class (`weekend`, `holiday`, `outside_hours`,
    /// `before_head`).
    pub skipped_by_class: BTreeMap<String, u64>,
    /// Series left, wholly or in part, for a later cycle.
    pub deferred: u64,
    /// Series scans that skipped missing bars the source recently had none for.
    pub known_empty: u64,
    /// Series that could not be scanned and loads that failed or could not start.
    pub errors: u64,
    /// Loads that met a pacing error.
    pub pacing_errors: u64,
    /// The latest errors, oldest first.
    pub recent_errors: Vec<String>,
    /// When the last cycle started.
    pub last_cycle_at: Option<DateTime<Utc>>,
    /// When the next cycle starts.
    pub next_cycle_at: Option<DateTime<Utc>>,
    /// The wait between cycles now, seconds (longer after pacing errors).
    pub interval_secs: f64,
    /// The last cycle.
    pub last_cycle: Option<GapFillerCycle>,
}

impl From<&GapFillerStats> for GapFillerTotals {
    fn from(s: &GapFillerStats) -> Self {
        GapFillerTotals {
            running: s.running,
            cycles: s.cycles,
            series_scanned: s.series_scanned,
            gaps_found: s.gaps_found,
            missing_bars_found: s.missing_bars_found,
            loads_started: s.loads_started,
            loads_completed: s.loads_completed,
            loads_failed: s.loads_failed,
            loads_cancelled: s.loads_cancelled,
            bars_filled: s.bars_filled,
            requests_sent: s.requests_sent,
            skipped_by_class: by_class(&s.skipped_by_class),
            deferred: s.deferred,
            known_empty: s.known_empty,
            errors: s.errors,
            pacing_errors: s.pacing_errors,
            recent_errors: s.recent_errors.clone(),
            last_cycle_at: s.last_cycle_at,
            next_cycle_at: s.next_cycle_at,
            interval_secs: s.interval_secs,
            last_cycle: s.last_cycle.as_ref().map(GapFillerCycle::from),
        }
    }
}

/// One cycle of the gap filler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapFillerCycle {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took, loads included.
    pub duration_secs: f64,
    /// Series scanned.
    pub series_scanned: usize,
    /// Series with every recent in-session bar.
    pub up_to_date: usize,
    /// Series whose last bar is older than the recent window (left alone).
    pub stale: usize,
    /// Series of a bar size the data source does not serve.
    pub unsupported: usize,
    /// Series whose missing bars the source recently had none for (not asked again yet).
    pub known_empty: usize,
    /// Intervals of missing in-session bars found.
    pub gaps_found: usize,
    /// Bars missing in them.
    pub missing_bars_found: usize,
    /// Intervals without bars left alone, by class.
    pub skipped_by_class: BTreeMap<String, u64>,
    /// The loads started.
    pub loads: Vec<GapFillerLoad>,
    /// Series left for a later cycle.
    pub deferred: usize,
    /// Requests planned for the loads started.
    pub requests_planned: usize,
    /// Loads that met a pacing error.
    pub pacing_errors: u64,
    /// What went wrong, per series.
    pub errors: Vec<String>,
    /// Why the cycle stopped starting loads: `done`, `budget_spent`, `pacing_gate_busy`,
    /// `pacing_error`, `shutdown`, `store_unreadable`.
    pub ended: String,
}

impl From<&CycleReport> for GapFillerCycle {
    fn from(r: &CycleReport) -> Self {
        GapFillerCycle {
            started_at: r.started_at,
            duration_secs: r.duration_secs,
            series_scanned: r.series_scanned,
            up_to_date: r.up_to_date,
            stale: r.stale,
            unsupported: r.unsupported,
            known_empty: r.known_empty,
            gaps_found: r.gaps_found,
            missing_bars_found: r.missing_bars_found,
            skipped_by_class: by_class(&r.skipped_by_class),
            loads: r.loads.iter().map(GapFillerLoad::from).collect(),
            deferred: r.deferred,
            requests_planned: r.requests_planned,
            pacing_errors: r.pacing_errors,
            errors: r.errors.clone(),
            ended: ending(r.ended).to_owned(),
        }
    }
}

/// A tail load the gap filler started: an ordinary `data_load` operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapFillerLoad {
    /// The operation (see `GET /operations/{id}`).
    pub operation_id: String,
    /// The instrument.
    pub symbol: String,
    /// The bar size.
    pub timeframe: String,
    /// Where the tail load started (ISO 8601, UTC).
    pub start: Option<DateTime<Utc>>,
    /// Requests planned for it.
    pub requests_planned: usize,
    /// How it ended.
    #[schema(value_type = String)]
    pub status: OperationStatus,
    /// New bars saved.
    pub bars_filled: u64,
    /// Requests sent.
    pub requests_sent: u64,
    /// The failure, if it failed.
    pub error: Option<String>,
    /// Why it was cancelled, if it was (`shutting down` when the service stopped).
    pub cancel_reason: Option<String>,
}

impl From<&CycleLoad> for GapFillerLoad {
    fn from(l: &CycleLoad) -> Self {
        GapFillerLoad {
            operation_id: l.operation_id.clone(),
            symbol: l.symbol.to_string(),
            timeframe: l.timeframe.to_string(),
            start: DateTime::from_timestamp(l.start, 0),
            requests_planned: l.requests_planned,
            status: l.status,
            bars_filled: l.bars_filled,
            requests_sent: l.requests_sent,
            error: l.error.clone(),
            cancel_reason: l.cancel_reason.as_ref().map(ToString::to_string),
        }
    }
}

fn by_class(counts: &KindCounts) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(kind, n)| (kind.as_str().to_owned(), *n))
        .collect()
}

fn ending(end: CycleEnd) -> &'static str {
    match end {
        CycleEnd::Done => "done",
        CycleEnd::BudgetSpent => "budget_spent",
        CycleEnd::PacingGateBusy => "pacing_gate_busy",
        CycleEnd::PacingError => "pacing_error",
        CycleEnd::Shutdown => "shutdown",
        CycleEnd::StoreUnreadable => "store_unreadable",
    }
}
