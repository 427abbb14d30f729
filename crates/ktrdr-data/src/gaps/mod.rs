//! Gap analysis: the bar slots an exchange calendar expects, minus the bars present, as
//! classified intervals.
//!
//! Replaces the Python `GapAnalyzer` + `GapClassifier`, whose heuristics (any gap containing
//! a weekend day is "expected", gaps under two days skipped without metadata, a hard-coded
//! holiday list with Columbus Day in it) hid missing weekdays. Here a gap is never classified
//! as a whole: every expected slot of every session is checked, missing slots are merged into
//! runs *within* trading time, and the closed time between sessions is reported as its own
//! intervals (weekend, holiday, outside hours). A weekend next to three missing weekdays shows
//! as three days of missing bars plus a weekend, never as one "weekend gap".
//!
//! ```
//! use ktrdr_data::calendar::{Calendar, SessionHours};
//! use ktrdr_data::gaps::{analyze, GapKind, GapOptions};
//! use ktrdr_data::types::{Bar, BarSeries, Timeframe};
//!
//! // Daily bars for Thursday 2024-11-21 and Tuesday 2024-11-26: Friday and Monday are missing.
//! let bar = |ts| Bar { ts, open: 1.0, high: 1.0, low: 1.0, close: 1.0, volume: 1.0 };
//! let series = BarSeries::from_bars([bar(1_732_147_200), bar(1_732_579_200)]).unwrap();
//! let report = analyze(&series, Calendar::Xnys, Timeframe::D1, &GapOptions::default()).unwrap();
//! let kinds: Vec<_> = report.gaps.iter().map(|g| (g.kind, g.missing_bars)).collect();
//! assert_eq!(
//!     kinds,
//!     [(GapKind::Missing, 1), (GapKind::Weekend, 0), (GapKind::Missing, 1)]
//! );
//! ```

mod analyze;
pub(crate) mod grid;
mod kind;
mod report;

pub use analyze::{analyze, session_hours_of, GapError, GapOptions};
pub use kind::{Gap, GapKind};
pub use report::{GapReport, KindSummary};
