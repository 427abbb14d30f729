//! What the store's calls return besides bars: ranges, summaries, raw rows, save reports.

use std::path::PathBuf;

use super::parse::{RawRow, SkippedRow};
use crate::types::{BarSeries, OrderReport};
use crate::validate::has_impossible_values;

/// First and last bar of a stored series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// Timestamp of the first row (unix seconds UTC).
    pub first: i64,
    /// Timestamp of the last row.
    pub last: i64,
}

/// Summary of a stored series, true whatever the file's order: see
/// [`BarStore::series_info`](super::BarStore::series_info)(super::BarStore::series_info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    /// The file.
    pub path: PathBuf,
    /// The earliest and latest readable bar; `None` when no row is readable.
    pub range: Option<DateRange>,
    /// The real number of data rows (non-blank lines after the header), readable or not.
    pub rows: usize,
    /// Rows dated at or before the readable row above them: 0 when the file is in order.
    pub out_of_order: usize,
    /// The rows that could not be read, in file order (not part of `range`).
    pub skipped: Vec<SkippedRow>,
    /// Committed file size in bytes.
    pub bytes: u64,
}

/// The rows of a file as they stand, in file order.
#[derive(Debug, Clone)]
pub struct RawSeries {
    /// The file.
    pub path: PathBuf,
    /// The readable rows in file order, with their line numbers.
    pub rows: Vec<RawRow>,
    /// The rows that could not be read (empty or non-numeric cells, ...), in file order.
    pub skipped: Vec<SkippedRow>,
}

impl RawSeries {
    /// Sorts the readable rows, keeps one row per timestamp as a load does
    /// ([`kept_duplicate`](crate::types::kept_duplicate)) and reports what had to change;
    /// skipped rows are left out.
    pub fn into_series(self) -> (BarSeries, OrderReport) {
        BarSeries::from_unordered_keeping(
            self.rows.into_iter().map(|r| r.bar).collect(),
            has_impossible_values,
        )
    }
}

/// What [`BarStore::merge_and_save`](super::BarStore::merge_and_save) did to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveAction {
    /// The file did not exist and was written.
    Created,
    /// The new bars only extended the series and were appended.
    Appended,
    /// The file was rewritten (new bars inside the stored range, or a non-canonical file).
    Rewritten,
    /// Nothing to write: every new bar was already stored, identically.
    Unchanged,
}

/// The outcome of [`BarStore::merge_and_save`](super::BarStore::merge_and_save); every count is real.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveReport {
    /// The file.
    pub path: PathBuf,
    /// How it was written.
    pub action: SaveAction,
    /// New bars at timestamps not stored before.
    pub added: usize,
    /// Stored bars replaced by a new bar with different values.
    pub replaced: usize,
    /// New bars identical to the stored ones.
    pub unchanged: usize,
    /// Bars in the file afterwards.
    pub total: usize,
    /// Bytes of an earlier writer's unfinished append that were rolled back first.
    pub rolled_back_bytes: u64,
}
