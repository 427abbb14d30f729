//! Explicit repair: sort, drop duplicates and bars that cannot be right; never invent a value.

use serde::{Deserialize, Serialize};

use super::{IssueKind, ValidationReport};
use crate::types::{Bar, BarSeries};

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
