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
//! equities); pass [`SessionHours::Regular`] for regular-hours-only data. A bar outside every
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

mod outliers;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, CalendarError, Closed, SessionHours};
use crate::gaps::grid::{self, LocalSession};
use crate::types::{format_timestamp_human, Bar, BarSeries, Timeframe};

/// How many examples a report keeps per issue kind.
pub const EXAMPLES_PER_KIND: usize = 5;

/// How bad an issue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing, not a defect (zero-volume bars).
    Info,
    /// Suspicious: probably wrong, but a person should look (outliers, off-session bars).
    Warning,
    /// Impossible data or a broken file order.
    Error,
}

/// A kind of defect. Each bar counts at most once per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A price or the volume is NaN or infinite.
    NonFinite,
    /// A price is zero or negative.
    NonPositivePrice,
    /// `high < max(open, close)`, `low > min(open, close)` or `high < low`.
    OhlcInconsistent,
    /// Volume below zero (IB uses -1 for "no volume reported").
    NegativeVolume,
    /// A row whose timestamp another row also has; every row of the timestamp but the one
    /// kept is flagged (the kept one is the last, or the last possible one when later rows are
    /// impossible).
    Duplicate,
    /// A row earlier in time than a row before it in the file.
    Unsorted,
    /// A bar in no session of the calendar (for the checked session hours).
    OutsideSession,
    /// A bar inside a session but off the timeframe's grid.
    Misaligned,
    /// A close-to-close log return far outside its rolling median ± MAD band.
    Outlier,
    /// A bar with zero volume (normal for FX quotes and quiet extended hours).
    ZeroVolume,
}

impl IssueKind {
    /// Every kind, in report order.
    pub const ALL: [IssueKind; 10] = [
        IssueKind::NonFinite,
        IssueKind::NonPositivePrice,
        IssueKind::OhlcInconsistent,
        IssueKind::NegativeVolume,
        IssueKind::Duplicate,
        IssueKind::Unsorted,
        IssueKind::OutsideSession,
        IssueKind::Misaligned,
        IssueKind::Outlier,
        IssueKind::ZeroVolume,
    ];

    /// How bad this kind is.
    pub fn severity(self) -> Severity {
        match self {
            IssueKind::NonFinite
            | IssueKind::NonPositivePrice
            | IssueKind::OhlcInconsistent
            | IssueKind::Duplicate
            | IssueKind::Unsorted => Severity::Error,
            IssueKind::NegativeVolume
            | IssueKind::OutsideSession
            | IssueKind::Misaligned
            | IssueKind::Outlier => Severity::Warning,
            IssueKind::ZeroVolume => Severity::Info,
        }
    }

    /// The snake-case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::NonFinite => "non_finite",
            IssueKind::NonPositivePrice => "non_positive_price",
            IssueKind::OhlcInconsistent => "ohlc_inconsistent",
            IssueKind::NegativeVolume => "negative_volume",
            IssueKind::Duplicate => "duplicate",
            IssueKind::Unsorted => "unsorted",
            IssueKind::OutsideSession => "outside_session",
            IssueKind::Misaligned => "misaligned",
            IssueKind::Outlier => "outlier",
            IssueKind::ZeroVolume => "zero_volume",
        }
    }

    /// Bars of this kind cannot be right whatever the context; [`repair`] always drops them.
    pub fn is_impossible(self) -> bool {
        matches!(
            self,
            IssueKind::NonFinite | IssueKind::NonPositivePrice | IssueKind::OhlcInconsistent
        )
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One affected bar, as an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueExample {
    /// Position of the row in the input (file order, from 0).
    pub row: usize,
    /// The bar as given.
    pub bar: Bar,
    /// What is wrong with it, in words.
    pub detail: String,
}

/// All bars affected by one kind of issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// The kind.
    pub kind: IssueKind,
    /// Its severity.
    pub severity: Severity,
    /// Number of bars affected.
    pub affected: usize,
    /// The first few affected bars.
    pub examples: Vec<IssueExample>,
}

/// Options of [`validate_rows`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Session hours to check against; default: extended for intraday bars (IB data is
    /// fetched with `useRTH=False`), regular for daily and weekly bars.
    pub hours: Option<SessionHours>,
}

/// What [`validate_rows`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// The calendar bars were checked against.
    pub calendar: Calendar,
    /// The bar size.
    pub timeframe: Timeframe,
    /// The session hours bars were checked against.
    pub hours: SessionHours,
    /// Rows checked.
    pub rows: usize,
    /// Bars dated outside the calendar's coverage, which could not be session-checked.
    pub unchecked_bars: usize,
    /// The kinds found, in [`IssueKind::ALL`] order; kinds with no affected bar are left out.
    pub issues: Vec<Issue>,
    /// Per-row issue bits, for [`repair`].
    #[serde(skip)]
    flags: Vec<u16>,
}

