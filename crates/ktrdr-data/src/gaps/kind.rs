//! What an interval without bars is, and the interval itself.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an interval without bars is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// Trading time without bars: data to fetch.
    Missing,
    /// Trading time before the instrument's first available bar (IB's head timestamp): nothing
    /// to fetch.
    BeforeHead,
    /// Closed between sessions over a Saturday or Sunday (FX: Friday 17:00 to Sunday 17:00).
    Weekend,
    /// Closed over a weekday without a session (a holiday or one-off closure), possibly with a
    /// weekend next to it (Good Friday to Monday is one holiday closure).
    Holiday,
    /// Closed between two sessions on consecutive trading days (overnight), or outside the
    /// chosen session hours.
    OutsideHours,
}

impl GapKind {
    /// Every kind, in report order.
    pub const ALL: [GapKind; 5] = [
        GapKind::Missing,
        GapKind::BeforeHead,
        GapKind::Weekend,
        GapKind::Holiday,
        GapKind::OutsideHours,
    ];

    /// The snake-case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            GapKind::Missing => "missing",
            GapKind::BeforeHead => "before_head",
            GapKind::Weekend => "weekend",
            GapKind::Holiday => "holiday",
            GapKind::OutsideHours => "outside_hours",
        }
    }

    /// True for closed time, where no bar is expected.
    pub fn is_closure(self) -> bool {
        matches!(
            self,
            GapKind::Weekend | GapKind::Holiday | GapKind::OutsideHours
        )
    }
}

impl fmt::Display for GapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One interval `[start, end)` (unix seconds) without bars, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// First second of the interval.
    pub start: i64,
    /// First second after it.
    pub end: i64,
    /// What it is.
    pub kind: GapKind,
    /// Expected bar slots inside it (0 for closures).
    pub missing_bars: usize,
}
