//! What a load did: [`LoadSummary`], with real counts only.

use std::fmt;

use ktrdr_ops::cancel::CancelReason;
use serde::{Deserialize, Serialize};

use crate::render::{group_thousands, span_label};
use crate::types::LoadMode;
use crate::types::{Symbol, Timeframe};

/// The outcome of a load, with every count measured (never estimated or defaulted).
///
/// Serialised as the operation's result summary. `Display` gives the one-line human summary,
/// e.g. `AAPL 1h: cancelled after segment 7/20, 1,400 bars saved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// The instrument.
    pub symbol: Symbol,
    /// The bar size.
    pub timeframe: Timeframe,
    /// The mode.
    pub mode: LoadMode,
    /// The provider's name (`None` for a local load).
    pub provider: Option<String>,
    /// True when the bars came from the simulated broker.
    pub simulated: bool,
    /// The window worked on, `[start, end)` unix seconds; `None` before it was resolved.
    pub window: Option<(i64, i64)>,
    /// The provider's earliest bar for the series, if it reported one.
    pub head_timestamp: Option<i64>,
    /// The window's start was moved forward to the head timestamp.
    pub clamped_to_head: bool,
    /// Intervals of missing bars found in the window (to fetch, or reported for `local`).
    pub gaps: usize,
    /// Expected bars in those intervals.
    pub missing_bars: usize,
    /// Requests the planner made for the gaps (the minimal number for the provider's span).
    pub requests_planned: usize,
    /// Requests actually sent, retries included.
    pub requests_sent: u64,
    /// Requests sent again after a transient error, a timeout or a pacing violation.
    pub retries: u64,
    /// Pacing violations answered by the provider (each waited for its retry-after).
    pub pacing_waits: u64,
    /// Segments (planned requests) that got an answer, empty ones included.
    pub segments_done: usize,
    /// Segments whose bars are in the store.
    pub segments_saved: usize,
    /// Segments that failed after their retries.
    pub segments_failed: usize,
    /// Segments never started because too many in a row had failed.
    #[serde(default)]
    pub segments_skipped: usize,
    /// Answers without bars (a closed period, or no data at the provider): not failures.
    pub empty_answers: usize,
    /// Bars received from the provider.
    pub bars_fetched: u64,
    /// Bars the provider sent that were dropped before saving: outside the requested range, or
    /// breaking validate's per-bar rules (impossible OHLC, non-positive or implausible prices,
    /// negative volume, dated after now, outside every session, off the grid).
    #[serde(default)]
    pub bars_rejected: u64,
    /// Stored bars dated after now, which the load did not trust to place its window (see
    /// `ktrdr data validate`, which flags them).
    #[serde(default)]
    pub bars_after_now: usize,
    /// Bars at timestamps the store did not have.
    pub bars_new: u64,
    /// Stored bars replaced by different values.
    pub bars_replaced: u64,
    /// Bars written to the store (new + replaced).
    pub bars_saved: u64,
    /// Bars of the series inside the window after the load.
    pub bars_in_window: usize,
    /// Bars in the store's file after the load.
    pub bars_stored: usize,
    /// The segments that failed, with their last error.
    pub failures: Vec<SegmentFailure>,
    /// Set when the load was cancelled; the counts say what was kept.
    pub cancelled: Option<CancelReason>,
    /// Wall-clock duration of the load.
    pub elapsed_secs: f64,
}

/// A segment that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentFailure {
    /// 1-based position in the plan.
    pub segment: usize,
    /// First second asked for.
    pub start: i64,
    /// End of the request (exclusive).
    pub end: i64,
    /// Times it was sent.
    pub attempts: u32,
    /// The last error.
    pub error: String,
}

impl LoadSummary {
    pub(crate) fn new(symbol: Symbol, timeframe: Timeframe, mode: LoadMode) -> Self {
        LoadSummary {
            symbol,
            timeframe,
            mode,
            provider: None,
            simulated: false,
            window: None,
            head_timestamp: None,
            clamped_to_head: false,
            gaps: 0,
            missing_bars: 0,
            requests_planned: 0,
            requests_sent: 0,
            retries: 0,
            pacing_waits: 0,
            segments_done: 0,
            segments_saved: 0,
            segments_failed: 0,
            segments_skipped: 0,
            empty_answers: 0,
            bars_fetched: 0,
            bars_rejected: 0,
            bars_after_now: 0,
            bars_new: 0,
            bars_replaced: 0,
            bars_saved: 0,
            bars_in_window: 0,
            bars_stored: 0,
            failures: Vec::new(),
            cancelled: None,
            elapsed_secs: 0.0,
        }
    }

    /// True when the load was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.is_some()
    }
}

impl fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: u64| group_thousands(v);
        write!(f, "{} {}", self.symbol, self.timeframe)?;
        if self.cancelled.is_some() {
            return write!(
                f,
                ": cancelled after segment {}/{}, {} bars saved ({} fetched in {} requests)",
                self.segments_done,
                self.requests_planned,
                n(self.bars_saved),
                n(self.bars_fetched),
                n(self.requests_sent),
            );
        }
        if self.mode == LoadMode::Local {
            write!(f, " (local): {} bars", n(self.bars_in_window as u64))?;
            if let Some((start, end)) = self.window.filter(|(s, e)| s < e) {
                write!(f, " in {}", span_label(start, end))?;
            }
            return write!(
                f,
                ", {} gaps ({} missing bars)",
                n(self.gaps as u64),
                n(self.missing_bars as u64)
            );
        }
        write!(
            f,
            " ({}): {} bars fetched, {} new, {} requests",
            self.mode,
            n(self.bars_fetched),
            n(self.bars_new),
            n(self.requests_sent)
        )?;
        if self.retries > 0 {
            write!(f, " ({} retries)", n(self.retries))?;
        }
        if self.bars_after_now > 0 {
            write!(
                f,
                ", {} stored bars dated after now ignored",
                n(self.bars_after_now as u64)
            )?;
        }
        if self.bars_rejected > 0 {
            write!(f, ", {} bad bars dropped", n(self.bars_rejected))?;
        }
        write!(
            f,
            ", {} gaps, {} bars stored",
            n(self.gaps as u64),
            n(self.bars_stored as u64)
        )?;
        if self.segments_failed > 0 {
            write!(f, ", {} segments failed", self.segments_failed)?;
        }
        if self.segments_skipped > 0 {
            write!(
                f,
                ", {} not started after too many failures in a row",
                self.segments_skipped
            )?;
        }
        Ok(())
    }
}