impl ValidationReport {
    /// The issue of one kind, if any bar has it.
    pub fn issue(&self, kind: IssueKind) -> Option<&Issue> {
        self.issues.iter().find(|i| i.kind == kind)
    }

    /// Bars affected by `kind`.
    pub fn affected(&self, kind: IssueKind) -> usize {
        self.issue(kind).map_or(0, |i| i.affected)
    }

    /// True when an issue of severity warning or error was found.
    pub fn has_problems(&self) -> bool {
        self.issues.iter().any(|i| i.severity >= Severity::Warning)
    }

    /// Distinct bars with at least one warning or error.
    pub fn problem_bars(&self) -> usize {
        let mask = IssueKind::ALL
            .iter()
            .filter(|k| k.severity() >= Severity::Warning)
            .fold(0u16, |m, k| m | k.bit());
        self.flags.iter().filter(|f| *f & mask != 0).count()
    }
}

/// Validates a series (already sorted and unique, so order checks find nothing).
pub fn validate(
    series: &BarSeries,
    calendar: Calendar,
    tf: Timeframe,
    opts: &ValidateOptions,
) -> Result<ValidationReport, CalendarError> {
    let rows: Vec<Bar> = series.iter().collect();
    validate_rows(&rows, calendar, tf, opts)
}

/// Validates rows as they stand in a file (any order, duplicates allowed).
pub fn validate_rows(
    rows: &[Bar],
    calendar: Calendar,
    tf: Timeframe,
    opts: &ValidateOptions,
) -> Result<ValidationReport, CalendarError> {
    let hours = opts.hours.unwrap_or(if tf.is_intraday() {
        SessionHours::Extended
    } else {
        SessionHours::Regular
    });
    let mut v = Validator {
        rows,
        flags: vec![0; rows.len()],
        examples: vec![Vec::new(); IssueKind::ALL.len()],
    };
    v.check_values();
    let order = v.check_order();
    let unchecked_bars = v.check_sessions(&order, calendar, tf, hours)?;
    v.check_outliers(&order);
    let Validator {
        flags, examples, ..
    } = v;
    let issues = IssueKind::ALL
        .iter()
        .zip(examples)
        .filter_map(|(&kind, examples)| {
            let affected = flags.iter().filter(|f| *f & kind.bit() != 0).count();
            (affected > 0).then_some(Issue {
                kind,
                severity: kind.severity(),
                affected,
                examples,
            })
        })
        .collect();
    Ok(ValidationReport {
        calendar,
        timeframe: tf,
        hours,
        rows: rows.len(),
        unchecked_bars,
        issues,
        flags,
    })
}

struct Validator<'a> {
    rows: &'a [Bar],
    flags: Vec<u16>,
    examples: Vec<Vec<IssueExample>>,
}

