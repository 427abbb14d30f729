//! The options of a validation run and the report it produces.

use serde::{Deserialize, Serialize};

use super::{Issue, IssueKind, Severity};
use crate::calendar::{Calendar, SessionHours};
use crate::types::Timeframe;

/// Options of [`validate_rows`](super::validate_rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Session hours to check against; default: [`default_hours`](super::default_hours)
    /// (extended for intraday bars, regular for daily and weekly bars).
    pub hours: Option<SessionHours>,
    /// The present (unix seconds), after which no bar can start; default: the system clock.
    pub now: Option<i64>,
}

/// What [`validate_rows`](super::validate_rows) found.
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
    pub(super) flags: Vec<u16>,
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

    /// The kinds found on the row at `row` (its position in the rows validated), in
    /// [`IssueKind::ALL`] order; none for a row out of range.
    pub fn kinds_of_row(&self, row: usize) -> impl Iterator<Item = IssueKind> + '_ {
        let flags = self.flags.get(row).copied().unwrap_or(0);
        IssueKind::ALL
            .into_iter()
            .filter(move |kind| flags & kind.bit() != 0)
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
