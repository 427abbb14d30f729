//! [`DataProgressRenderer`]: the progress line of data loads.
//!
//! Replaces the Python `DataProgressRenderer`, which rebuilt each message from the previous one
//! (so "⚡ Starting load_data_AAPL_1h" stayed on screen for most of a load) and kept a start
//! time across operations. Here the message is a pure function of the [`ProgressState`] and of
//! what the renderer was built with (the series and the mode, fixed for the operation).

use std::fmt::Write as _;

use chrono::DateTime;
use ktrdr_ops::progress::{
    format_duration, push_eta_range, Counter, ProgressPhase, ProgressRenderer, ProgressState,
};

use crate::types::{LoadMode, Symbol, Timeframe};

/// The names of the steps of a load, as they appear in [`ProgressState::step_name`].
///
/// [`ProgressState::step_name`]: ktrdr_ops::progress::ProgressState::step_name
pub mod steps {
    /// Step 1 of a fetching load.
    pub const VALIDATE: &str = "Validate symbol";
    /// Resolving the window.
    pub const RANGE: &str = "Plan range";
    /// Reading the stored series.
    pub const READ: &str = "Read local data";
    /// Gap analysis.
    pub const GAPS: &str = "Analyse gaps";
    /// Request planning.
    pub const REQUESTS: &str = "Plan requests";
    /// Fetching and saving segments.
    pub const FETCH: &str = "Fetch segments";
    /// Final save and counts.
    pub const SAVE: &str = "Merge and save";
    /// The last step of a multi-timeframe load.
    pub const COVERAGE: &str = "Common coverage";
}

/// Renders the progress of a load (one timeframe) or of a multi-timeframe load (the
/// timeframes as steps, each with its nested load).
///
/// ```
/// use ktrdr_data::manager::DataManager;
/// use ktrdr_data::types::LoadMode;
/// use ktrdr_data::render::DataProgressRenderer;
/// use ktrdr_ops::progress::{ProgressHandle, ProgressRenderer};
/// use std::sync::Arc;
///
/// let renderer = Arc::new(DataProgressRenderer::new("AAPL".parse()?, Some("1h".parse()?), LoadMode::Full));
/// let progress = ProgressHandle::new("op", DataManager::plan(LoadMode::Full));
/// progress.set_renderer(renderer);
/// progress.start_step(5)?; // "Fetch segments"
/// progress.set_sub_progress(7, 20);
/// progress.set_step_detail("2024-03-01 → 2024-03-31");
/// progress.set_items(1_400, None);
/// assert_eq!(
///     progress.snapshot().message,
///     "Fetching AAPL 1h: segment 7/20 (2024-03-01 → 2024-03-31), 1,400 bars"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct DataProgressRenderer {
    /// `AAPL 1h`, or `AAPL` for a multi-timeframe load.
    series: String,
    mode: LoadMode,
}

impl DataProgressRenderer {
    /// A renderer for loads of `symbol` (at `timeframe`, or several timeframes when `None`).
    pub fn new(symbol: Symbol, timeframe: Option<Timeframe>, mode: LoadMode) -> Self {
        let series = match timeframe {
            Some(tf) => format!("{symbol} {tf}"),
            None => symbol.to_string(),
        };
        DataProgressRenderer { series, mode }
    }

    fn running(&self, s: &ProgressState, out: &mut String) {
        let series = &self.series;
        if s.step_name == steps::FETCH {
            let _ = write!(out, "Fetching {series}: ");
            match s.sub_progress {
                Some(Counter {
                    done,
                    total: Some(total),
                }) => {
                    let _ = write!(out, "segment {done}/{total}");
                }
                Some(Counter { done, total: None }) => {
                    let _ = write!(out, "segment {done}");
                }
                None => out.push_str("starting"),
            }
            if let Some(detail) = &s.step_detail {
                let _ = write!(out, " ({detail})");
            }
            let bars = s.items.map_or(0, |c| c.done);
            let _ = write!(out, ", {} bars", group_thousands(bars));
            return;
        }
        if let Some(nested) = &s.nested {
            // A multi-timeframe load: the step is a timeframe, the nested load says the rest.
            let _ = write!(
                out,
                "[{}/{}] {}",
                s.step_index + 1,
                s.step_count,
                nested.message
            );
            return;
        }
        let verb = match s.step_name.as_str() {
            steps::VALIDATE => "Validating",
            steps::RANGE => "Planning the range of",
            steps::READ => "Reading stored",
            steps::GAPS => "Analysing gaps of",
            steps::REQUESTS => "Planning requests for",
            steps::SAVE => "Saving",
            steps::COVERAGE => "Computing the common coverage of",
            other => {
                // A timeframe step of a multi-timeframe load, before its nested load starts.
                let _ = write!(
                    out,
                    "[{}/{}] {series} {other}",
                    s.step_index + 1,
                    s.step_count
                );
                return;
            }
        };
        let _ = write!(out, "{verb} {series}");
        if let Some(detail) = &s.step_detail {
            let _ = write!(out, ": {detail}");
        }
    }
}