impl Validator<'_> {
    fn flag(&mut self, row: usize, kind: IssueKind, detail: impl FnOnce() -> String) {
        let f = &mut self.flags[row];
        if *f & kind.bit() != 0 {
            return;
        }
        *f |= kind.bit();
        let ex = &mut self.examples[kind as usize];
        if ex.len() < EXAMPLES_PER_KIND {
            ex.push(IssueExample {
                row,
                bar: self.rows[row],
                detail: detail(),
            });
        }
    }

    fn check_values(&mut self) {
        for (i, b) in self.rows.iter().enumerate() {
            let prices = [b.open, b.high, b.low, b.close];
            if prices.iter().chain([&b.volume]).any(|v| !v.is_finite()) {
                self.flag(i, IssueKind::NonFinite, || {
                    "a value is NaN or infinite".into()
                });
                continue;
            }
            if prices.iter().any(|p| *p <= 0.0) {
                self.flag(i, IssueKind::NonPositivePrice, || {
                    "a price is zero or negative".into()
                });
            }
            let (hi, lo) = (b.open.max(b.close), b.open.min(b.close));
            if b.high < hi || b.low > lo || b.high < b.low {
                self.flag(i, IssueKind::OhlcInconsistent, || {
                    if b.high < b.low {
                        format!("high {} < low {}", b.high, b.low)
                    } else if b.high < hi {
                        format!("high {} < max(open, close) {hi}", b.high)
                    } else {
                        format!("low {} > min(open, close) {lo}", b.low)
                    }
                });
            }
            if b.volume < 0.0 {
                self.flag(i, IssueKind::NegativeVolume, || {
                    format!("volume {}", b.volume)
                });
            } else if b.volume == 0.0 {
                self.flag(i, IssueKind::ZeroVolume, || "volume 0".into());
            }
        }
    }

    /// Flags unsorted and duplicate rows; returns the rows in time order with duplicates
    /// removed. The later row wins, as in the store's merge, unless it is impossible (checked
    /// before this) and an earlier one is not: repair must not trade a good bar for a bad one.
    fn check_order(&mut self) -> Vec<usize> {
        let mut max_ts = i64::MIN;
        for i in 0..self.rows.len() {
            let ts = self.rows[i].ts;
            if ts < max_ts {
                self.flag(i, IssueKind::Unsorted, || {
                    format!("comes after {} in the file", format_timestamp_human(max_ts))
                });
            }
            max_ts = max_ts.max(ts);
        }
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by_key(|&i| self.rows[i].ts); // stable: file order among equal timestamps
        let mut unique: Vec<usize> = Vec::with_capacity(order.len());
        for same in order.chunk_by(|&a, &b| self.rows[a].ts == self.rows[b].ts) {
            // The common case, one row per timestamp, costs no flag lookups.
            if let [only] = same {
                unique.push(*only);
                continue;
            }
            let possible = |i: &&usize| !self.is_impossible(**i);
            let winner = *same
                .iter()
                .rev()
                .find(possible)
                .unwrap_or(&same[same.len() - 1]);
            for &i in same.iter().filter(|&&i| i != winner) {
                let detail = if i < winner {
                    "duplicate timestamp; a later row with it is kept"
                } else {
                    "duplicate timestamp; an earlier row with it is kept (this one is impossible)"
                };
                self.flag(i, IssueKind::Duplicate, || detail.into());
            }
            unique.push(winner);
        }
        unique
    }

    fn is_impossible(&self, row: usize) -> bool {
        IssueKind::ALL
            .iter()
            .any(|k| k.is_impossible() && self.flags[row] & k.bit() != 0)
    }

    /// Session and grid checks; returns the number of bars the calendar does not cover.
    fn check_sessions(
        &mut self,
        order: &[usize],
        calendar: Calendar,
        tf: Timeframe,
        hours: SessionHours,
    ) -> Result<usize, CalendarError> {
        let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
            return Ok(0);
        };
        let (from, to) = (self.rows[first].ts, self.rows[last].ts + 1);
        let sessions = grid::sessions_around(calendar, from, to, hours)?;
        // IB's regular-hours first bar (09:30) is a valid anchor even in extended-hours data.
        let regular = match hours {
            SessionHours::Extended if tf.is_intraday() => {
                grid::sessions_around(calendar, from, to, SessionHours::Regular)?
            }
            _ => Vec::new(),
        };
        let coverage = calendar.coverage();
        let step = tf.seconds();
        let mut unchecked = 0;
        for &i in order {
            let ts = self.rows[i].ts;
            let covered = grid::utc_date(ts).is_some_and(|d| coverage.contains(&d));
            if !covered {
                unchecked += 1;
                continue;
            }
            match tf {
                Timeframe::D1 | Timeframe::W1 => {
                    self.check_day_bar(i, ts, tf, &sessions, calendar, hours)
                }
                _ => match grid::containing(&sessions, ts) {
                    None => self.flag(i, IssueKind::OutsideSession, || {
                        closed_detail(calendar, ts, hours)
                    }),
                    Some(s) => {
                        let aligned = grid::on_grid(ts, sessions[s].offset, step)
                            || in_first_slot(&sessions[s], ts, step)
                            || grid::containing(&regular, ts)
                                .is_some_and(|r| in_first_slot(&regular[r], ts, step));
                        if !aligned {
                            self.flag(i, IssueKind::Misaligned, || {
                                format!(
                                    "not on the {tf} grid of the session {}",
                                    sessions[s].session.date
                                )
                            });
                        }
                    }
                },
            }
        }
        Ok(unchecked)
    }

    fn check_day_bar(
        &mut self,
        i: usize,
        ts: i64,
        tf: Timeframe,
        sessions: &[LocalSession],
        calendar: Calendar,
        hours: SessionHours,
    ) {
        let Some(date) = grid::utc_date(ts) else {
            return;
        };
        let has_session = match tf {
            Timeframe::W1 => {
                let monday = date.week(chrono::Weekday::Mon);
                let (a, b) = (monday.first_day(), monday.last_day());
                sessions
                    .iter()
                    .any(|s| a <= s.session.date && s.session.date <= b)
            }
            _ => sessions
                .binary_search_by_key(&date, |s| s.session.date)
                .is_ok(),
        };
        if !has_session {
            self.flag(i, IssueKind::OutsideSession, || {
                format!(
                    "{date} has no {} session ({})",
                    calendar,
                    closed_detail(calendar, ts, hours)
                )
            });
        } else if ts != grid::midnight(date) {
            self.flag(i, IssueKind::Misaligned, || {
                format!("a {tf} bar should sit at 00:00 UTC of its date")
            });
        }
    }

    fn check_outliers(&mut self, order: &[usize]) {
        // Returns between consecutive bars with usable closes (impossible bars would make
        // their neighbours look like outliers).
        let bad = IssueKind::ALL
            .iter()
            .filter(|k| k.is_impossible())
            .fold(0u16, |m, k| m | k.bit());
        let usable: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| self.flags[i] & bad == 0)
            .collect();
        let returns: Vec<f64> = usable
            .windows(2)
            .map(|w| (self.rows[w[1]].close / self.rows[w[0]].close).ln())
            .collect();
        for o in outliers::find(&returns) {
            let (prev, row) = (usable[o.index], usable[o.index + 1]);
            let r = returns[o.index];
            let from = self.rows[prev].close;
            self.flag(row, IssueKind::Outlier, || {
                format!(
                    "close {} after {from}: log return {r:+.4}, {:.1} robust σ from the rolling median",
                    self.rows[row].close, o.score
                )
            });
        }
    }
}

