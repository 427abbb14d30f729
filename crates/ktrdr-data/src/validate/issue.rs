//! What validation reports: kinds of defect, their severity, affected bars with examples.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::Bar;

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
    /// A finite value no market has (a price above 1e9, a volume above 1e15: a corrupt cell).
    Implausible,
    /// A price is zero or negative.
    NonPositivePrice,
    /// `high < max(open, close)`, `low > min(open, close)` or `high < low`.
    OhlcInconsistent,
    /// A bar dated after the present (a corrupt or mistyped date such as 9999-12-31).
    AfterNow,
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
    pub const ALL: [IssueKind; 12] = [
        IssueKind::NonFinite,
        IssueKind::Implausible,
        IssueKind::NonPositivePrice,
        IssueKind::OhlcInconsistent,
        IssueKind::AfterNow,
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
            | IssueKind::Implausible
            | IssueKind::NonPositivePrice
            | IssueKind::OhlcInconsistent
            | IssueKind::AfterNow
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
            IssueKind::Implausible => "implausible",
            IssueKind::NonPositivePrice => "non_positive_price",
            IssueKind::OhlcInconsistent => "ohlc_inconsistent",
            IssueKind::AfterNow => "after_now",
            IssueKind::NegativeVolume => "negative_volume",
            IssueKind::Duplicate => "duplicate",
            IssueKind::Unsorted => "unsorted",
            IssueKind::OutsideSession => "outside_session",
            IssueKind::Misaligned => "misaligned",
            IssueKind::Outlier => "outlier",
            IssueKind::ZeroVolume => "zero_volume",
        }
    }

    /// Bars of this kind cannot be right whatever the context; [`repair`](super::repair)
    /// always drops them.
    pub fn is_impossible(self) -> bool {
        matches!(
            self,
            IssueKind::NonFinite
                | IssueKind::Implausible
                | IssueKind::NonPositivePrice
                | IssueKind::OhlcInconsistent
                | IssueKind::AfterNow
        )
    }

    pub(super) fn bit(self) -> u16 {
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