impl ProgressRenderer for DataProgressRenderer {
    fn render(&self, s: &ProgressState) -> String {
        let mut out = String::with_capacity(80);
        match s.phase {
            ProgressPhase::Completed => {
                let verb = if self.mode == LoadMode::Local {
                    "Read"
                } else {
                    "Loaded"
                };
                let _ = write!(out, "{verb} {} ({})", self.series, self.mode);
                if let Some(items) = s.items {
                    let _ = write!(out, ": {} bars", group_thousands(items.done));
                }
                let _ = write!(out, " in {}", format_duration(s.elapsed_secs));
            }
            ProgressPhase::Failed => {
                let _ = write!(
                    out,
                    "Loading {} failed at '{}': {}",
                    self.series,
                    s.step_name,
                    s.error.as_deref().unwrap_or("unknown error")
                );
            }
            ProgressPhase::Cancelled => {
                let _ = write!(
                    out,
                    "Loading {} cancelled at '{}' ({}), {} bars fetched",
                    self.series,
                    s.step_name,
                    s.error.as_deref().unwrap_or("cancelled"),
                    group_thousands(s.items.map_or(0, |c| c.done))
                );
            }
            ProgressPhase::Running => {
                self.running(s, &mut out);
                push_eta_range(&mut out, s.eta);
            }
        }
        out
    }
}

/// The step details of a load (the text after the step name), so that every word of the
/// progress line is written here and the load only says which numbers it has.
pub mod detail {
    use super::{group_thousands, span_label};

    /// `12,345 bars stored`.
    pub fn bars_stored(n: usize) -> String {
        format!("{} bars stored", group_thousands(n as u64))
    }

    /// `3 gaps, 1,200 missing bars`.
    pub fn gaps(gaps: usize, missing_bars: usize) -> String {
        format!(
            "{} gaps, {} missing bars",
            group_thousands(gaps as u64),
            group_thousands(missing_bars as u64)
        )
    }

    /// `7 requests`.
    pub fn requests(n: usize) -> String {
        format!("{} requests", group_thousands(n as u64))
    }

    /// The half-open span `[start, end)` of a window or a segment ([`span_label`]).
    pub fn span(start: i64, end: i64) -> String {
        span_label(start, end)
    }
}