fn in_first_slot(s: &LocalSession, ts: i64, step: i64) -> bool {
    ts < grid::next_grid_point(s.session.open, s.offset, step)
}

fn closed_detail(calendar: Calendar, ts: i64, hours: SessionHours) -> String {
    let why = match calendar.closure_kind(ts, hours) {
        Ok(Some(Closed::Weekend)) => "weekend",
        Ok(Some(Closed::Holiday)) => "holiday",
        Ok(Some(Closed::OutsideHours)) => "outside hours",
        Ok(None) | Err(_) => "closed",
    };
    let local = chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| {
            t.with_timezone(&calendar.time_zone())
                .format("%a %Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default();
    format!("{calendar} is closed at {local} ({why}, {hours} hours)")
}

/// What [`repair`] may drop besides the always-dropped impossible bars and duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairOptions {
    /// Drop bars outside every session (e.g. shifted by a time-zone error).
    pub drop_outside_session: bool,
    /// Drop bars off the timeframe's grid.
    pub drop_misaligned: bool,
    /// Drop bars with negative volume.
    pub drop_negative_volume: bool,
}

/// One row [`repair`] left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedRow {
    /// Position in the input.
    pub row: usize,
    /// The bar.
    pub bar: Bar,
    /// Why (the first matching kind in [`IssueKind::ALL`] order).
    pub reason: IssueKind,
}

/// What [`repair`] changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepairLog {
    /// Rows given.
    pub input_rows: usize,
    /// Bars in the repaired series.
    pub output_bars: usize,
    /// Rows that were out of order and were moved by sorting.
    pub reordered: usize,
    /// Every row left out, in input order.
    pub dropped: Vec<DroppedRow>,
}

impl RepairLog {
    /// Rows dropped for `kind`.
    pub fn dropped_for(&self, kind: IssueKind) -> usize {
        self.dropped.iter().filter(|d| d.reason == kind).count()
    }
}

/// The report does not describe the rows given to [`repair`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the validation report covers {report_rows} rows but {rows} were given to repair; validate these rows first")]
pub struct RepairMismatch {
    /// Rows in the report.
    pub report_rows: usize,
    /// Rows given.
    pub rows: usize,
}

/// Builds a clean series from `rows` and their report: sorted, one bar per timestamp (the
/// later row wins unless it is impossible and an earlier one is not), without impossible
/// bars, and without the optional kinds `opts` names. Values are never changed and bars are
/// never invented.
pub fn repair(
    rows: &[Bar],
    report: &ValidationReport,
    opts: RepairOptions,
) -> Result<(BarSeries, RepairLog), RepairMismatch> {
    if report.flags.len() != rows.len() {
        return Err(RepairMismatch {
            report_rows: report.flags.len(),
            rows: rows.len(),
        });
    }
    let dropping = |k: IssueKind| {
        k.is_impossible()
            || k == IssueKind::Duplicate
            || (opts.drop_outside_session && k == IssueKind::OutsideSession)
            || (opts.drop_misaligned && k == IssueKind::Misaligned)
            || (opts.drop_negative_volume && k == IssueKind::NegativeVolume)
    };
    let mut log = RepairLog {
        input_rows: rows.len(),
        ..RepairLog::default()
    };
    let mut kept = Vec::with_capacity(rows.len());
    for (row, (bar, &flags)) in rows.iter().zip(&report.flags).enumerate() {
        match IssueKind::ALL
            .into_iter()
            .find(|&k| flags & k.bit() != 0 && dropping(k))
        {
            Some(reason) => log.dropped.push(DroppedRow {
                row,
                bar: *bar,
                reason,
            }),
            None => {
                if flags & IssueKind::Unsorted.bit() != 0 {
                    log.reordered += 1;
                }
                kept.push(*bar);
            }
        }
    }
    // Duplicates were dropped above, so this only sorts.
    let (series, _) = BarSeries::from_unordered(kept);
    log.output_bars = series.len();
    Ok((series, log))
}
