//! Data-quality validation of bar rows against their exchange calendar, and explicit repair.
//!
//! Replaces the Python `DataQualityValidator`, which counted issue *records* (one record could
//! cover thousands of bars), flagged trends with a global z-score, re-read a JSON file per
//! run, and "corrected" data by inventing values (interpolation, clamping high to max(open,
//! close)). Here every check counts **affected bars** and keeps a few examples; nothing is
//! changed unless [`repair`] is called, and repair only sorts, drops duplicates and drops bars
//! that cannot be right. It never invents or edits a value.
//!
//! Session hours: intraday bars are checked against the calendar's **extended** hours by
//! default, because IB data is fetched with `useRTH=False` (04:00–20:00 New York for US
//! equities); pass [`SessionHours::Regular`](crate::calendar::SessionHours::Regular) for regular-hours-only data. A bar outside every
//! session of its calendar is how a time-zone error shows: the MSFT hourly file holds years of
//! bars shifted by +8/+10 hours, which land at night. Alignment accepts what IB emits: bars on
//! the exchange's wall-clock grid (`1h` bars on the hour), and a first bar inside the first
//! slot of a regular or extended session (the 09:30 bar of `useRTH=True` hourly data, the
//! 17:15 reopening bar of IDEALPRO FX).
//!
//! ```
//! use ktrdr_data::calendar::Calendar;
//! use ktrdr_data::types::{Bar, Timeframe};
//! use ktrdr_data::validate::{validate_rows, IssueKind, ValidateOptions};
//!
//! let bar = |ts, high| Bar { ts, open: 10.0, high, low: 9.0, close: 10.0, volume: 5.0 };
//! // Monday 2025-06-02, 10:00 and 11:00 New York; the second bar's high is below its close.
//! let rows = [bar(1_748_872_800, 11.0), bar(1_748_876_400, 9.5)];
//! let report = validate_rows(&rows, Calendar::Xnys, Timeframe::H1, &ValidateOptions::default())?;
//! assert_eq!(report.affected(IssueKind::OhlcInconsistent), 1);
//! assert!(report.has_problems());
//! # Ok::<(), ktrdr_data::calendar::CalendarError>(())
//! ```

mod bar_rules;
mod check;
mod issue;
mod outliers;
mod repair;
mod report;

pub use bar_rules::{
    default_hours, has_impossible_values, is_after_now, now_unix, value_defects, BarDefect,
    BarRules, MAX_PLAUSIBLE_PRICE, MAX_PLAUSIBLE_VOLUME,
};
pub use check::{validate, validate_rows};
pub use issue::{Issue, IssueExample, IssueKind, Severity, EXAMPLES_PER_KIND};
pub use repair::{repair, DroppedRow, RepairLog, RepairMismatch, RepairOptions};
pub use report::{ValidateOptions, ValidationReport};