/// `1400` → `1,400`.
pub fn group_thousands(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A half-open span `[start, end)` for people: dates when it covers whole days or more than
/// two days (`2024-03-01 → 2024-03-31`, last day included), minutes otherwise
/// (`2024-03-01 09:30 → 16:00`, end excluded).
pub fn span_label(start: i64, end: i64) -> String {
    let last = end.saturating_sub(1).max(start);
    let (Some(a), Some(b)) = (
        DateTime::from_timestamp(start, 0),
        DateTime::from_timestamp(last, 0),
    ) else {
        return format!("{start} → {end}");
    };
    let whole_days = start % 86_400 == 0 && end % 86_400 == 0;
    if whole_days || end - start > 2 * 86_400 {
        format!("{} → {}", a.format("%Y-%m-%d"), b.format("%Y-%m-%d"))
    } else {
        // Minutes read best with the exclusive end: 14:30 → 21:00.
        let e = DateTime::from_timestamp(end, 0).unwrap_or(b);
        if a.date_naive() == e.date_naive() {
            format!("{} → {}", a.format("%Y-%m-%d %H:%M"), e.format("%H:%M"))
        } else {
            format!(
                "{} → {}",
                a.format("%Y-%m-%d %H:%M"),
                e.format("%Y-%m-%d %H:%M")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::DataManager;
    use chrono::TimeZone;
    use ktrdr_ops::eta::Eta;

    fn state(step: usize, mode: LoadMode) -> ProgressState {
        let plan = DataManager::plan(mode);
        ProgressState {
            operation_id: "op".into(),
            phase: ProgressPhase::Running,
            step_index: step,
            step_count: plan.len(),
            step_name: plan.name(step).unwrap().to_owned(),
            step_detail: None,
            sub_progress: None,
            items: None,
            percent: 40.0,
            message: String::new(),
            started_at: chrono::Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
            elapsed_secs: 12.0,
            eta: None,
            error: None,
            nested: None,
        }
    }

    fn aapl() -> DataProgressRenderer {
        DataProgressRenderer::new("AAPL".parse().unwrap(), Some(Timeframe::H1), LoadMode::Tail)
    }

    #[test]
    fn thousands_are_grouped() {
        for (v, want) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_400, "1,400"),
            (12_345_678, "12,345,678"),
        ] {
            assert_eq!(group_thousands(v), want);
        }
    }

    #[test]
    fn spans_read_as_dates_or_minutes() {
        // 2024-03-01T00:00Z .. 2024-04-01T00:00Z
        assert_eq!(
            span_label(1_709_251_200, 1_711_929_600),
            "2024-03-01 → 2024-03-31"
        );
        // 2024-03-01 14:30 .. 21:00 UTC
        assert_eq!(
            span_label(1_709_303_400, 1_709_326_800),
            "2024-03-01 14:30 → 21:00"
        );
    }

    #[test]
    fn every_step_has_its_own_line() {
        let r = aapl();
        let fetch = DataManager::plan(LoadMode::Tail)
            .steps()
            .position(|(n, _)| n == steps::FETCH)
            .unwrap();
        let mut s = state(0, LoadMode::Tail);
        s.step_detail = Some("sim (simulated data)".into());
        assert_eq!(r.render(&s), "Validating AAPL 1h: sim (simulated data)");
        let mut s = state(fetch, LoadMode::Tail);
        assert_eq!(r.render(&s), "Fetching AAPL 1h: starting, 0 bars");
        s.sub_progress = Some(Counter {
            done: 7,
            total: Some(20),
        });
        s.step_detail = Some("2024-03-01 → 2024-03-31".into());
        s.items = Some(Counter {
            done: 1_400,
            total: Some(2_800),
        });
        s.eta = Some(Eta {
            remaining_secs: 90.0,
            low_secs: 60.0,
            high_secs: 150.0,
        });
        assert_eq!(
            r.render(&s),
            "Fetching AAPL 1h: segment 7/20 (2024-03-01 → 2024-03-31), 1,400 bars · ETA 1m 30s (1m–2m 30s)"
        );
    }

    #[test]
    fn the_message_is_a_pure_function_of_the_state() {
        let r = aapl();
        let mut a = state(5, LoadMode::Tail);
        a.sub_progress = Some(Counter {
            done: 3,
            total: Some(9),
        });
        let mut b = a.clone();
        b.message = "⚡ Starting load_data_AAPL_1h (AAPL 1h, tail mode) [0/10]".into();
        assert_eq!(r.render(&a), r.render(&b));
        // The same state renders the same however many times and in whatever order.
        let first = r.render(&a);
        let _ = r.render(&state(0, LoadMode::Tail));
        assert_eq!(r.render(&a), first);
    }

    #[test]
    fn terminal_phases() {
        let r = aapl();
        let mut s = state(6, LoadMode::Tail);
        s.phase = ProgressPhase::Completed;
        s.items = Some(Counter {
            done: 2_500,
            total: None,
        });
        assert_eq!(r.render(&s), "Loaded AAPL 1h (tail): 2,500 bars in 12s");
        s.phase = ProgressPhase::Failed;
        s.step_name = steps::FETCH.into();
        s.error = Some("gateway down".into());
        assert_eq!(
            r.render(&s),
            "Loading AAPL 1h failed at 'Fetch segments': gateway down"
        );
        s.phase = ProgressPhase::Cancelled;
        s.error = Some("cancelled by the user".into());
        s.items = Some(Counter {
            done: 1_400,
            total: Some(9_000),
        });
        assert_eq!(
            r.render(&s),
            "Loading AAPL 1h cancelled at 'Fetch segments' (cancelled by the user), 1,400 bars fetched"
        );
    }

    #[test]
    fn multi_timeframe_lines_show_the_nested_load() {
        let r = DataProgressRenderer::new("AAPL".parse().unwrap(), None, LoadMode::Tail);
        let mut s = state(0, LoadMode::Tail);
        s.step_name = "4h".into();
        s.step_index = 1;
        s.step_count = 4;
        assert_eq!(r.render(&s), "[2/4] AAPL 4h");
        let mut child = state(5, LoadMode::Tail);
        child.message = "Fetching AAPL 4h: segment 1/2, 300 bars".into();
        s.nested = Some(Box::new(child));
        assert_eq!(
            r.render(&s),
            "[2/4] Fetching AAPL 4h: segment 1/2, 300 bars"
        );
    }
}
